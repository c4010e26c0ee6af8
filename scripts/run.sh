#!/usr/bin/env bash
# tern's main job: install, build, and run a local 3-server tern ensemble on
# this machine, serving real ZooKeeper clients on the kernel-socket dataplane.
#   ./scripts/run.sh              # 3 servers: clients on 127.0.0.1:2181,2182,2183
#   ./scripts/run.sh zoo.cfg      # one ternd on your own config
# Each server gets ./run/<i>/zoo.cfg (server.1..3 lines, myid) and its data in
# ./run/<i>/data. The script waits for the election, writes through one server
# and reads through another with a real client (kazoo), prints each server's
# srvr, and keeps serving until Ctrl-C (or TERN_RUN_SECONDS=N seconds).
# TERN_SERVERS=1 runs one standalone server; TERN_PORT moves the first port.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh >/dev/null

n=${TERN_SERVERS:-3}
base=${TERN_PORT:-2181}
pids=()
ports=()
stop_all() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop_all EXIT INT TERM

srvr() { printf srvr | nc -q1 -w1 127.0.0.1 "$1" 2>/dev/null || true; }

if [ $# -gt 0 ]; then
	cfgs=("$1")
	port=$(sed -n 's/^clientPort[[:space:]]*=[[:space:]]*//p' "$1" | tail -1)
	ports=("${port:-2181}")
else
	cfgs=()
	for i in $(seq 1 "$n"); do
		mkdir -p "run/$i/data"
		ports+=($((base + i - 1)))
		cfg=run/$i/zoo.cfg
		{
			echo "tickTime=2000"
			echo "initLimit=10"
			echo "syncLimit=5"
			echo "dataDir=$PWD/run/$i/data"
			echo "clientPort=$((base + i - 1))"
			echo "clientPortAddress=127.0.0.1"
			echo "4lw.commands.whitelist=*"
			if [ "$n" -gt 1 ]; then
				for j in $(seq 1 "$n"); do
					echo "server.$j=127.0.0.1:$((base + 707 + j - 1)):$((base + 1707 + j - 1));$((base + j - 1))"
				done
			fi
		} >"$cfg"
		[ "$n" -gt 1 ] && echo "$i" >"run/$i/data/myid"
		cfgs+=("$cfg")
	done
fi

for i in "${!cfgs[@]}"; do
	log=$(dirname "${cfgs[$i]}")/ternd.log
	build/mgmt/ternd "${cfgs[$i]}" >>"$log" 2>&1 &
	pids+=($!)
	echo "ternd $((i + 1)) (pid $!) on 127.0.0.1:${ports[$i]}, log $log"
done

# wait (bounded) until every server serves: a leader and its followers
for _ in $(seq 1 300); do
	ok=0
	for i in "${!ports[@]}"; do
		kill -0 "${pids[$i]}" 2>/dev/null || { echo "ternd $((i + 1)) exited"; exit 1; }
		srvr "${ports[$i]}" | grep -qE '^Mode: (leader|follower|standalone)' && ok=$((ok + 1))
	done
	[ "$ok" = "${#ports[@]}" ] && break
	sleep 0.1
done
[ "$ok" = "${#ports[@]}" ] || { echo "the servers did not start serving"; exit 1; }

hosts=$(printf '127.0.0.1:%s,' "${ports[@]}")
/usr/bin/python3 - "${ports[0]}" "${ports[-1]}" <<'PY'
import sys
from kazoo.client import KazooClient
first, last = sys.argv[1], sys.argv[2]
a = KazooClient(hosts="127.0.0.1:%s" % first, timeout=10)
a.start(timeout=15)
a.ensure_path("/tern/demo")
p = a.create("/tern/demo/item-", b"hello from kazoo", sequence=True)
b = KazooClient(hosts="127.0.0.1:%s" % last, timeout=10)
b.start(timeout=15)
b.sync("/tern/demo")
data, stat = b.get(p)
print("kazoo: created %s through :%s, read it through :%s -> %r (czxid 0x%x)"
      % (p, first, last, data, stat.czxid))
print("kazoo: children of /tern/demo: %d" % len(b.get_children("/tern/demo")))
a.stop()
b.stop()
PY
for p in "${ports[@]}"; do
	echo "--- srvr on 127.0.0.1:$p"
	srvr "$p" | grep -E '^(Mode|Zxid|Node count|Zookeeper version)'
done
echo "connect string: ${hosts%,}"
if [ -n "${TERN_RUN_SECONDS:-}" ]; then
	sleep "$TERN_RUN_SECONDS"
else
	echo "serving; Ctrl-C to stop"
	wait "${pids[0]}"
fi
