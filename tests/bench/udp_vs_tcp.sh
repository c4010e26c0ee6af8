#!/bin/bash
# udp_vs_tcp.sh: tern-bench over TCP (ZooKeeper's protocol) and over tern's native datagram
# protocol (--transport udp, dataplane/dp_udp.h) against one standalone ternd, side by side.
#
# One ternd (forceSync=yes, fresh dataDir) serves both transports on the same port number; each
# workload runs over TCP, then over UDP, with the same sessions, outstanding requests, value size
# and keys: get (getData), set (setData of 100 B), mixed (90% getData). Printed: ops/s and
# p50/p99 latency per transport, and the UDP/TCP ratios. Loopback only: no loss, so this measures
# the per-request cost of each transport, not retransmission. Numbers, never assertions.
# The ternd is stopped by its pid; every step is bounded by `timeout`.
#
# usage: tests/bench/udp_vs_tcp.sh [--quick] [--ternd PATH] [--tern-bench PATH]
#        [--sessions S] [--outstanding K]        (about 1 minute; --quick about 20 s)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WARMUP=2 DURATION=8 SESSIONS=8 OUTSTANDING=16
TERND=${TERND:-} BENCH=${TERN_BENCH:-}
PORT=${TERN_PORT:-23192}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) WARMUP=1 DURATION=3 ;;
	--ternd) TERND=$2; shift ;;
	--tern-bench) BENCH=$2; shift ;;
	--sessions) SESSIONS=$2; shift ;;
	--outstanding) OUTSTANDING=$2; shift ;;
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	*) echo "udp_vs_tcp.sh: unknown argument $1" >&2; exit 2 ;;
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
if [ ! -x "$BENCH" ] || [ ! -x "$TERND" ]; then
	echo "udp_vs_tcp.sh: build ternd and tern-bench first (ninja -C build)" >&2
	exit 1
fi

WORK=$(mktemp -d /tmp/tern-udpbench.XXXXXX)
PID=""
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill "$PID"
		for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$PID" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/zoo.cfg" <<CFG
tickTime=2000
dataDir=$WORK/data
clientPort=$PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
tern.udp.port=$PORT
CFG
"$TERND" "$WORK/zoo.cfg" >"$WORK/ternd.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
	[ "$(printf ruok | timeout 1 nc -q1 127.0.0.1 "$PORT" 2>/dev/null)" = imok ] && break
	sleep 0.1
done
if ! grep -q "udp port $PORT" "$WORK/ternd.log"; then
	echo "udp_vs_tcp.sh: ternd did not start with UDP on $PORT:" >&2
	cat "$WORK/ternd.log" >&2
	exit 1
fi

# run WORKLOAD TRANSPORT: prints "ops/s p50 p99" (ms) or "- - -"
run() {
	local out
	out=$(timeout $((WARMUP + DURATION + 120)) "$BENCH" --server "127.0.0.1:$PORT" \
		--transport "$2" --op "$1" --sessions "$SESSIONS" --outstanding "$OUTSTANDING" \
		--warmup "$WARMUP" --duration "$DURATION" --keys 1000 --prefix "/udpbench-$1-$2" \
		--quiet 2>&1)
	local ops p50 p99
	ops=$(echo "$out" | sed -n 's/.* ops, \([0-9.]*\)\/s.*/\1/p' | head -1)
	p50=$(echo "$out" | sed -n 's/.*latency ms: p50 \([0-9.]*\).*/\1/p' | head -1)
	p99=$(echo "$out" | sed -n 's/.*latency ms:.* p99 \([0-9.]*\) .*/\1/p' | head -1)
	errs=$(echo "$out" | sed -n 's/.*errors \([0-9]*\).*/\1/p' | head -1)
	echo "${ops:--} ${p50:--} ${p99:--} ${errs:--}"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

echo "ternd $TERND, tern-bench $BENCH"
echo "$SESSIONS sessions x $OUTSTANDING outstanding, 100 B values, ${DURATION}s after ${WARMUP}s warm-up"
printf "%-6s | %10s %8s %8s %5s | %10s %8s %8s %5s | %6s %6s\n" workload "tcp ops/s" "p50 ms" \
	"p99 ms" errs "udp ops/s" "p50 ms" "p99 ms" errs "ops x" "p99 x"
for wl in get set mixed; do
	read -r t_ops t_p50 t_p99 t_err <<<"$(run "$wl" tcp)"
	read -r u_ops u_p50 u_p99 u_err <<<"$(run "$wl" udp)"
	printf "%-6s | %10s %8s %8s %5s | %10s %8s %8s %5s | %6s %6s\n" "$wl" "$t_ops" "$t_p50" \
		"$t_p99" "$t_err" "$u_ops" "$u_p50" "$u_p99" "$u_err" "$(ratio "$u_ops" "$t_ops")" \
		"$(ratio "$u_p99" "$t_p99")"
done
