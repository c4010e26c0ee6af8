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


def t_whitelist():
    with ternlib.Ternd(TERND, extra_cfg="4lw.commands.whitelist=srvr, ruok\n") as srv:
        srv_text = ternlib.fourlw(srv.port, "srvr")
        assert "Mode: standalone" in srv_text
        out = ternlib.fourlw(srv.port, "envi")
        assert "not executed because it is not in the whitelist" in out, out


if __name__ == "__main__":
    ternlib.run_tests([("words", t_words), ("whitelist", t_whitelist)])
