#!/usr/bin/env bash
# tern's main job: install, build, and run a local 3-server tern ensemble on
# this machine, serving real ZooKeeper clients on the kernel-socket dataplane.
#   ./scripts/run.sh              # 3 servers in a local rack (deploy/rack.sh)
#   ./scripts/run.sh zoo.cfg      # one ternd on your own config
# The rack puts each server in its own network namespace on a bridge (plain
# 127.0.0.1 ports where namespaces are unavailable), waits for the election,
# writes through one server and reads through another with a real client
# (kazoo), prints each server's mode, and keeps serving until Ctrl-C (or for
# TERN_RUN_SECONDS=N seconds), then takes the rack down. TERN_SERVERS=N sets
# the ensemble size; the rack's state lives in ./run/rack (deploy/rack.sh
# --dir run/rack status|kill 1|partition 2|... work meanwhile).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh >/dev/null

if [ $# -gt 0 ]; then
	build/mgmt/ternd "$1" &
	pid=$!
	trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
	echo "ternd (pid $pid) on $1; Ctrl-C to stop"
	wait $pid
	exit
fi

rack=(deploy/rack.sh --dir "$PWD/run/rack")
n=${TERN_SERVERS:-3}
trap '"${rack[@]}" down >/dev/null 2>&1 || true' EXIT INT TERM
"${rack[@]}" up "$n" --ternd "$PWD/build/mgmt/ternd" --tick 2000
leader=$("${rack[@]}" wait-leader 60) || { "${rack[@]}" status; exit 1; }
hosts=$("${rack[@]}" connect-string)
first=$("${rack[@]}" addr 1)
last=$("${rack[@]}" addr "$n")
echo "leader: server $leader; connect string: $hosts"
/usr/bin/python3 - "$first" "$last" <<'PY'
import sys
from kazoo.client import KazooClient
first, last = sys.argv[1], sys.argv[2]
a = KazooClient(hosts=first, timeout=10)
a.start(timeout=15)
a.ensure_path("/tern/demo")
p = a.create("/tern/demo/item-", b"hello from kazoo", sequence=True)
b = KazooClient(hosts=last, timeout=10)
b.start(timeout=15)
b.sync("/tern/demo")
data, stat = b.get(p)
print("kazoo: created %s through %s, read it through %s -> %r (czxid 0x%x)"
      % (p, first, last, data, stat.czxid))
print("kazoo: children of /tern/demo: %d" % len(b.get_children("/tern/demo")))
a.stop()
b.stop()
PY
"${rack[@]}" status
if [ -n "${TERN_RUN_SECONDS:-}" ]; then
	sleep "$TERN_RUN_SECONDS"
else
	echo "serving on $hosts; Ctrl-C to stop"
	while sleep 3600; do :; done
fi
