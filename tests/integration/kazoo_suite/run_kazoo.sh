#!/bin/bash
# run_kazoo.sh: kazoo's own test suite (Debian python3-kazoo, kazoo/tests) against ternd.
#
# Design note.  kazoo's harness (kazoo/testing/common.py) starts its servers by running
# `java -cp $ZOOKEEPER_CLASSPATH -D... org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg`.
# With --server tern this directory goes first on PATH, so our `java` wrapper turns that command
# into `ternd zoo.cfg` (the -D flags travel in SERVER_JVMFLAGS/JVMFLAGS).  With --server zookeeper
# the real java runs Apache ZooKeeper, which is how expected_pass.txt was recorded (--record).
# The pass criterion: every test listed in expected_pass.txt (the tests that pass against Apache
# ZooKeeper 3.8 standalone) must pass against ternd.  Tests outside the list may fail (they need a
# 3-server ensemble, reconfig, or read-only mode) and are reported but do not fail the run.
# --cluster-size 3 has the harness start a 3-server ensemble (server.N lines, myid; each server started
# through the same wrapper) and checks against expected_pass_3.txt, recorded against a 3-server
# Apache ZooKeeper 3.8 ensemble.
# Bounds: pytest-timeout per test (--timeout 30, 3x the slowest test on ZooKeeper, when the plugin exists) and an overall deadline
# after which the whole process group (pytest and the servers it started) is killed by its id.
#
# usage: run_kazoo.sh [--server tern|zookeeper] [--ternd PATH] [--build-root DIR]
#                     [--record FILE] [--port-offset N] [--deadline SECS] [-k EXPR]
#                     [--cluster-size 1|3]
# exit: 0 all expected passed, 1 an expected test failed or did not run, 77 ternd not built.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
SERVER=tern TERND=${TERND:-} BUILD_ROOT="" RECORD="" PORT_OFFSET="" DEADLINE=900 KEXPR="" CLUSTER_SIZE=1

while [ $# -gt 0 ]; do
	case "$1" in
	--server) SERVER=$2; shift ;;
	--ternd) TERND=$2; shift ;;
	--build-root) BUILD_ROOT=$2; shift ;;
	--record) RECORD=$2; shift ;;
	--port-offset) PORT_OFFSET=$2; shift ;;
	--deadline) DEADLINE=$2; shift ;;
	-k) KEXPR=$2; shift ;;
	--cluster-size) CLUSTER_SIZE=$2; shift ;;
	-h|--help) sed -n '2,21p' "$0"; exit 0 ;;
	*) echo "run_kazoo.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

case "$CLUSTER_SIZE" in
1) EXPECTED=$HERE/expected_pass.txt ;;
3) EXPECTED=$HERE/expected_pass_3.txt ;;
*) echo "run_kazoo.sh: --cluster-size must be 1 or 3 (an expected-pass list exists for those)" >&2; exit 2 ;;
esac

if ! /usr/bin/python3 -c 'import kazoo.tests, pytest, mock, objgraph' 2>/dev/null; then
	echo "run_kazoo.sh: needs python3-kazoo, python3-pytest, python3-mock, python3-objgraph" >&2
	exit 77
fi
case "$SERVER" in
tern)
	if [ -z "$TERND" ]; then
		# under meson (--build-root) only that build's ternd counts
		if [ -n "$BUILD_ROOT" ]; then
			TERND=$BUILD_ROOT/mgmt/ternd
		else
			for f in "$ROOT"/build*/mgmt/ternd; do
				case "$f" in *asan*|*fuzz*) continue ;; esac
				[ -x "$f" ] || continue
				if [ -z "$TERND" ] || [ "$f" -nt "$TERND" ]; then TERND=$f; fi # newest
			done
		fi
	fi
	if [ -z "$TERND" ] || [ ! -x "$TERND" ]; then
		echo "run_kazoo.sh: ternd is not built; skipping" >&2
		exit 77
	fi
	TERND=$(cd "$(dirname "$TERND")" && pwd)/$(basename "$TERND") # pytest runs elsewhere
	export TERND
	export PATH="$HERE:$PATH"
	;;
zookeeper) ;;
*) echo "run_kazoo.sh: --server must be tern or zookeeper" >&2; exit 2 ;;
esac

if [ -z "$PORT_OFFSET" ]; then
	# several build trees may run this at once: spread them over 27000..28990 by build root
	h=$(printf '%s' "${BUILD_ROOT:-$ROOT}" | cksum | cut -d' ' -f1)
	PORT_OFFSET=$((27000 + (h % 200) * 10))
fi

WORK=$(mktemp -d /tmp/kazoo-suite.XXXXXX)
PYPID=""
cleanup() {
	# whatever is left of pytest's process group: servers a killed harness never stopped
	[ -n "$PYPID" ] && kill -KILL -- "-$PYPID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ZOOKEEPER_CLASSPATH=/etc/zookeeper/conf:/usr/share/java/zookeeper.jar
export ZOOKEEPER_VERSION=3.8.0 ZOOKEEPER_CLUSTER_SIZE=$CLUSTER_SIZE ZOOKEEPER_PORT_OFFSET=$PORT_OFFSET
TIMEOUT_OPT=()
/usr/bin/python3 -c 'import pytest_timeout' 2>/dev/null && TIMEOUT_OPT=(--timeout 30)
KOPT=()
[ -n "$KEXPR" ] && KOPT=(-k "$KEXPR")

# Fail fast if ternd cannot even serve: otherwise every test waits out its connect timeout.
preflight() {
	local d=$WORK/preflight port=$((PORT_OFFSET + 7)) pid i
	mkdir -p "$d/data"
	printf 'tickTime=2000\ndataDir=%s\nclientPort=%s\n4lw.commands.whitelist=*\n' "$d/data" "$port" >"$d/zoo.cfg"
	"$TERND" "$d/zoo.cfg" >"$d/log" 2>&1 &
	pid=$!
	for i in $(seq 1 40); do
		if [ "$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf ruok >&3 &&
			cat <&3" 2>/dev/null)" = imok ]; then
			kill "$pid"; wait "$pid" 2>/dev/null
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.25
	done
	kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	echo "run_kazoo.sh: $TERND did not answer ruok on port $port within 10s:" >&2
	tail -5 "$d/log" >&2
	return 1
}
if [ "$SERVER" = tern ] && ! preflight; then
	echo "0 passed, $(grep -vc '^#' "$EXPECTED") failed (ternd did not start)"
	exit 1
fi

echo "run_kazoo.sh: kazoo suite against $SERVER${TERND:+ ($TERND)} x$CLUSTER_SIZE, ports from $PORT_OFFSET," \
	"deadline ${DEADLINE}s" >&2
T0=$SECONDS
# setsid: pytest leads its own process group, so the deadline can stop it and its servers
(cd "$WORK" && exec setsid /usr/bin/python3 -m pytest -p no:cacheprovider --pyargs kazoo.tests \
	-q -rfE "${TIMEOUT_OPT[@]}" "${KOPT[@]}" --junitxml="$WORK/junit.xml" \
	>"$WORK/pytest.log" 2>&1) &
PYPID=$!
while kill -0 "$PYPID" 2>/dev/null; do
	if [ $((SECONDS - T0)) -ge "$DEADLINE" ]; then
		echo "run_kazoo.sh: deadline of ${DEADLINE}s reached, stopping pytest" >&2
		kill -TERM -- "-$PYPID" 2>/dev/null
		sleep 5
		kill -KILL -- "-$PYPID" 2>/dev/null
		break
	fi
	sleep 1
done
wait "$PYPID" 2>/dev/null
ELAPSED=$((SECONDS - T0))
# keep pytest's full output (tracebacks, server logs) for whoever chases a failure
SUFFIX=""
[ "$CLUSTER_SIZE" = 1 ] || SUFFIX=_$CLUSTER_SIZE
LOG=/tmp/kazoo_suite$SUFFIX-pytest.$$.log
[ -n "$BUILD_ROOT" ] && [ -d "$BUILD_ROOT/meson-logs" ] && LOG=$BUILD_ROOT/meson-logs/kazoo_suite$SUFFIX-pytest.log
cp "$WORK/pytest.log" "$LOG" 2>/dev/null && echo "run_kazoo.sh: full pytest output in $LOG" >&2
grep -E '^(FAILED|ERROR) |[0-9]+ (passed|failed)' "$WORK/pytest.log" | cut -c1-160 >&2

/usr/bin/python3 - "$WORK/junit.xml" "$EXPECTED" "$RECORD" "$SERVER" "$ELAPSED" "$KEXPR" "$CLUSTER_SIZE" <<'PY'
# Compare junit results with the expected-pass list; or record the passes as the new list.
import os, sys, time
import xml.etree.ElementTree as ET
junit, expected_path, record, server, elapsed, kexpr, size = sys.argv[1:8]
status = {}
if os.path.exists(junit):
    for tc in ET.parse(junit).getroot().iter("testcase"):
        tid = "%s::%s" % (tc.get("classname"), tc.get("name"))
        st = "passed"
        for ch in tc:
            if ch.tag in ("failure", "error"):
                st = "failed"
            elif ch.tag == "skipped" and st == "passed":
                st = "skipped"
        status[tid] = st
npass = sum(1 for s in status.values() if s == "passed")
nfail = sum(1 for s in status.values() if s == "failed")
nskip = sum(1 for s in status.values() if s == "skipped")
print("kazoo suite vs %s: %d passed, %d failed, %d skipped in %ss"
      % (server, npass, nfail, nskip, elapsed))
if record:
    with open(record, "w") as f:
        f.write("# kazoo tests that pass against Apache ZooKeeper 3.8.0 %s\n"
                "# (python3-kazoo's kazoo/tests, ZOOKEEPER_CLUSTER_SIZE=%s); recorded %s by\n"
                "# tests/integration/kazoo_suite/run_kazoo.sh --server zookeeper%s --record\n"
                % ("standalone" if size == "1" else "with a %s-server ensemble" % size, size,
                   time.strftime("%Y-%m-%d"), "" if size == "1" else " --cluster-size " + size))
        for tid in sorted(t for t, s in status.items() if s == "passed"):
            f.write(tid + "\n")
    print("recorded %d passing tests in %s" % (npass, record))
    sys.exit(0 if npass else 1)
expected = [l.strip() for l in open(expected_path) if l.strip() and not l.startswith("#")]
if kexpr:  # a -k run checks only the expected tests it selected
    expected = [t for t in expected if t in status]
bad = [t for t in expected if status.get(t) != "passed"]
for t in bad:
    print("EXPECTED-PASS %s: %s" % (status.get(t, "did not run"), t))
extra = sorted(t for t, s in status.items() if s == "passed" and t not in expected)
if extra:
    print("also passing (not in the expected list): %d" % len(extra))
print("%d passed, %d failed (of %d expected to pass)"
      % (len(expected) - len(bad), len(bad), len(expected)))
sys.exit(1 if bad or not expected else 0)
PY
