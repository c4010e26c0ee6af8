#!/usr/bin/python3
"""Integration: a session sees a watch event before any read showing the change.

Usage: test_watch_order.py TERND (or "zookeeper").

ZooKeeper's guarantee: a client that holds a data watch on a znode receives
the watch event before it receives any read reply showing the data changed by
the txn that fired the watch. Raw-socket clients make the order exact: replies
and events arrive in order on one TCP stream.

WATCHERS sessions each keep a data watch on /wo and keep READ_DEPTH getData
requests (no watch) pipelined on /wo all the time, while a writer session sets
/wo again and again. A watcher whose read reply shows a version newer than the
one its watch was armed at, with no event received since arming, is a
violation. Many watchers on one key widen the server's window between applying
a txn and queueing the last watcher's event, so a server that serves reads in
that window is caught within a few hundred writes. Every wait is bounded.
"""
import os
import selectors
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

TERND = sys.argv[1]
WATCHERS = 64
READ_DEPTH = 4        # plain reads in flight per watcher
WRITES = 400          # setData calls by the writer
DEADLINE_S = 90.0     # the whole run, bounded
PATH = "/wo"
OP_GETDATA, OP_SETDATA = 4, 5


def frame(xid, op, body):
    payload = struct.pack(">ii", xid, op) + body
    return struct.pack(">i", len(payload)) + payload


def get_body(watch):
    return ternlib.Raw.ustr(PATH) + (b"\1" if watch else b"\0")


class Watcher:
    """One session on a non-blocking socket; replies are matched in order."""

    def __init__(self, port):
        raw = ternlib.Raw(port, timeout=10.0)
        raw.connect(timeout_ms=30000)
        self.raw, self.s = raw, raw.s
        self.s.setblocking(False)
        self.buf = b""
        self.out = b""
        self.xid = 0
        self.inflight = []         # (xid, is_watch) in send order
        self.armed = False          # a watch reply came back: the watch is set
        self.arming = False         # a watch request is in flight
        self.armed_ver = -1
        self.events = 0
        self.reads = 0
        self.violations = []

    def send(self, watch):
        self.xid += 1
        self.inflight.append((self.xid, watch))
        self.out += frame(self.xid, OP_GETDATA, get_body(watch))
        if watch:
            self.arming = True

    def top_up(self):
        # one watch request whenever no watch is set or being set, then reads
        if not self.armed and not self.arming:
            self.send(True)
        while len(self.inflight) < READ_DEPTH + 1:
            self.send(False)

    def flush(self):
        while self.out:
            try:
                n = self.s.send(self.out)
            except BlockingIOError:
                return
            self.out = self.out[n:]

    def on_frame(self, f):
        xid, zxid, err = struct.unpack(">iqi", f[:16])
        if xid == -1:   # watch event: (type, state, path)
            etype, = struct.unpack(">i", f[16:20])
            if etype == 3 and self.armed:   # NodeDataChanged
                self.events += 1
                self.armed = False
            return
        if xid == -2:
            return
        want, watch = self.inflight.pop(0)
        assert xid == want, "reply xid %d, expected %d" % (xid, want)
        assert err == 0, "getData error %d" % err
        dlen, = struct.unpack(">i", f[16:20])
        stat = f[20 + max(dlen, 0):]
        mzxid, = struct.unpack(">q", stat[8:16])
        version, = struct.unpack(">i", stat[32:36])
        self.reads += 1
        if watch:
            self.arming = False
            self.armed = True
            self.armed_ver = version
        elif self.armed and version > self.armed_ver:
            self.violations.append((self.raw.sid, self.armed_ver, version, mzxid))

    def on_readable(self):
        try:
            d = self.s.recv(1 << 16)
        except BlockingIOError:
            return
        if not d:
            raise AssertionError("server closed watcher 0x%x" % self.raw.sid)
        self.buf += d
        while len(self.buf) >= 4:
            n, = struct.unpack(">i", self.buf[:4])
            if len(self.buf) < 4 + n:
                break
            self.on_frame(self.buf[4:4 + n])
            self.buf = self.buf[4 + n:]


def writer(port, stop, result):
    raw = ternlib.Raw(port, timeout=10.0)
    try:
        raw.connect(timeout_ms=30000)
        for i in range(WRITES):
            if stop.is_set():
                break
            body = ternlib.Raw.ustr(PATH) + struct.pack(">i", 8) + struct.pack(">q", i)
            err, _, _ = raw.request(OP_SETDATA, body + struct.pack(">i", -1))
            assert err == 0, "setData error %d" % err
            result["writes"] = i + 1
            time.sleep(0.002)   # let the watchers re-arm between writes
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        result["error"] = repr(e)
    finally:
        raw.close()
        stop.set()


def t_event_before_read():
    cfg = "maxClientCnxns=0\n" + ("" if ternlib.is_zk(TERND) else "forceSync=no\n")
    with ternlib.Ternd(TERND, extra_cfg=cfg) as srv:
        setup = ternlib.Raw(srv.port)
        setup.connect()
        assert setup.create(PATH, b"0")[0] == 0
        watchers = [Watcher(srv.port) for _ in range(WATCHERS)]
        sel = selectors.DefaultSelector()
        for w in watchers:
            sel.register(w.s, selectors.EVENT_READ, w)
            w.top_up()
            w.flush()
        # every watch armed before the first write, so the first writes count
        ternlib.wait_for(lambda: all(step(sel) or w.armed for w in watchers), 20,
                         "watches armed")
        stop, result = threading.Event(), {"writes": 0}
        th = threading.Thread(target=writer, args=(srv.port, stop, result))
        th.start()
        deadline = time.time() + DEADLINE_S
        try:
            while not stop.is_set() and time.time() < deadline:
                step(sel)
                for w in watchers:
                    w.top_up()
                    w.flush()
        finally:
            stop.set()
            th.join(30)
        assert "error" not in result, result["error"]
        violations = [v for w in watchers for v in w.violations]
        events = sum(w.events for w in watchers)
        reads = sum(w.reads for w in watchers)
        print("writes %d, reads %d, events %d, violations %d" % (
            result["writes"], reads, events, len(violations)))
        for sid, armed, seen, mzxid in violations[:10]:
            print("  session 0x%x: watch armed at version %d, read showed version %d "
                  "(mzxid 0x%x) before its event" % (sid, armed, seen, mzxid))
        assert result["writes"] >= WRITES // 2, "writer too slow: %d writes" % result["writes"]
        assert events > 0, "no watch events at all"
        assert not violations, "%d reads showed new data before the watch event" % len(
            violations)
        for w in watchers:
            w.raw.close()
        setup.close()


def step(sel):
    """Read whatever arrived (bounded wait); False so it composes in wait_for."""
    for key, _ in sel.select(timeout=0.05):
        key.data.on_readable()
    return False


if __name__ == "__main__":
    ternlib.run_tests([("event_before_read", t_event_before_read)])
