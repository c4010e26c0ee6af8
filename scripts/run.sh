#!/usr/bin/env bash
# tern's main job: install, build, and run ternd on this machine serving real
# ZooKeeper clients on the kernel-socket dataplane (the default).
#   ./scripts/run.sh [zoo.cfg]
# Without a config it writes one to ./run/zoo.cfg (clientPort 2181, data in
# ./run/data), starts ternd, checks it with a real client (kazoo) and keeps
# serving until Ctrl-C. TERN_RUN_SECONDS=N stops it after N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh >/dev/null

cfg=${1:-}
if [ -z "$cfg" ]; then
	mkdir -p run/data
	cfg=run/zoo.cfg
	cat >"$cfg" <<CFG
tickTime=2000
dataDir=$PWD/run/data
clientPort=${TERN_PORT:-2181}
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
CFG
fi
port=$(sed -n 's/^clientPort[[:space:]]*=[[:space:]]*//p' "$cfg" | tail -1)
port=${port:-2181}

build/mgmt/ternd "$cfg" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
	[ "$(printf ruok | nc -q1 -w1 127.0.0.1 "$port" 2>/dev/null)" = imok ] && break
	kill -0 $pid 2>/dev/null || { echo "ternd exited"; exit 1; }
	sleep 0.1
done
echo "ternd (pid $pid) serves ZooKeeper clients on 127.0.0.1:$port"
/usr/bin/python3 - "$port" <<'PY'
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:%s" % sys.argv[1], timeout=10)
zk.start(timeout=10)
zk.ensure_path("/tern/demo")
p = zk.create("/tern/demo/item-", b"hello from kazoo", sequence=True)
data, stat = zk.get(p)
print("kazoo: created %s -> %r (version %d, czxid 0x%x)" % (p, data, stat.version, stat.czxid))
print("kazoo: children of /tern/demo: %d" % len(zk.get_children("/tern/demo")))
zk.stop()
PY
printf srvr | nc -q1 -w1 127.0.0.1 "$port" || true
if [ -n "${TERN_RUN_SECONDS:-}" ]; then
	sleep "$TERN_RUN_SECONDS"
else
	echo "serving; Ctrl-C to stop"
	wait $pid
fi
