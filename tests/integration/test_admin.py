#!/usr/bin/python3
"""Integration: the admin HTTP server (/commands/*, /metrics) of a real ternd.

Every endpoint must parse as JSON carrying "command" and "error" and match
state made with kazoo; /metrics must parse as Prometheus text and agree with
it; admin.enableServer=false leaves the port closed; a taken port leaves
ternd serving clients; in a 3-server ensemble each server's leader,
voting_view and health agree with the four-letter words.

Usage: test_admin.py TERND
"""
import json
import os
import re
import socket
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

TERND = sys.argv[1]

COMMANDS = ["ruok", "srvr", "server_stats", "stat", "stats", "mntr", "monitor", "conf",
            "configuration", "cons", "connections", "envi", "environment", "wchs",
            "watch_summary", "wchc", "watches", "wchp", "watches_by_path", "dirs", "isro",
            "is_read_only", "dump", "leader", "voting_view", "observers", "last_snapshot",
            "sessions", "health"]


def http(port, path, method="GET", body=None, timeout=10.0):
    """(status, body text) of one request."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def cmd(port, name, method="GET", want_status=200):
    status, text = http(port, "/commands/" + name, method)
    assert status == want_status, (name, status, text)
    o = json.loads(text)
    assert "command" in o and "error" in o, (name, o)
    return o


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? '
                    r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def parse_prometheus(text):
    """{name or name{labels}: value}; asserts the exposition format: every
    sample is `name{labels} value`, HELP and TYPE come before a family's samples."""
    out, helped, typed = {}, set(), {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            parts = line.split()
            assert len(parts) == 4 and parts[3] in ("gauge", "counter", "summary",
                                                    "histogram", "untyped"), line
            assert parts[2] not in typed, "TYPE twice: " + line
            typed[parts[2]] = parts[3]
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        family = re.sub(r"_(sum|count|bucket)$", "", name) if name not in typed else name
        assert family in typed and family in helped, "sample before HELP/TYPE: " + line
        key = name + (m.group(2) or "")
        assert key not in out, "duplicate sample " + key
        out[key] = float(m.group(4))
    return out


def port_open(port):
    s = socket.socket()
    s.settimeout(1.0)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def mntr_value(port, key):
    for line in ternlib.fourlw(port, "mntr").splitlines():
        k, _, v = line.partition("\t")
        if k == "zk_" + key:
            return v
    return None


def admin_cfg(port, extra=""):
    return "admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=%d\n%s" % (
        port, extra)


def t_standalone_endpoints():
    ternlib.need_kazoo()
    aport = ternlib.free_port()
    with ternlib.Ternd(TERND, extra_cfg=admin_cfg(aport)) as srv:
        base = int(cmd(aport, "mntr")["znode_count"])
        status, text = http(aport, "/commands")
        assert status == 200, text
        listed = json.loads(text)["commands"]
        for name in ("leader", "voting_view", "observers", "snapshot", "sessions", "health",
                     "monitor", "watches"):
            assert name in listed, (name, listed)
        zk = ternlib.kazoo_client(srv)
        n = 7
        zk.create("/adm", b"")
        for i in range(n):
            zk.create("/adm/n%d" % i, b"x" * i)
        zk.create("/adm/eph", b"", ephemeral=True)
        fired = []
        zk.get("/adm/n1", watch=fired.append)
        zk.exists("/adm/n2", watch=fired.append)
        sid = zk.client_id[0]
        for name in COMMANDS:
            o = cmd(aport, name)
            if name not in ("leader",):
                assert o["error"] is None, (name, o)
        m = cmd(aport, "monitor")
        assert m["command"] == "monitor"
        assert m["znode_count"] == base + n + 2, (base, m["znode_count"])
        assert m["znode_count"] == int(mntr_value(srv.port, "znode_count"))
        assert m["watch_count"] == 2, m
        assert m["ephemerals_count"] == 1, m
        assert m["global_sessions"] == 1, m
        assert m["num_alive_connections"] >= 1, m
        srvr = cmd(aport, "srvr")
        assert srvr["command"] == "server_stats"
        assert srvr["server_stats"]["server_state"] == "standalone", srvr
        assert srvr["node_count"] == m["znode_count"]
        assert srvr["server_stats"]["last_processed_zxid"] == zk.get("/adm/eph")[1].czxid
        stat = cmd(aport, "stats")
        assert any(c["packets_received"] > 0 for c in stat["connections"]), stat
        cons = cmd(aport, "cons")
        assert sid in [c.get("session_id") for c in cons["connections"]], (sid, cons)
        wchs = cmd(aport, "wchs")
        assert (wchs["num_connections"], wchs["num_paths"], wchs["num_total_watches"]) == \
            (1, 2, 2), wchs
        wchc = cmd(aport, "wchc")["session_id_to_watched_paths"]
        assert sorted(wchc[str(sid)]) == ["/adm/n1", "/adm/n2"], wchc
        wchp = cmd(aport, "wchp")["path_to_session_ids"]
        assert wchp == {"/adm/n1": [sid], "/adm/n2": [sid]}, wchp
        dump = cmd(aport, "dump")["session_id_to_ephemeral_paths"]
        assert dump == {str(sid): ["/adm/eph"]}, dump
        sess = cmd(aport, "sessions")
        assert sess["count"] == 1 and sess["sessions"][0]["session_id"] == sid, sess
        assert sess["sessions"][0]["ephemerals"] == ["/adm/eph"], sess
        conn = [c for c in cons["connections"] if c.get("session_id") == sid][0]
        assert sess["sessions"][0]["timeout"] == conn["session_timeout"] > 0, (sess, conn)
        assert sess["sessions"][0]["connection"] is not None, sess
        conf = cmd(aport, "conf")
        assert conf["client_port"] == srv.port and conf["tick_time"] == 2000, conf
        assert cmd(aport, "isro")["read_only"] is False
        assert cmd(aport, "envi")["zookeeper.version"].startswith("3.9")
        assert cmd(aport, "leader")["error"] == "server is not initialized"
        assert cmd(aport, "voting_view")["current_config"] == {}
        assert cmd(aport, "health")["serving"] is True
        # take a snapshot now; last_snapshot then names it
        zxid = zk.get("/adm/eph")[1].czxid
        snap = cmd(aport, "snapshot", method="POST")
        assert int(snap["zxid"], 16) == zxid, (snap, zxid)
        assert os.path.exists(os.path.join(srv.dir, "data", "version-2",
                                           "snapshot.%016x" % zxid)), snap
        assert int(cmd(aport, "last_snapshot")["zxid"], 16) == zxid
        st, _ = http(aport, "/commands/nosuch")
        assert st == 404
        st, _ = http(aport, "/commands/ruok", method="POST", body=b"x")
        assert st == 405
        st, _ = http(aport, "/commands/snapshot", method="POST", body=b"x" * 100000)
        assert st in (413,), st
        # metrics agree with the same state
        st, text = http(aport, "/metrics")
        assert st == 200
        pm = parse_prometheus(text)
        assert pm["znode_count"] == m["znode_count"], pm["znode_count"]
        assert pm["watch_count"] == 2 and pm["ephemerals_count"] == 1
        assert pm["global_sessions"] == 1 and pm["num_alive_connections"] >= 1
        assert pm["quorum_size"] == 1
        assert pm['tern_server_state{state="standalone"}'] == 1
        assert pm["tern_serving"] == 1
        assert pm["tern_last_zxid"] == zxid
        # each create, the session and the ephemeral are txns in the log
        assert pm["tern_wal_records_total"] >= n + 3, pm["tern_wal_records_total"]
        assert 1 <= pm["tern_wal_batches_total"] <= pm["tern_wal_records_total"]
        assert pm["fsynctime_count"] >= 1 and pm["snapshottime_count"] == 1
        assert pm["packets_received"] >= n + 3
        # the native datagram protocol shares the client port number: garbage is counted
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for _ in range(3):
                u.sendto(b"not a tern datagram", ("127.0.0.1", srv.port))
        ternlib.wait_for(lambda: parse_prometheus(http(aport, "/metrics")[1])
                         .get("tern_udp_bad_total", 0) >= 3, 10.0, "udp garbage counted")
        pmu = parse_prometheus(http(aport, "/metrics")[1])
        assert pmu["tern_udp_rx_total"] >= 3 and pmu["tern_udp_sessions"] == 0, pmu
        zk.delete("/adm/n0")
        pm2 = parse_prometheus(http(aport, "/metrics")[1])
        assert pm2["znode_count"] == pm["znode_count"] - 1
        assert pm2["tern_wal_records_total"] > pm["tern_wal_records_total"]
        zk.stop()
        zk.close()
        ternlib.wait_for(lambda: cmd(aport, "mntr")["global_sessions"] == 0, 10.0,
                         "session closed")
        assert cmd(aport, "sessions")["count"] == 0
        assert cmd(aport, "mntr")["ephemerals_count"] == 0


def t_disabled():
    aport = ternlib.free_port()
    with ternlib.Ternd(TERND, extra_cfg="admin.enableServer=false\nadmin.serverPort=%d\n"
                       % aport) as srv:
        assert ternlib.fourlw(srv.port, "ruok") == "imok"
        assert not port_open(aport), "admin port open with admin.enableServer=false"


def t_port_taken():
    ternlib.need_kazoo()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    aport = blocker.getsockname()[1]
    try:
        with ternlib.Ternd(TERND, extra_cfg=admin_cfg(aport)) as srv:
            zk = ternlib.kazoo_client(srv)
            zk.create("/still-serving", b"ok")
            assert zk.get("/still-serving")[0] == b"ok"
            zk.stop()
            zk.close()
            assert "admin server" in srv.log() and "not started" in srv.log(), srv.log()
    finally:
        blocker.close()


def t_ensemble_views():
    ternlib.need_kazoo()
    ens = ternlib.Ensemble(TERND, n=3)
    aports = {}
    for i in range(1, 4):
        aports[i] = ternlib.free_port()
        ens[i].extra_cfg += admin_cfg(aports[i])
    with ens:
        leader = ens.wait_leader()
        for i in range(1, 4):
            a = aports[i]
            ld = cmd(a, "leader")
            assert ld["error"] is None, ld
            assert ld["leader_id"] == leader, (i, ld, leader)
            assert ld["is_leader"] == (i == leader), (i, ld)
            assert ld["leader_ip"].startswith("127.0.0.1:"), ld
            vv = cmd(a, "voting_view")["current_config"]
            assert sorted(vv) == ["1", "2", "3"], vv
            for sid, e in vv.items():
                assert e["learner_type"] == "participant"
                assert e["client_address"] == "127.0.0.1:%d" % ens[int(sid)].port, e
            h = cmd(a, "health")
            assert h["serving"] is True, h
            mode = ens.mode(i)
            assert cmd(a, "srvr")["server_stats"]["server_state"] == mode
            pm = parse_prometheus(http(a, "/metrics")[1])
            assert pm['tern_server_state{state="%s"}' % mode] == 1
            assert pm["quorum_size"] == 2
        zk = ternlib.kazoo_client(ens[leader])
        for k in range(5):
            zk.create("/e%d" % k, b"v")
        zk.stop()
        zk.close()
        for i in range(1, 4):
            ternlib.wait_for(lambda i=i: cmd(aports[i], "mntr")["znode_count"] ==
                             int(mntr_value(ens[i].port, "znode_count")), 10.0, "znode count")
        # a stopped follower: the others still serve; its admin port is closed
        follower = [i for i in range(1, 4) if i != leader][0]
        ens[follower].stop()
        assert not port_open(aports[follower])
        for i in range(1, 4):
            if i != follower:
                assert cmd(aports[i], "health")["serving"] is True


if __name__ == "__main__":
    ternlib.run_tests([(f.__name__, f) for f in (t_standalone_endpoints, t_disabled,
                                                 t_port_taken, t_ensemble_views)])
