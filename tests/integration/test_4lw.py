#!/usr/bin/python3
"""Integration: four-letter words on the client port, and the whitelist.

Usage: test_4lw.py TERND
"""
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import ternlib  # noqa: E402

TERND = sys.argv[1]


def t_words():
    with ternlib.Ternd(TERND) as srv:
        assert ternlib.fourlw(srv.port, "ruok") == "imok"
        srvr = ternlib.fourlw(srv.port, "srvr")
        assert "Mode: standalone" in srvr, srvr
        assert "Zxid: 0x" in srvr and "Node count: " in srvr, srvr
        envi = ternlib.fourlw(srv.port, "envi")
        # tern reports itself as 3.9; the reference server here is the 3.8 package
        want = "zookeeper.version=3.8" if ternlib.is_zk(TERND) else "zookeeper.version=3.9"
        assert want in envi, envi
        mntr = ternlib.fourlw(srv.port, "mntr")
        assert "zk_server_state\tstandalone" in mntr, mntr
        # state shows up: a node and a watch made over the wire
        raw = ternlib.Raw(srv.port)
        raw.connect()
        err, _, _ = raw.create("/fourlw", b"x")
        assert err == 0
        # exists with watch
        err, _, _ = raw.request(3, ternlib.Raw.ustr("/fourlw") + b"\1")
        assert err == 0
        wchs = ternlib.fourlw(srv.port, "wchs")
        assert "Total watches:1" in wchs, wchs
        wchc = ternlib.fourlw(srv.port, "wchc")
        assert "/fourlw" in wchc and ("0x%x" % raw.sid) in wchc, wchc
        srvr = ternlib.fourlw(srv.port, "srvr")
        # Apache ZooKeeper counts the root twice (DataTree keys "" and "/"): with
        # /zookeeper, /zookeeper/quota, /zookeeper/config and /fourlw that is 6
        # (ZOOKEEPER.md 2.10); ternd counts the same way.
        assert "Node count: 6" in srvr, srvr
        cons = ternlib.fourlw(srv.port, "cons")
        assert "sid=0x%x" % raw.sid in cons, cons
        raw.close()


def cons_line(cons, sid):
    """The cons line of session @sid as a dict of its key=value fields."""
    for line in cons.splitlines():
        if "sid=0x%x," % sid in line:
            body = line[line.index("(") + 1:line.rindex(")")]
            return dict(kv.split("=", 1) for kv in body.split(","))
    raise AssertionError("no cons line for 0x%x:\n%s" % (sid, cons))


def t_conns():
    """Connections counts every accepted socket; cons has per-connection
    lop/est/latency, as ZooKeeper prints them; crst resets them."""
    import socket
    import struct
    import time
    with ternlib.Ternd(TERND) as srv:
        t0_ms = int(time.time() * 1000)
        idle = socket.create_connection(("127.0.0.1", srv.port), timeout=5)  # no handshake
        raw = ternlib.Raw(srv.port)
        raw.connect()
        # srvr, stat and mntr: the idle socket, the session and the asking socket
        ternlib.wait_for(lambda: "Connections: 3\n" in ternlib.fourlw(srv.port, "srvr"), 10,
                         "srvr Connections: 3")
        stat = ternlib.fourlw(srv.port, "stat")
        assert "Connections: 3\n" in stat, stat
        assert "[0](queued=0,recved=1,sent=0)\n" in stat, stat  # the asking socket
        mntr = ternlib.fourlw(srv.port, "mntr")
        assert "zk_num_alive_connections\t3\n" in mntr, mntr
        port_idle = idle.getsockname()[1]
        cons = ternlib.fourlw(srv.port, "cons")
        assert " /127.0.0.1:%d[1](queued=0,recved=0,sent=0)\n" % port_idle in cons, cons
        f = cons_line(cons, raw.sid)
        assert f["lop"] == "SESS" and f["lcxid"] == "0x0", f  # the new session counts
        est = int(f["est"])
        assert t0_ms - 5000 <= est <= int(time.time() * 1000) + 5000, (est, t0_ms)
        err, zxid, _ = raw.create("/cons", b"x")
        assert err == 0
        err, _, _ = raw.request(4, ternlib.Raw.ustr("/cons") + b"\0")  # getData
        assert err == 0
        f = cons_line(ternlib.fourlw(srv.port, "cons"), raw.sid)
        assert f["lop"] == "GETD", f
        assert f["recved"] == "3" and f["sent"] == "3", f
        assert int(f["lcxid"], 16) == raw.xid and int(f["lzxid"], 16) == zxid, (f, zxid)
        assert int(f["est"]) == est, f
        lat = [int(f[k]) for k in ("minlat", "avglat", "maxlat", "llat")]
        assert lat[0] <= lat[1] <= lat[2] and lat[3] <= lat[2], f
        assert int(f["lresp"]) > 0, f
        assert ternlib.fourlw(srv.port, "crst") == "Connection stats reset.\n"
        cons = ternlib.fourlw(srv.port, "cons")
        f = cons_line(cons, raw.sid)
        assert f["lop"] == "NA" and "lcxid" not in f, f
        assert f["lzxid"] == "0xffffffffffffffff" and f["recved"] == "0" and f["sent"] == "0", f
        assert [f[k] for k in ("lresp", "llat", "minlat", "avglat", "maxlat")] == ["0"] * 5, f
        assert int(f["est"]) == est, f  # crst keeps the established time
        err, _, _ = raw.request(3, ternlib.Raw.ustr("/cons") + b"\0")  # exists
        assert err == 0
        f = cons_line(ternlib.fourlw(srv.port, "cons"), raw.sid)
        assert f["lop"] == "EXIS" and int(f["lcxid"], 16) == raw.xid, f
        assert f["recved"] == "1" and f["sent"] == "1", f
        assert int(f["minlat"]) <= int(f["avglat"]) <= int(f["maxlat"]), f
        # a write is counted when its reply comes back from the sequencer
        err, _, _ = raw.request(5, ternlib.Raw.ustr("/cons") + struct.pack(">i", 1) + b"y" +
                                struct.pack(">i", -1))
        assert err == 0
        f = cons_line(ternlib.fourlw(srv.port, "cons"), raw.sid)
        assert f["lop"] == "SETD" and f["recved"] == "2", f
        idle.close()
        raw.close()


def t_whitelist():
    with ternlib.Ternd(TERND, extra_cfg="4lw.commands.whitelist=srvr, ruok\n") as srv:
        srv_text = ternlib.fourlw(srv.port, "srvr")
        assert "Mode: standalone" in srv_text
        out = ternlib.fourlw(srv.port, "envi")
        assert "not executed because it is not in the whitelist" in out, out


if __name__ == "__main__":
    ternlib.run_tests([("words", t_words), ("conns", t_conns), ("whitelist", t_whitelist)])
