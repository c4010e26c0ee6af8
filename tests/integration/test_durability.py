#!/usr/bin/python3
"""Integration: every acknowledged write survives kill -9 and restart; a
clean SIGTERM stop keeps everything too; sessions survive a restart.

Usage: test_durability.py TERND
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

ternlib.need_kazoo()
TERND = sys.argv[1]
N = 500


def t_kill9():
    srv = ternlib.Ternd(TERND)
    try:
        srv.start()
        zk = ternlib.kazoo_client(srv)
        zk.create("/dur", b"")
        acked = []
        # async creates in flight when the kill lands: only acked ones must survive
        for i in range(N):
            zk.create("/dur/n%04d" % i, b"payload-%d" % i)
            acked.append(i)
        pending = [zk.create_async("/dur/late%04d" % i, b"") for i in range(200)]
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(10)
        late_ok = []
        for i, p in enumerate(pending):
            try:
                p.get(timeout=5)
                late_ok.append(i)
            except Exception:  # noqa: BLE001 - lost in the crash: allowed
                pass
        zk.stop()
        zk.close()
        srv.start()
        zk = ternlib.kazoo_client(srv)
        kids = set(zk.get_children("/dur"))
        for i in acked:
            assert "n%04d" % i in kids, "acked create n%04d lost" % i
        for i in late_ok:
            assert "late%04d" % i in kids, "acked async create late%04d lost" % i
        assert zk.get("/dur/n0007")[0] == b"payload-7"
        # new writes continue above the recovered zxid
        st = zk.create("/dur/after", b"", include_data=True)[1]
        assert st.czxid > 0
        zk.stop()
        zk.close()
        assert srv.stop() == 0
    finally:
        srv.cleanup()


def t_sigterm_and_session():
    """A clean SIGTERM stop is prompt and keeps data and sessions: a client
    that reconnects with its id and password after the restart finds its
    session and its ephemeral node."""
    import subprocess
    srv = ternlib.Ternd(TERND)
    child = None
    try:
        srv.start()
        # the first client lives in a process we can kill without closeSession
        child = subprocess.Popen([sys.executable, "-c", """
import sys, time
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=30)
zk.start(timeout=10)
zk.create("/t", b"kept")
zk.create("/t/e", b"", ephemeral=True)
print("%x %s" % (zk.client_id[0], zk.client_id[1].hex()), flush=True)
time.sleep(60)
""", srv.hosts()], stdout=subprocess.PIPE, text=True)
        sid_hex, pw_hex = child.stdout.readline().split()
        sid, pw = int(sid_hex, 16), bytes.fromhex(pw_hex)
        child.kill()
        child.wait(10)
        t0 = time.time()
        assert srv.stop() == 0
        assert time.time() - t0 < 5, "SIGTERM stop too slow"
        srv.start()
        zk2 = ternlib.kazoo_client(srv, client_id=(sid, pw))
        assert zk2.client_id[0] == sid
        assert zk2.get("/t")[0] == b"kept"
        assert zk2.exists("/t/e").ephemeralOwner == sid
        zk2.stop()
        zk2.close()
    finally:
        if child and child.poll() is None:
            child.kill()
            child.wait(10)
        srv.cleanup()


if __name__ == "__main__":
    ternlib.run_tests([("kill9", t_kill9), ("sigterm_and_session", t_sigterm_and_session)])
