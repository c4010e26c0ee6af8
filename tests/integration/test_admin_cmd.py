#!/usr/bin/python3
"""Integration: `tern metrics`, `tern snapshot`, `tern admin` against real
ternd processes, checked against state made with kazoo.

- standalone: N znodes, W watches, S sessions -> `tern metrics --json`,
  `tern admin ...` and /metrics report exactly those; per-worker reads and
  writes count exactly the requests sent; `tern snapshot` makes a new
  snapshot file appear in dataDir at the server's zxid;
- admin.enableServer=false -> each command exits 1 with a clear error;
- a 3-voter + 1-observer ensemble: the leader reports lag for every learner;
  a stopped follower's lag is exactly the writes it missed and its age
  grows; after writes stop every lag (leader's view and each learner's own)
  drops to 0; the admin commands answer on every server.

Usage: test_admin_cmd.py TERND TERN
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

TERND = sys.argv[1]
TERN = sys.argv[2]
CLI_TIMEOUT = 60.0  # a bound on one CLI run, generous for a loaded machine


def tern(aport, *args, want_rc=0):
    """Run `tern --server 127.0.0.1:APORT ARGS...`; return (stdout, stderr)."""
    server = "127.0.0.1:%d" % aport if isinstance(aport, int) else aport
    p = subprocess.run([TERN, "--server", server] + list(args), capture_output=True,
                       text=True, timeout=CLI_TIMEOUT)
    assert p.returncode == want_rc, (args, p.returncode, p.stdout, p.stderr)
    return p.stdout, p.stderr


def tern_json(aport, *args):
    return json.loads(tern(aport, "--json", *args)[0])


def admin(aport, name, *kv):
    o = json.loads(tern(aport, "admin", name, *kv)[0])
    assert o["command"] and o["error"] is None, o
    return o


def metrics_one(aport):
    v = tern_json(aport, "metrics")
    assert len(v) == 1 and v[0]["up"] is True, v
    return v[0]


def prom(aport):
    """{sample with labels: value} of `tern metrics --raw`."""
    out = {}
    for line in tern(aport, "metrics", "--raw")[0].splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def worker_totals(m):
    return (sum(w["reads"] for w in m["workers"]), sum(w["writes"] for w in m["workers"]))


def admin_cfg(port):
    return ("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=%d\n"
            % port)


def t_standalone():
    ternlib.need_kazoo()
    aport = ternlib.free_port()
    with ternlib.Ternd(TERND, extra_cfg=admin_cfg(aport) + "tern.workers=2\n") as srv:
        base = metrics_one(aport)
        assert base["mode"] == "standalone" and base["serving"] is True, base
        assert len(base["workers"]) == 2 and base["peers"] == [], base
        S, N = 3, 5
        zks = [ternlib.kazoo_client(srv) for _ in range(S)]
        zks[0].create("/cli", b"")
        for i in range(N):
            zks[0].create("/cli/n%d" % i, b"v%d" % i)
        zks[1].create("/cli/eph", b"", ephemeral=True)
        # W = 4 watches: two data watches, one exists watch, one child watch
        zks[0].get("/cli/n0", watch=lambda e: None)
        zks[0].get("/cli/n1", watch=lambda e: None)
        zks[1].exists("/cli/n2", watch=lambda e: None)
        zks[2].get_children("/cli", watch=lambda e: None)
        W = 4
        m = metrics_one(aport)
        assert m["znode_count"] == base["znode_count"] + N + 2, (base, m)
        assert m["watch_count"] == W, m
        assert m["sessions"] == S, m
        assert m["connections"] == S, m
        assert m["outstanding_requests"] == 0, m
        last = zks[1].exists("/cli/eph").czxid
        assert int(m["zxid"], 16) == last, (m["zxid"], last)
        assert m["wal_batch_max"] >= 1 and m["wal_batch_avg"] >= 1, m
        # the same numbers from the admin commands and /metrics
        mon = admin(aport, "monitor")
        assert (mon["znode_count"], mon["watch_count"], mon["global_sessions"]) == \
            (m["znode_count"], W, S), mon
        assert admin(aport, "wchs")["num_total_watches"] == W
        sess = admin(aport, "sessions")
        assert sess["count"] == S, sess
        assert sorted(s["session_id"] for s in sess["sessions"]) == \
            sorted(z.client_id[0] for z in zks), sess
        wc = admin(aport, "watches")["session_id_to_watched_paths"]
        assert sorted(wc[str(zks[0].client_id[0])]) == ["/cli/n0", "/cli/n1"], wc
        wp = admin(aport, "watches_by_path")["path_to_session_ids"]
        assert sorted(wp) == ["/cli", "/cli/n0", "/cli/n1", "/cli/n2"], wp
        pm = prom(aport)
        assert pm["znode_count"] == m["znode_count"] and pm["watch_count"] == W, pm
        assert pm["global_sessions"] == S
        for k in ("tern_worker_reads_total", "tern_worker_writes_total",
                  "tern_worker_ring_depth", "tern_worker_ring_depth_max"):
            assert '%s{worker="0"}' % k in pm and '%s{worker="1"}' % k in pm, k
        assert "tern_ctl_ring_depth" in pm and "tern_wal_batch_records_max" in pm
        # the fsync histogram: cumulative buckets, as many fsyncs as fsynctime counts
        h = "tern_wal_fsync_duration_seconds"
        les = sorted((float(k.split('"')[1]), v) for k, v in pm.items()
                     if k.startswith(h + "_bucket") and "+Inf" not in k)
        assert len(les) == 19 and all(a[1] <= b[1] for a, b in zip(les, les[1:])), les
        assert pm[h + '_bucket{le="+Inf"}'] == pm[h + "_count"] == pm["fsynctime_count"] >= N
        assert 0 < m["fsync_p99_ms_le"] <= 16e-3 * 2 ** 18, m
        # per-worker ops: exactly the reads and writes sent now
        r0, w0 = worker_totals(metrics_one(aport))
        for i in range(4):
            zks[2].get("/cli/n%d" % i)
        zks[2].exists("/cli/nosuch")
        zks[2].set("/cli/n4", b"new")
        zks[2].delete("/cli/n3")
        r1, w1 = worker_totals(metrics_one(aport))
        assert (r1 - r0, w1 - w0) == (5, 2), (r0, w0, r1, w1)
        # the human summary names the same numbers
        text = tern(aport, "metrics")[0]
        assert "standalone" in text and "znodes=%d" % (m["znode_count"] - 1) in text, text
        assert "watches=" in text and "sessions=%d" % S in text, text
        # tern snapshot: a new file at the current zxid
        vdir = os.path.join(srv.dir, "data", "version-2")
        before = set(f for f in os.listdir(vdir) if f.startswith("snapshot."))
        zxid = zks[2].exists("/cli/n4").mzxid + 1  # the delete after the set
        out = tern(aport, "snapshot")[0]
        mm = re.search(r"zxid=0x([0-9a-f]+) file=(\S+)", out)
        assert mm, out
        assert int(mm.group(1), 16) == zxid, (out, zxid)
        assert mm.group(2) == os.path.join(vdir, "snapshot.%016x" % zxid), out
        after = set(f for f in os.listdir(vdir) if f.startswith("snapshot."))
        assert after - before == {"snapshot.%016x" % zxid}, (before, after)
        js = tern_json(aport, "snapshot")
        assert int(js[0]["zxid"], 16) == zxid and os.path.exists(js[0]["file"]), js
        assert int(admin(aport, "last_snapshot")["zxid"], 16) == zxid
        # errors: an unknown command, a bad parameter form
        _, err = tern(aport, "admin", "nosuch", want_rc=1)
        assert "Unknown command: nosuch" in err, err
        tern(aport, "admin", "monitor", "novalue", want_rc=2)
        # parameters travel percent-encoded in the query string
        assert admin(aport, "health", "x=a b&c", "y=2")["serving"] is True
        for z in zks:
            z.stop()
            z.close()
        ternlib.wait_for(lambda: metrics_one(aport)["sessions"] == 0, 20.0, "sessions closed")
        m = metrics_one(aport)
        assert m["watch_count"] == 0 and m["connections"] == 0, m


def t_disabled():
    aport = ternlib.free_port()
    with ternlib.Ternd(TERND, extra_cfg="admin.enableServer=false\nadmin.serverPort=%d\n"
                       % aport) as srv:
        assert ternlib.fourlw(srv.port, "ruok") == "imok"
        for args in (["metrics"], ["snapshot"], ["admin", "monitor"], ["metrics", "--raw"]):
            out, err = tern(aport, *args, want_rc=1)
            assert "admin server unreachable" in err and "admin.enableServer" in err, (args, err)
            assert "127.0.0.1:%d" % aport in err, err
        # a list of servers: each one's error is reported, nothing is invented
        out, err = tern("127.0.0.1:%d,127.0.0.1:%d" % (aport, aport), "--json", "metrics",
                        want_rc=1)
        assert json.loads(out) == [], out
        assert err.count("admin server unreachable") == 2, err


def lags_zero(aport, ids):
    peers = {p["sid"]: p for p in metrics_one(aport)["peers"]}
    return sorted(peers) == sorted(ids) and all(
        p["synced"] and p["lag_txns"] == 0 and p["lag_ms"] == 0 for p in peers.values())


def t_ensemble_lag():
    ternlib.need_kazoo()
    # tick 500: syncLimit (5 ticks) gives a stopped follower 2.5 s before it is dropped
    ens = ternlib.Ensemble(TERND, n=3, observers=1, tick=500)
    aports = {}
    for i in range(1, 5):
        aports[i] = ternlib.free_port()
        ens[i].extra_cfg += admin_cfg(aports[i])
    with ens:
        leader = ens.wait_leader()
        learners = [i for i in range(1, 5) if i != leader]
        ternlib.wait_for(lambda: lags_zero(aports[leader], learners), 30.0, "learners synced")
        m = metrics_one(aports[leader])
        kinds = {p["sid"]: p["type"] for p in m["peers"]}
        assert kinds == {i: "observer" if i == 4 else "participant" for i in learners}, m
        assert m["mode"] == "leader" and m["proposals_in_flight"] == 0, m
        pm = prom(aports[leader])
        for i in learners:
            t = "observer" if i == 4 else "participant"
            for k in ("tern_peer_lag_txns", "tern_peer_lag_ms", "tern_peer_zxid"):
                assert '%s{peer="%d",type="%s"}' % (k, i, t) in pm, (k, i)
        # every learner sees its leader, caught up
        for i in learners:
            ternlib.wait_for(lambda i=i: lags_zero(aports[i], [leader]), 30.0,
                             "learner %d caught up" % i)
        # the admin commands answer on every server
        for i in range(1, 5):
            for name in ("leader", "voting_view", "observers", "watches", "sessions",
                         "health"):
                o = admin(aports[i], name)
                assert o["command"] == name, o
            assert admin(aports[i], "leader")["leader_id"] == leader
        obs = admin(aports[leader], "observers")["observers"]
        assert [o["sid"] for o in obs] == [4] and obs[0]["synced"] is True, obs
        assert "lag_txns" in obs[0] and "lag_ms" in obs[0], obs
        # a stopped follower misses exactly K writes; its lag says so
        zk = ternlib.kazoo_client(ens[leader])
        zk.create("/lag", b"")
        ternlib.wait_for(lambda: lags_zero(aports[leader], learners), 30.0, "caught up")
        stopped = [i for i in learners if i != 4][0]
        K = 10
        ens[stopped].proc.send_signal(signal.SIGSTOP)
        try:
            for k in range(K):
                zk.create("/lag/n%d" % k, b"x")
            time.sleep(0.3)  # the published view may be a few tens of ms old
            peers = {p["sid"]: p for p in metrics_one(aports[leader])["peers"]}
            assert peers[stopped]["lag_txns"] == K, peers
            assert peers[stopped]["lag_ms"] >= 100, peers
        finally:
            ens[stopped].proc.send_signal(signal.SIGCONT)
        # writes have stopped: every lag drops to 0, on the leader and on each learner
        ternlib.wait_for(lambda: lags_zero(aports[leader], learners), 30.0, "lag back to 0")
        for i in learners:
            ternlib.wait_for(lambda i=i: lags_zero(aports[i], [leader]), 30.0,
                             "learner %d lag 0" % i)
            assert metrics_one(aports[i])["znode_count"] == \
                metrics_one(aports[leader])["znode_count"]
        # tern snapshot on every member: a file at that member's zxid in its dataDir
        for i in range(1, 5):
            js = tern_json(aports[i], "snapshot")
            assert int(js[0]["zxid"], 16) == ens.zxid(i), (i, js)
            assert js[0]["file"].startswith(ens[i].dir) and os.path.exists(js[0]["file"]), js
        text = tern(",".join("127.0.0.1:%d" % aports[i] for i in range(1, 5)), "metrics")[0]
        assert text.count("peer ") == 3 + 3, text  # leader: 3 learners; each learner: 1
        zk.stop()
        zk.close()


if __name__ == "__main__":
    ternlib.run_tests([(f.__name__, f) for f in (t_standalone, t_disabled, t_ensemble_lag)])
