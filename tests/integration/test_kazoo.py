#!/usr/bin/python3
"""Integration: kazoo (python3-kazoo) against a real ternd.

Usage: test_kazoo.py TERND. Covers CRUD, children, sequential and ephemeral
nodes, watches (data, child, exists), multi (incl. a failing one), digest
ACLs and super digest, persistent recursive watches, reconnect with the same
session, whoAmI-free paths of kazoo, and session expiry.
"""
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import ternlib  # noqa: E402

ternlib.need_kazoo()
from kazoo.exceptions import (BadVersionError, NoAuthError, NodeExistsError,  # noqa: E402
                              NoNodeError, NotEmptyError)
from kazoo.security import make_digest_acl  # noqa: E402
from kazoo.protocol.states import EventType  # noqa: E402

TERND = sys.argv[1]
SUPER = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="  # password "test"
srv = ternlib.Ternd(TERND, extra_cfg="DigestAuthenticationProvider.superDigest=%s\n" % SUPER)


def t_crud():
    zk = ternlib.kazoo_client(srv)
    try:
        assert zk.create("/crud", b"v1") == "/crud"
        data, st = zk.get("/crud")
        assert data == b"v1" and st.version == 0 and st.dataLength == 2
        st2 = zk.set("/crud", b"v2")
        assert st2.version == 1 and st2.mzxid > st.mzxid
        try:
            zk.set("/crud", b"v3", version=0)
            raise AssertionError("bad version accepted")
        except BadVersionError:
            pass
        try:
            zk.create("/crud", b"")
            raise AssertionError("duplicate create accepted")
        except NodeExistsError:
            pass
        zk.create("/crud/c1", b"")
        zk.create("/crud/c2", None)
        assert sorted(zk.get_children("/crud")) == ["c1", "c2"]
        data, st = zk.get("/crud/c2")
        assert data in (b"", None) and st.dataLength == 0, (data, st)
        try:
            zk.delete("/crud")
            raise AssertionError("delete of a non-empty node accepted")
        except NotEmptyError:
            pass
        zk.delete("/crud", recursive=True)
        assert zk.exists("/crud") is None
        try:
            zk.get("/crud")
            raise AssertionError("get of a deleted node worked")
        except NoNodeError:
            pass
        assert "zookeeper" in zk.get_children("/")
        assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
        assert zk.sync("/zookeeper") == "/zookeeper"
        zk.ensure_path("/deep/er/path")
        assert zk.exists("/deep/er/path") is not None
    finally:
        zk.stop()
        zk.close()


def t_sequential_ephemeral():
    a = ternlib.kazoo_client(srv)
    b = ternlib.kazoo_client(srv)
    try:
        a.create("/seq", b"")
        p1 = a.create("/seq/n-", b"", sequence=True)
        p2 = a.create("/seq/n-", b"", sequence=True)
        assert p1 == "/seq/n-0000000000" and p2 == "/seq/n-0000000001", (p1, p2)
        a.create("/seq/eph", b"x", ephemeral=True)
        st = b.exists("/seq/eph")
        assert st is not None and st.ephemeralOwner == a.client_id[0]
        a.stop()
        a.close()
        ternlib.wait_for(lambda: b.exists("/seq/eph") is None, 10, "ephemeral to vanish")
        assert sorted(b.get_children("/seq")) == ["n-0000000000", "n-0000000001"]
    finally:
        for z in (a, b):
            z.stop()
            z.close()


def t_watches():
    zk = ternlib.kazoo_client(srv)
    other = ternlib.kazoo_client(srv)
    events = []
    cv = threading.Condition()

    def w(ev):
        with cv:
            events.append((ev.type, ev.path))
            cv.notify_all()

    def expect(n):
        with cv:
            deadline = time.time() + 10
            while len(events) < n and time.time() < deadline:
                cv.wait(0.2)
        assert len(events) >= n, events

    try:
        zk.create("/w", b"")
        zk.get("/w", watch=w)
        other.set("/w", b"new")
        expect(1)
        assert events[0] == (EventType.CHANGED, "/w"), events
        zk.get_children("/w", watch=w)
        other.create("/w/kid", b"")
        expect(2)
        assert events[1] == (EventType.CHILD, "/w"), events
        assert zk.exists("/w/nothing", watch=w) is None
        other.create("/w/nothing", b"")
        expect(3)
        assert events[2] == (EventType.CREATED, "/w/nothing"), events
        zk.exists("/w/nothing", watch=w)
        other.delete("/w/nothing")
        expect(4)
        assert events[3] == (EventType.DELETED, "/w/nothing"), events
        # on the wire, a watch event comes before the reply of the write that
        # fired it (kazoo runs callbacks on another thread: check with Raw)
        import struct
        raw = ternlib.Raw(srv.port)
        raw.connect()
        err, _, _ = raw.request(4, ternlib.Raw.ustr("/w") + b"\1")
        assert err == 0 and not raw.events
        body = ternlib.Raw.ustr("/w") + struct.pack(">i", 4) + b"mine" + struct.pack(">i", -1)
        err, _, _ = raw.request(5, body)
        assert err == 0 and raw.events == [(3, 3, "/w")], raw.events
        raw.close()
    finally:
        for z in (zk, other):
            z.stop()
            z.close()


def t_multi():
    zk = ternlib.kazoo_client(srv)
    try:
        zk.create("/m", b"")
        t = zk.transaction()
        t.create("/m/a", b"1")
        t.create("/m/b", b"2")
        t.set_data("/m", b"top")
        t.check("/m", 1)
        res = t.commit()
        assert res[0] == "/m/a" and res[1] == "/m/b", res
        assert zk.get("/m")[0] == b"top"
        t = zk.transaction()
        t.create("/m/c", b"")
        t.delete("/m/missing")
        t.create("/m/d", b"")
        res = t.commit()
        assert isinstance(res[1], NoNodeError), res
        assert zk.exists("/m/c") is None and zk.exists("/m/d") is None
        assert sorted(zk.get_children("/m")) == ["a", "b"]
    finally:
        zk.stop()
        zk.close()


def t_acl_digest():
    owner = ternlib.kazoo_client(srv, auth_data=[("digest", "alice:secret")])
    anon = ternlib.kazoo_client(srv)
    sup = ternlib.kazoo_client(srv, auth_data=[("digest", "super:test")])
    try:
        acl = make_digest_acl("alice", "secret", all=True)
        owner.create("/acl", b"private", acl=[acl])
        assert owner.get("/acl")[0] == b"private"
        try:
            anon.get("/acl")
            raise AssertionError("read without auth worked")
        except NoAuthError:
            pass
        try:
            anon.set("/acl", b"x")
            raise AssertionError("write without auth worked")
        except NoAuthError:
            pass
        anon.add_auth("digest", "alice:secret")
        assert anon.get("/acl")[0] == b"private"
        assert sup.get("/acl")[0] == b"private"
        acls, _ = owner.get_acls("/acl")
        assert acls[0].id.scheme == "digest" and acls[0].id.id.startswith("alice:")
    finally:
        for z in (owner, anon, sup):
            z.stop()
            z.close()


def t_recursive_watch():
    zk = ternlib.kazoo_client(srv)
    other = ternlib.kazoo_client(srv)
    if not hasattr(zk, "add_watch"):
        print("kazoo has no add_watch: recursive watch not tested")
        return
    from kazoo.protocol.states import AddWatchMode
    got = []
    try:
        zk.create("/r", b"")
        zk.add_watch("/r", lambda ev: got.append((ev.type, ev.path)),
                     AddWatchMode.PERSISTENT_RECURSIVE)
        other.create("/r/x", b"")
        other.create("/r/x/y", b"")
        other.set("/r/x/y", b"1")
        other.delete("/r/x/y")
        ternlib.wait_for(lambda: len(got) >= 4, 10, "recursive events")
        assert got[:4] == [(EventType.CREATED, "/r/x"), (EventType.CREATED, "/r/x/y"),
                           (EventType.CHANGED, "/r/x/y"), (EventType.DELETED, "/r/x/y")], got
    finally:
        for z in (zk, other):
            z.stop()
            z.close()


def t_reconnect_same_session():
    """A client whose connection dies reconnects with id and password and
    keeps its session and ephemerals; closing it then removes them."""
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", """
import sys, time
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=30)
zk.start(timeout=10)
zk.create("/rc", b"", ephemeral=True)
print("%x %s" % (zk.client_id[0], zk.client_id[1].hex()), flush=True)
time.sleep(60)
""", srv.hosts()], stdout=subprocess.PIPE, text=True)
    try:
        sid_hex, pw_hex = child.stdout.readline().split()
        sid, pw = int(sid_hex, 16), bytes.fromhex(pw_hex)
        child.kill()  # the connection drops; the session lives on
        child.wait(10)
        b = ternlib.kazoo_client(srv, client_id=(sid, pw))
        try:
            assert b.client_id[0] == sid
            assert b.exists("/rc").ephemeralOwner == sid
        finally:
            b.stop()  # closes the session: the ephemeral goes
            b.close()
        c = ternlib.kazoo_client(srv)
        try:
            ternlib.wait_for(lambda: c.exists("/rc") is None, 10, "ephemeral after close")
        finally:
            c.stop()
            c.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def t_session_expiry():
    """A client that dies without closeSession: its session expires and its
    ephemerals go after the negotiated timeout."""
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", """
import sys, time
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=4)
zk.start(timeout=10)
zk.create("/exp", b"", ephemeral=True)
print(hex(zk.client_id[0]), flush=True)
time.sleep(60)
""", srv.hosts()], stdout=subprocess.PIPE, text=True)
    other = ternlib.kazoo_client(srv)
    try:
        line = child.stdout.readline()
        assert line.startswith("0x"), line
        assert other.exists("/exp") is not None
        child.kill()
        child.wait(10)
        t0 = time.time()
        ternlib.wait_for(lambda: other.exists("/exp") is None, 20, "expiry of " + line.strip())
        assert time.time() - t0 >= 2.0, "expired too early"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        other.stop()
        other.close()


if __name__ == "__main__":
    with srv:
        ternlib.run_tests([
            ("crud", t_crud),
            ("sequential_ephemeral", t_sequential_ephemeral),
            ("watches", t_watches),
            ("multi", t_multi),
            ("acl_digest", t_acl_digest),
            ("recursive_watch", t_recursive_watch),
            ("reconnect_same_session", t_reconnect_same_session),
            ("session_expiry", t_session_expiry),
        ])
