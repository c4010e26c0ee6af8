"""Observers fed by learner masters (issue 7): 3 voters and 3 observers,
real ternd processes on loopback. Observer 4 follows a follower
(tern.observer.master=1,2), 5 follows 4, 6 follows 5 (then 4): a chain.

Proves: writes through the chain's last observer commit and read back
there and everywhere; the leader feeds at most one observer directly (its
admin "leader" command lists the learners in its stream: never 5 nor 6),
while 5 and 6 report their masters as upstream; a sync barrier at the chain's
end sees a write made at the leader just before; kill -9 of the middle
observer (5): 6 falls back to 4 and catches up with writes made meanwhile;
the restarted 5 is past 4's history (commitLogCount), gets a SNAP from 4
and catches up; with ZooKeeper's
observerMasterPort the observers follow voters; a config naming itself as
its master or an unknown server is refused at start."""
import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternlib  # noqa: E402
from ternlib import Ensemble, free_port, run_tests, wait_for  # noqa: E402

ternlib.need_kazoo()
from kazoo.client import KazooClient  # noqa: E402

TERND = sys.argv[1]
MASTERS = {4: "1,2", 5: "4", 6: "5,4"}
WAIT = 45.0  # generous: two cores shared by several builds


def client(srv):
    zk = KazooClient(hosts=srv.hosts(), timeout=15)
    zk.start(timeout=20)
    return zk


def admin(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/commands/%s" % (port, name),
                                timeout=10) as r:
        return json.loads(r.read().decode())


def stream_peers(ens, i):
    """sids in server i's stream (leader) or its upstream (learner), synced."""
    o = admin(ens.admin_ports[i], "leader")
    return sorted(p["sid"] for p in o.get("peers", []) if p.get("synced"))


def peers_are(ens, i, want):
    """stream_peers(ens, i) == want; False while i's admin server is not up."""
    try:
        return stream_peers(ens, i) == want
    except OSError:
        return False


def chained(extra=""):
    ens = Ensemble(TERND, 3, observers=3, tick=200, extra_cfg=extra)
    ens.admin_ports = {}
    for i in range(1, 7):
        ens.admin_ports[i] = free_port()
        ens[i].extra_cfg += ("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\n"
                             "admin.serverPort=%d\n" % ens.admin_ports[i])
        if i in MASTERS:
            ens[i].extra_cfg += "tern.observer.master=%s\n" % MASTERS[i]
    return ens


def wait_chain(ens, leader):
    """5 follows 4 and 6 follows 5 (or 4 while 5 is away)."""
    def ok():
        try:
            return (stream_peers(ens, 5) == [4] and stream_peers(ens, 6) in ([5], [4]) and
                    not set(stream_peers(ens, leader)) & {5, 6})
        except OSError:
            return False
    wait_for(ok, WAIT, "the observer chain 4 <- 5 <- 6")


def test_chain_writes_and_leader_load():
    with chained() as ens:
        leader = ens.wait_leader(WAIT)
        wait_chain(ens, leader)
        direct = [p for p in stream_peers(ens, leader) if p > 3]
        assert len(direct) <= 1, direct  # only 4, and only if the leader is its master
        assert stream_peers(ens, 6) == [5]
        zk6 = client(ens[6])
        zkl = client(ens[leader])
        try:
            zk6.create("/chain", b"")
            for k in range(20):
                zk6.create("/chain/n%02d" % k, b"v%d" % k)
            # read your writes at the chain's end
            assert zk6.get("/chain/n19")[0] == b"v19"
            assert len(zk6.get_children("/chain")) == 20
            zkl.sync("/chain")
            assert len(zkl.get_children("/chain")) == 20
            # a write at the leader, then a sync barrier at 6: it must be visible
            zkl.create("/chain/from-leader", b"L")
            zk6.sync("/chain")
            assert zk6.get("/chain/from-leader")[0] == b"L"
            wait_for(lambda: len({ens.zxid(i) for i in range(1, 7)}) == 1, WAIT,
                     "every server at the same zxid")
        finally:
            zk6.stop()
            zkl.stop()
            zk6.close()
            zkl.close()


def test_kill_middle_observer():
    # a short committed history: the restarted 5 is past it and gets a SNAP from 4
    with chained("zookeeper.commitLogCount=10\n") as ens:
        leader = ens.wait_leader(WAIT)
        wait_chain(ens, leader)
        zkl = client(ens[leader])
        try:
            zkl.create("/k", b"")
            ens[5].kill()  # kill -9 the middle link
            for k in range(30):
                zkl.create("/k/n%02d" % k, b"x")
            # 6 fell back to 4 and caught up
            wait_for(lambda: peers_are(ens, 6, [4]), WAIT, "6 following 4")
            zk6 = client(ens[6])
            try:
                zk6.sync("/k")
                assert len(zk6.get_children("/k")) == 30
                zk6.create("/k/via6", b"6")  # writes through the new path
            finally:
                zk6.stop()
                zk6.close()
            ens[5].start(timeout=WAIT)
            wait_for(lambda: peers_are(ens, 5, [4]), WAIT, "5 following 4 again")
            assert "SNAP to server 5" in ens[4].log_all(), ens[4].log()
            wait_for(lambda: len({ens.zxid(i) for i in range(1, 7)}) == 1, WAIT,
                     "every server at the same zxid")
            zk5 = client(ens[5])
            try:
                assert len(zk5.get_children("/k")) == 31
            finally:
                zk5.stop()
                zk5.close()
            assert not set(stream_peers(ens, leader)) & {5, 6}
        finally:
            zkl.stop()
            zkl.close()


def test_observer_master_port():
    """ZooKeeper 3.6's layout: observerMasterPort set, no tern key: each
    observer follows a voter (4 starts at server 1, 5 at server 2), so the
    leader streams to at most one of them."""
    ens = Ensemble(TERND, 3, observers=2, tick=200, extra_cfg="observerMasterPort=%d\n" %
                   free_port())
    ens.admin_ports = {}
    for i in range(1, 6):
        ens.admin_ports[i] = free_port()
        ens[i].extra_cfg += ("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\n"
                             "admin.serverPort=%d\n" % ens.admin_ports[i])
    with ens:
        leader = ens.wait_leader(WAIT)
        want = {4: 1 if leader != 1 else 2, 5: 2 if leader != 2 else 3}

        def ok():
            try:
                return all(stream_peers(ens, o) == [m] for o, m in want.items())
            except OSError:
                return False
        wait_for(ok, WAIT, "observers on their voters %s" % want)
        assert len([p for p in stream_peers(ens, leader) if p > 3]) <= 1
        zk = client(ens[5])
        try:
            zk.create("/omp", b"x")
            assert zk.get("/omp")[0] == b"x"
        finally:
            zk.stop()
            zk.close()


def test_self_master_refused():
    ens = Ensemble(TERND, 1, observers=1, tick=200)
    try:
        # itself (a loop), an unknown server
        for i, val in ((2, "2"), (2, "1,9")):
            base = ens[i].extra_cfg
            ens[i].extra_cfg = base + "tern.observer.master=%s\n" % val
            cfg = ens[i].write_cfg()
            ens[i].extra_cfg = base
            p = subprocess.run([TERND, cfg], capture_output=True, text=True, timeout=30)
            assert p.returncode != 0, (i, val, p)
            assert "tern.observer.master" in p.stderr + p.stdout, (i, val, p.stderr)
    finally:
        ens.cleanup()


if __name__ == "__main__":
    run_tests([
        ("chain_writes_and_leader_load", test_chain_writes_and_leader_load),
        ("kill_middle_observer", test_kill_middle_observer),
        ("observer_master_port", test_observer_master_port),
        ("self_master_refused", test_self_master_refused),
    ])
