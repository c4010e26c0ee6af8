#!/bin/bash
# compare.sh: the same tern-bench workloads against Apache ZooKeeper and ternd, side by side.
#
# Design note.  The two servers run one after the other (never together) on this machine, with the
# same durability: forceSync=yes, fresh dataDir/dataLogDir under one work directory (so the same
# filesystem), standalone.  ZooKeeper runs in a JVM with -Xmx1g.  Each server gets:
#   write   closed loop, setData of 100 B values, 8 sessions x 32 outstanding
#   read    closed loop, getData
#   mixed   closed loop, 90% getData / 10% setData
#   open    open loop setData at half of ZooKeeper's saturated write rate (p99 from intended time)
#   rss     VmRSS before/after creating N znodes of 100 B, scaled to per 100k znodes
# CPU seconds per 1000 ops come from utime+stime in /proc/PID/stat before/after each workload,
# divided by every request the workload completed (setup and warmup included).  The load
# generator is tern-bench (tools/tern-bench.c): one epoll thread, so it leaves the server most of
# the machine; its own CPU time is measured too and printed under the table.
# Each workload uses its own key prefix, so every run creates its keys fresh on both servers.
# Every process is stopped by its pid; every step is bounded by `timeout`.
#
# usage: tests/bench/compare.sh [--quick] [--ternd PATH] [--tern-bench PATH] [--keep]
# (about 2 minutes with the defaults, under 1 minute with --quick)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WARMUP=2 DURATION=10 RSS_KEYS=100000 SESSIONS=8 OUTSTANDING=32
TERND=${TERND:-} BENCH=${TERN_BENCH:-} KEEP=0
ZK_PORT=${ZK_PORT:-23181} TERN_PORT=${TERN_PORT:-23182}
ZK_CP=/etc/zookeeper/conf:/usr/share/java/zookeeper.jar

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) WARMUP=1 DURATION=3 ;;
	--ternd) TERND=$2; shift ;;
	--tern-bench) BENCH=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

newest() { # newest existing file among the arguments, sanitizer builds left out (too slow)
	local best="" f
	for f in "$@"; do
		[ -x "$f" ] || continue
		case "$f" in *asan*|*san/*|*fuzz*) continue ;; esac
		if [ -z "$best" ] || [ "$f" -nt "$best" ]; then best=$f; fi
	done
	echo "$best"
}
[ -n "$BENCH" ] || BENCH=$(newest "$ROOT"/build*/tools/tern-bench)
[ -n "$TERND" ] || TERND=$(newest "$ROOT"/build*/mgmt/ternd)
if [ -z "$BENCH" ] || [ ! -x "$BENCH" ]; then
	echo "compare.sh: tern-bench not built (ninja -C build tools/tern-bench)" >&2
	exit 1
fi

if ! dpkg -s zookeeper >/dev/null 2>&1 || [ ! -e /usr/share/java/zookeeper.jar ]; then
	echo "compare.sh: installing Debian's zookeeper package" >&2
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y zookeeper >/dev/null || exit 1
fi

WORK=$(mktemp -d /tmp/tern-compare.XXXXXX)
RES=$WORK/results
SERVER_PID=""
cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	if [ "$KEEP" = 1 ]; then echo "compare.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fourlw() { # fourlw PORT WORD -> prints the reply
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf $2 >&3 && cat <&3" 2>/dev/null
}

write_cfg() { # write_cfg NAME PORT
	mkdir -p "$WORK/$1/data" "$WORK/$1/log"
	cat >"$WORK/$1/zoo.cfg" <<EOF
tickTime=2000
dataDir=$WORK/$1/data
dataLogDir=$WORK/$1/log
clientPort=$2
maxClientCnxns=0
forceSync=yes
admin.enableServer=false
4lw.commands.whitelist=*
EOF
}

start_server() { # start_server zk|tern PORT ; sets SERVER_PID, returns 1 if it never served
	local name=$1 port=$2 i
	write_cfg "$name" "$port"
	if [ "$name" = zk ]; then
		java -Xmx1g -Dzookeeper.forceSync=yes -cp "$ZK_CP" \
			org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/zk/zoo.cfg" \
			>"$WORK/zk/server.log" 2>&1 &
	else
		SERVER_JVMFLAGS="-Dzookeeper.forceSync=yes" "$TERND" "$WORK/tern/zoo.cfg" \
			>"$WORK/tern/server.log" 2>&1 &
	fi
	SERVER_PID=$!
	for i in $(seq 1 60); do
		# ZooKeeper says imok before its database is loaded: wait for srvr too
		if [ "$(fourlw "$port" ruok)" = imok ] &&
			! fourlw "$port" srvr | grep -q "not currently serving"; then
			return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.5
	done
	echo "compare.sh: $name did not answer ruok on port $port; last log lines:" >&2
	tail -5 "$WORK/$name/server.log" >&2
	stop_server
	return 1
}

stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	kill "$SERVER_PID" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
	kill -9 "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=""
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# utime+stime of finished children of this shell, in ticks (tern-bench's own CPU)
child_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }

# bench NAME PORT LABEL tern-bench-args... : one workload, result lines appended to $RES
bench() {
	local name=$1 port=$2 label=$3 c0 c1 g0 g1 out
	shift 3
	c0=$(cpu_ticks "$SERVER_PID")
	g0=$(child_ticks)
	out=$(timeout $((WARMUP + DURATION + 120)) "$BENCH" --server "127.0.0.1:$port" \
		--sessions $SESSIONS --outstanding $OUTSTANDING --warmup $WARMUP \
		--duration $DURATION --json "$@" 2>>"$WORK/$name/bench.log")
	g1=$(child_ticks)
	c1=$(cpu_ticks "$SERVER_PID")
	if [ -z "$out" ]; then
		echo "compare.sh: $name $label: tern-bench failed (see $WORK/$name/bench.log)" >&2
		return 1
	fi
	echo "$name $label $((c1 - c0)) $((g1 - g0)) $out" >>"$RES"
	echo "  $name $label: $(echo "$out" | cut -c1-160)..." >&2
}

run_suite() { # run_suite NAME PORT ; every workload against one server
	local name=$1 port=$2 r0 r1 rate
	echo "compare.sh: $name on port $port (pid $SERVER_PID)" >&2
	bench "$name" "$port" write --op set --prefix /w --value-size 100
	bench "$name" "$port" read --op get --prefix /r --value-size 100
	bench "$name" "$port" mixed --op mixed --prefix /m --reads 90 --value-size 100
	rate=$(awk '$1 == "zk" && $2 == "write" {print $5}' "$RES" |
		timeout 10 /usr/bin/python3 -c 'import json,sys; d=[json.loads(l) for l in sys.stdin]; print(int(d[0]["ops_per_sec"]/2) if d else "")')
	if [ -n "$rate" ] && [ "$rate" -gt 0 ]; then
		bench "$name" "$port" open --op set --prefix /o --value-size 100 --rate "$rate"
	fi
	r0=$(rss_kb "$SERVER_PID")
	timeout 600 "$BENCH" --server "127.0.0.1:$port" --sessions $SESSIONS \
		--outstanding $OUTSTANDING --prefix /rss --keys $RSS_KEYS --value-size 100 \
		--setup-only --json >/dev/null 2>>"$WORK/$name/bench.log"
	sleep 1
	r1=$(rss_kb "$SERVER_PID")
	echo "$name rss 0 0 {\"keys\":$RSS_KEYS,\"rss0_kb\":$r0,\"rss1_kb\":$r1}" >>"$RES"
	echo "  $name rss: ${r0} kB -> ${r1} kB after $RSS_KEYS znodes" >&2
}

T0=$(date +%s)
TERN_NOTE=""
: >"$RES"
if start_server zk "$ZK_PORT"; then
	run_suite zk "$ZK_PORT"
	stop_server
else
	echo "compare.sh: Apache ZooKeeper did not start" >&2
	exit 1
fi
if [ -z "$TERND" ]; then
	TERN_NOTE="ternd is not built (no build*/mgmt/ternd): ZooKeeper numbers only"
elif start_server tern "$TERN_PORT"; then
	run_suite tern "$TERN_PORT"
	stop_server
else
	TERN_NOTE="ternd ($TERND) did not start: ZooKeeper numbers only"
fi

timeout 30 /usr/bin/python3 - "$RES" "$(getconf CLK_TCK)" "$TERN_NOTE" <<'PY'
# Turn the result lines ("server label server_ticks bench_ticks json") into the table.
import json, sys
res, hz, note = sys.argv[1], float(sys.argv[2]), sys.argv[3]
r = {}
for line in open(res):
    name, label, ticks, gticks, js = line.split(" ", 4)
    d = json.loads(js)
    d["cpu_s"] = int(ticks) / hz
    d["gen_cpu_s"] = int(gticks) / hz
    r[(name, label)] = d

def get(name, label, f):
    d = r.get((name, label))
    if d is None:
        return None
    if f == "cpu":
        return d["cpu_s"] * 1000.0 / d["all_ops"] if d.get("all_ops") else None
    if f == "rss":
        return (d["rss1_kb"] - d["rss0_kb"]) / 1024.0 * 100000 / d["keys"]
    if f == "p99":
        return d["p99_us"] / 1000.0
    return d[f]

rows = [("write ops/s (setData 100 B, 8x32)", "write", "ops_per_sec", "%.0f"),
        ("write p99 ms", "write", "p99", "%.2f"),
        ("read ops/s (getData, 8x32)", "read", "ops_per_sec", "%.0f"),
        ("read p99 ms", "read", "p99", "%.2f"),
        ("mixed 90% read ops/s", "mixed", "ops_per_sec", "%.0f"),
        ("mixed p99 ms", "mixed", "p99", "%.2f"),
        ("open-loop write p99 ms @ %s ops/s" %
         (int(r[("zk", "open")]["rate"]) if ("zk", "open") in r else "?"), "open", "p99", "%.2f"),
        ("CPU s / 1000 ops, write", "write", "cpu", "%.4f"),
        ("CPU s / 1000 ops, read", "read", "cpu", "%.4f"),
        ("CPU s / 1000 ops, mixed", "mixed", "cpu", "%.4f"),
        ("RSS MiB / 100k znodes (100 B)", "rss", "rss", "%.1f")]
fmt = "%-42s %12s %12s %10s"
print(fmt % ("metric", "zookeeper", "tern", "tern/zk"))
for title, label, f, nf in rows:
    z, t = get("zk", label, f), get("tern", label, f)
    zs = nf % z if z is not None else "-"
    ts = nf % t if t is not None else "-"
    ratio = "%.2f" % (t / z) if z and t is not None else "-"
    print(fmt % (title, zs, ts, ratio))
errs = {k: v.get("errors", 0) for k, v in r.items() if v.get("errors")}
if errs:
    print("errors: " + ", ".join("%s/%s=%d" % (k[0], k[1], v) for k, v in sorted(errs.items())))
uns = {k: v.get("unsent", 0) for k, v in r.items() if v.get("unsent")}
if uns:
    print("open loop not sustained (unsent): " +
          ", ".join("%s/%s=%d" % (k[0], k[1], v) for k, v in sorted(uns.items())))
gen = ["%s/%s %.2f s (%.1f%% of one CPU)" % (k[0], k[1], v["gen_cpu_s"],
       100.0 * v["gen_cpu_s"] / (v["warmup_s"] + v["duration_s"]))
       for k, v in sorted(r.items()) if k[1] != "rss"]
print("load generator CPU (tern-bench utime+stime): " + ", ".join(gen))
if note:
    print("note: " + note)
PY
echo "compare.sh: total $(($(date +%s) - T0))s; JVM heap -Xmx1g; load generator on the same $(nproc) CPUs"
echo "compare.sh: tern-bench = $BENCH"
[ -n "$TERND" ] && echo "compare.sh: ternd = $TERND"
