"""A 3-server ensemble of real ternd processes on loopback (or, with the
argument "zookeeper", of Apache ZooKeeper servers: the same expectations).

Elections on start, replication through every server, the leader killed
under a writer (no acknowledged write lost, failover time printed), a
follower restarted (catches up), a session moved off a killed server keeps
its ephemerals, and expiry removes ephemerals ensemble-wide."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternlib  # noqa: E402
from ternlib import Ensemble, run_tests, wait_for  # noqa: E402

ternlib.need_kazoo()
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import KazooException, NoNodeError  # noqa: E402

TERND = sys.argv[1]


def client(hosts, **kw):
    kw.setdefault("timeout", 10)
    zk = KazooClient(hosts=hosts, **kw)
    zk.start(timeout=15)
    return zk


def test_election_on_start():
    with Ensemble(TERND, 3) as ens:
        modes = sorted(ens.mode(i) for i in (1, 2, 3))
        assert modes == ["follower", "follower", "leader"], modes


def test_replication_through_every_server():
    with Ensemble(TERND, 3) as ens:
        zks = [client(ens[i].hosts()) for i in (1, 2, 3)]
        try:
            for i, zk in enumerate(zks, 1):
                zk.create("/from%d" % i, b"v%d" % i)
                zk.create("/seq/n-", b"", makepath=True, sequence=True)
            for zk in zks:
                zk.sync("/")
                for i in (1, 2, 3):
                    assert zk.get("/from%d" % i)[0] == b"v%d" % i
                assert len(zk.get_children("/seq")) == 3
            # a watch set through one server fires for a write through another
            fired = threading.Event()
            zks[0].get("/from1", watch=lambda ev: fired.set())
            zks[2].set("/from1", b"changed")
            assert fired.wait(10), "watch did not fire across servers"
            # versions and cversion agree everywhere
            stats = []
            for zk in zks:
                zk.sync("/seq")
                stats.append(zk.get("/seq")[1])
            assert len({(s.cversion, s.numChildren, s.pzxid) for s in stats}) == 1, stats
            zxids = set()
            for i in (1, 2, 3):
                wait_for(lambda i=i: ens.zxid(i) == ens.zxid(ens.leader()), 10, "zxid")
                zxids.add(ens.zxid(i))
            assert len(zxids) == 1, zxids
        finally:
            for zk in zks:
                zk.stop()
                zk.close()


def test_leader_kill_under_writes():
    with Ensemble(TERND, 3) as ens:
        zk = client(ens.hosts(), connection_retry={"max_tries": -1, "delay": 0.05,
                                                    "max_delay": 0.2})
        zk.create("/w", b"")
        acked, stop = [], threading.Event()

        def writer():
            n = 0
            while not stop.is_set() and n < 100000:
                try:
                    zk.create("/w/k%06d" % n, b"x")
                    acked.append(n)
                except KazooException:
                    time.sleep(0.01)  # unknown outcome: may or may not exist
                n += 1
        th = threading.Thread(target=writer)
        th.start()
        try:
            wait_for(lambda: len(acked) > 50, 20, "writes before the kill")
            old = ens.leader()
            before = len(acked)
            t0 = time.time()
            ens[old].kill()
            wait_for(lambda: len(acked) > before + 1, 30, "writes after the kill")
            print("failover: first acknowledged write %.0f ms after kill -9 of the leader"
                  % ((time.time() - t0) * 1000))
            new = ens.wait_leader(30)
            assert new != old
            wait_for(lambda: len(acked) > before + 50, 30, "more writes")
        finally:
            stop.set()
            th.join(30)
        try:
            zk.sync("/w")
            have = set(zk.get_children("/w"))
            lost = [n for n in acked if "k%06d" % n not in have]
            assert not lost, "acknowledged creates lost: %s" % lost[:10]
            # the killed server comes back as a follower with everything
            ens[old].start()
            ens.wait_leader(30)
            z2 = client(ens[old].hosts())
            try:
                z2.sync("/w")
                have2 = set(z2.get_children("/w"))
                assert have2 == have or have2 >= {"k%06d" % n for n in acked}, \
                    (len(have2), len(have))
            finally:
                z2.stop()
                z2.close()
        finally:
            zk.stop()
            zk.close()


def test_follower_restart_catches_up():
    with Ensemble(TERND, 3) as ens:
        lead = ens.leader()
        f = [i for i in (1, 2, 3) if i != lead][0]
        zk = client(ens[lead].hosts())
        try:
            zk.create("/a", b"1")
            ens[f].stop()
            for n in range(200):
                zk.create("/a/n%03d" % n, b"v")
            ens[f].start()
            ens.wait_leader(30)
            zf = client(ens[f].hosts())
            try:
                zf.sync("/a")
                assert len(zf.get_children("/a")) == 200
                assert zf.get("/a/n199")[0] == b"v"
            finally:
                zf.stop()
                zf.close()
        finally:
            zk.stop()
            zk.close()


def test_session_moves_and_expires():
    with Ensemble(TERND, 3) as ens:
        lead = ens.leader()
        a, b = [i for i in (1, 2, 3) if i != lead]
        # a session on follower a holds an ephemeral; a dies; the client moves to b
        zk = client("%s,%s" % (ens[a].hosts(), ens[b].hosts()), timeout=6,
                    randomize_hosts=False)
        watcher = client(ens[lead].hosts())
        try:
            zk.create("/eph", b"", ephemeral=True)
            sid = zk.client_id[0]
            ens[a].kill()
            # kazoo notices the dead server on its next read: retry through the move
            zk.retry(zk.sync, "/")
            assert zk.client_id[0] == sid, "a new session instead of the moved one"
            assert zk._connection._socket.getpeername()[1] == ens[b].port
            assert zk.exists("/eph") is not None, "ephemeral lost when its session moved"
            assert watcher.exists("/eph") is not None
            # a client that vanishes without closeSession: its session expires
            # (the leader owns expiry; the follower reports the session's pings)
            raw = ternlib.Raw(ens[b].port)
            raw.connect(timeout_ms=4000)
            err, _, _ = raw.create("/eph2", b"", flags=1)
            assert err == 0, err
            gone = threading.Event()
            watcher.sync("/")
            assert watcher.exists("/eph2", watch=lambda ev: gone.set()) is not None
            time.sleep(2)
            assert not gone.is_set(), "expired while its client was connected"
            raw.close()
            assert gone.wait(30), "ephemeral of an expired session not removed"
            for i in (lead, b):
                z = client(ens[i].hosts())
                try:
                    z.sync("/")
                    assert z.exists("/eph2") is None
                    assert z.exists("/eph") is not None
                finally:
                    z.stop()
                    z.close()
        finally:
            watcher.stop()
            watcher.close()
            zk.stop()
            zk.close()


def test_no_quorum_no_service():
    with Ensemble(TERND, 3) as ens:
        lead = ens.leader()
        others = [i for i in (1, 2, 3) if i != lead]
        for i in others:
            ens[i].kill()
        # the lone leader stops serving once it loses its quorum
        wait_for(lambda: ens.mode(lead) not in ("leader",), 30, "leader to step down")
        for i in others:
            ens[i].start()
        ens.wait_leader(30)


def test_far_behind_learner_gets_snap():
    # the leader keeps only 20 committed txns for DIFF: a learner 300 behind gets SNAP
    with Ensemble(TERND, 3, extra_cfg="commitLogCount=20\n") as ens:
        lead = ens.leader()
        f = [i for i in (1, 2, 3) if i != lead][0]
        zk = client(ens[lead].hosts())
        try:
            zk.create("/s", b"")
            ens[f].stop()
            for n in range(300):
                zk.create("/s/n%03d" % n, b"v%d" % n)
            ens[f].start()
            ens.wait_leader(30)
            zf = client(ens[f].hosts())
            try:
                zf.sync("/s")
                assert len(zf.get_children("/s")) == 300
                assert zf.get("/s/n299")[0] == b"v299"
            finally:
                zf.stop()
                zf.close()
            if not ternlib.is_zk(TERND):
                assert "SNAP from the leader" in ens[f].log_all(), "no SNAP was used"
        finally:
            zk.stop()
            zk.close()


def test_old_leader_log_truncated():
    # an old leader logged a txn no quorum acknowledged; after a new epoch it
    # comes back and must drop it (TRUNC), never show it
    with Ensemble(TERND, 3) as ens:
        lead = ens.leader()
        fs = [i for i in (1, 2, 3) if i != lead]
        zk = client(ens[lead].hosts())
        zk.create("/t", b"")
        for i in fs:
            ens[i].kill()
        # within syncLimit the lone leader still proposes: it logs a txn no
        # follower ever receives, and dies
        zk.create_async("/t/phantom", b"never acknowledged")
        time.sleep(0.3)
        ens[lead].kill()
        for i in fs:
            ens[i].start()
        zk.stop()
        zk.close()
        ens.wait_leader(30, serving=fs)
        z2 = client(ens.hosts(fs))
        try:
            for n in range(20):
                z2.create("/t/new%02d" % n, b"")
            ens[lead].start()
            ens.wait_leader(30)
            z3 = client(ens[lead].hosts())
            try:
                z3.sync("/t")
                kids = set(z3.get_children("/t"))
                assert "phantom" not in kids, "an unacknowledged txn of an old epoch survived"
                assert len(kids) == 20, kids
            finally:
                z3.stop()
            if not ternlib.is_zk(TERND):
                assert "TRUNC: dropping" in ens[lead].log_all(), "no TRUNC was used"
                z3.close()
            z2.sync("/t")
            assert z2.exists("/t/phantom") is None
        finally:
            z2.stop()
            z2.close()


def test_read_only_mode():
    # readonlymode.enabled: a server cut off from its quorum serves reads to
    # clients that allow it, refuses their writes, and goes back to read-write
    from kazoo.exceptions import NotReadOnlyCallError
    from kazoo.protocol.states import KeeperState
    # ZooKeeper 3.8 takes read-only clients only with local sessions enabled
    with Ensemble(TERND, 3, extra_cfg="readonlymode.enabled=true\n"
                  "localSessionsEnabled=true\n") as ens:
        lead = ens.leader()
        keep = [i for i in (1, 2, 3) if i != lead][0]
        zk = client(ens.hosts())
        zk.create("/ro", b"before")
        zk.stop()
        zk.close()
        others = [i for i in (1, 2, 3) if i != keep]
        for i in others:
            ens[i].kill()
        wait_for(lambda: ens.mode(keep) == "read-only", 30, "read-only mode")
        assert ternlib.fourlw(ens[keep].port, "isro") == "ro"
        ro = KazooClient(hosts=ens[keep].hosts(), read_only=True, timeout=10)
        ro.start(timeout=30)
        try:
            assert ro.client_state == KeeperState.CONNECTED_RO, ro.client_state
            assert ro.get("/ro")[0] == b"before"
            try:
                ro.create("/ro/x", b"")
                raise AssertionError("a write succeeded on a read-only server")
            except NotReadOnlyCallError:
                pass
            for i in others:
                ens[i].start()
            ens.wait_leader(30)
            wait_for(lambda: ro.client_state == KeeperState.CONNECTED, 30,
                     "the client to reconnect read-write")
            ro.retry(ro.create, "/ro/x", b"")
            assert ternlib.fourlw(ens[keep].port, "isro") == "rw"
        finally:
            ro.stop()
            ro.close()


def test_observers():
    # 3 voters + 2 observers: observers serve reads and forward writes, catch
    # up after a restart, and never count toward the quorum
    with Ensemble(TERND, 3, observers=2) as ens:
        assert ens.mode(4) == "observer" and ens.mode(5) == "observer", (ens.mode(4), ens.mode(5))
        zo = client(ens[4].hosts())
        try:
            zo.create("/obs", b"via observer")
            zv = client(ens[1].hosts())
            try:
                zv.sync("/obs")
                assert zv.get("/obs")[0] == b"via observer"
                ens[5].stop()
                for n in range(50):
                    zv.create("/obs/n%02d" % n, b"")
                ens[5].start()
                ens.wait_leader(30)
                z5 = client(ens[5].hosts())
                try:
                    z5.sync("/obs")
                    assert len(z5.get_children("/obs")) == 50
                finally:
                    z5.stop()
                    z5.close()
            finally:
                zv.stop()
                zv.close()
            # two voters down: 1 voter + 2 observers is no quorum
            lead = ens.leader()
            down = [i for i in (1, 2, 3) if i != lead]
            for i in down:
                ens[i].kill()
            wait_for(lambda: ens.mode(4) not in ("observer",), 30, "the observer to stop serving")
            for i in down:
                ens[i].start()
            ens.wait_leader(30)
        finally:
            zo.stop()
            zo.close()


def test_sync_between_pipelined_writes():
    # writes and syncs pipelined on one session, on the leader and on a
    # follower: every reply in order, the sync sees the writes before it
    with Ensemble(TERND, 3) as ens:
        lead = ens.leader()
        fol = [i for i in (1, 2, 3) if i != lead][0]
        for i in (lead, fol):
            zk = client(ens[i].hosts())
            try:
                base = "/p%d" % i
                zk.create(base, b"")
                rs = []
                for n in range(200):
                    rs.append(zk.create_async("%s/a%03d" % (base, n), b""))
                    if n % 20 == 0:
                        rs.append(zk.sync_async(base))
                        rs.append(zk.get_children_async(base))
                for r in rs:
                    r.get(timeout=20)
                assert len(zk.get_children(base)) == 200
            finally:
                zk.stop()
                zk.close()


def test_bad_peer_input():
    # garbage on the quorum and election ports: closed, counted, and the
    # ensemble keeps serving
    if ternlib.is_zk(TERND):
        print("SKIP under Apache ZooKeeper: tern's own peer protocol")
        return
    import socket
    import struct
    with Ensemble(TERND, 3) as ens:
        cfg = open(os.path.join(ens[1].dir, "zoo.cfg")).read()
        ports = []
        for line in cfg.splitlines():
            if line.startswith("server.1="):
                hostpart = line.split("=", 1)[1].split(";")[0]
                ports = [int(x) for x in hostpart.split(":")[1:3]]
        assert ports, cfg
        payloads = [b"GET / HTTP/1.0\r\n\r\n", b"\0" * 64, b"TERNPEER" + struct.pack(">I", 99) + b"\0" * 4,
                    b"TERNPEER" + struct.pack(">I", 0) + b"\1" + b"\0" * 3 + b"\xff" * 32, b"T"]
        if os.environ.get("TERN_PEER_TRANSPORT") == "udp" or ens.dpdk:
            # datagram peers: garbage and forged channel headers (magic "TR",
            # bad crc, unknown incarnations) are counted and dropped
            rnd = __import__("random").Random(7)
            forged = [b"TR\x01\x01" + bytes(rnd.randrange(256) for _ in range(n))
                      for n in (0, 4, 44, 120, 1400)]
            if ens.dpdk:  # the peer ports are on the DPDK addresses (ternlib.DpdkNet)
                ens.dpdk.sendto([(data, 1, port) for port in ports
                                 for data in payloads + forged + [b"\xff" * 9000]])
                ports = []
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                for port in ports:
                    for data in payloads + forged + [b"\xff" * 9000]:
                        u.sendto(data, ("127.0.0.1", port))
            finally:
                u.close()
            ports = []
        for k, port in enumerate(ports):
            for data in payloads[:len(payloads) - k]:  # the short hello (5 s wait) once
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                try:
                    s.sendall(data)
                    s.settimeout(6)
                    try:
                        s.recv(10)  # the server closes it (or the 5 s hello limit does)
                    except OSError:
                        pass
                finally:
                    s.close()
        zk = client(ens.hosts())
        try:
            zk.create("/after-garbage", b"ok")
            zk.sync("/")
            assert zk.get("/after-garbage")[0] == b"ok"
        finally:
            zk.stop()
            zk.close()
        assert ens.leader() is not None


run_tests([
    ("election_on_start", test_election_on_start),
    ("replication_through_every_server", test_replication_through_every_server),
    ("leader_kill_under_writes", test_leader_kill_under_writes),
    ("follower_restart_catches_up", test_follower_restart_catches_up),
    ("session_moves_and_expires", test_session_moves_and_expires),
    ("no_quorum_no_service", test_no_quorum_no_service),
    ("far_behind_learner_gets_snap", test_far_behind_learner_gets_snap),
    ("old_leader_log_truncated", test_old_leader_log_truncated),
    ("read_only_mode", test_read_only_mode),
    ("observers", test_observers),
    ("sync_between_pipelined_writes", test_sync_between_pipelined_writes),
    ("bad_peer_input", test_bad_peer_input),
])
