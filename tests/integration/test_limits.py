#!/usr/bin/python3
"""Integration: resource limits under hostile or careless clients.

- A client that pipelines thousands of reads of a 100 KB node and never
  reads its replies must not make ternd buffer the replies without bound
  (RSS from /proc/PID/status stays bounded), and other clients are served.
  One that merely pauses (a ~40 MB backlog) later gets every reply, in order.
- Thousands of idle connections (half after a ConnectRequest, half silent)
  do not stop a new client from connecting and working quickly.
- A truncated frame followed by close, and a request sent before the
  ConnectRequest, close only that connection.

Usage: test_limits.py TERND
"""
import os
import resource
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

ternlib.need_kazoo()
TERND = sys.argv[1]
# under ASan, freed memory sits in a quarantine (256 MB by default) and
# would count as growth; keep it small so the RSS bound means the same
_asan = os.environ.get("ASAN_OPTIONS", "")
srv = ternlib.Ternd(TERND, extra_cfg="maxClientCnxns=0\n",
                    env={"ASAN_OPTIONS": (_asan + ":" if _asan else "") + "quarantine_size_mb=16"})

BIG = 100 * 1024
FLOOD_N = 20000
RSS_BOUND_KB = 300 * 1024  # 20,000 unbuffered replies would be ~2 GB
IDLE_N = 1000  # of each kind


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def closed(sock, timeout=5.0):
    """True if the server closed the connection (EOF or reset) in time."""
    sock.settimeout(timeout)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def connections():
    """The server's open client connection count, from the stat word."""
    for line in ternlib.fourlw(srv.port, "stat", 3.0).splitlines():
        if line.startswith("Connections:"):
            return int(line.split()[1])
    raise AssertionError("no Connections: line in stat")


BASE = []  # connections() with only the main kazoo client open


def settles(what):
    """Wait (bounded) until the server has released every extra connection,
    so that each test starts and ends with only the main client."""
    n, deadline = -1, time.time() + 10
    while time.time() < deadline:
        n = connections()
        if n == BASE[0]:
            return
        time.sleep(0.05)
    raise AssertionError("%s: %d connections, want %d" % (what, n, BASE[0]))


def get_data_frame(xid, path):
    p = struct.pack(">ii", xid, 4) + ternlib.Raw.ustr(path) + b"\0"
    return struct.pack(">i", len(p)) + p


def kz_create_get(zk, path, want):
    """One create and one get, each failing after 10 s rather than hanging
    (kazoo's synchronous calls wait forever when a server starves them)."""
    zk.create_async(path, b"x", sequence=True).get(timeout=10)
    data, _ = zk.get_async("/big").get(timeout=10)
    assert data == want, len(data)


def send_bounded(sock, data, seconds):
    """Send as much of data as the server accepts within seconds; return
    the byte count (the server may rightly stop reading)."""
    sock.setblocking(False)
    sent, deadline = 0, time.time() + seconds
    while sent < len(data) and time.time() < deadline:
        try:
            sent += sock.send(data[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
    return sent


def t_unread_replies(zk):
    settles("before")
    pid = srv.proc.pid
    zk.create("/big", b"b" * BIG)
    before = rss_kb(pid)
    stuck = ternlib.Raw(srv.port)
    stuck.connect(timeout_ms=40000)
    # a small receive buffer so the kernel cannot hide the backlog for us
    stuck.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    frames = b"".join(get_data_frame(i + 1, "/big") for i in range(FLOOD_N))
    box, done = {"peak": before}, threading.Event()

    def sample():  # every 5 ms, so a short-lived backlog is still seen
        for _ in range(6000):
            box["peak"] = max(box["peak"], rss_kb(pid))
            if done.wait(0.005):
                return
    sampler = threading.Thread(target=sample)
    sampler.start()
    sender = threading.Thread(target=lambda: box.update(sent=send_bounded(stuck.s, frames, 15)))
    sender.start()
    ops, deadline = 0, time.time() + 20
    try:
        while (sender.is_alive() or ops < 50) and time.time() < deadline:
            kz_create_get(zk, "/flood-", b"b" * BIG)
            ops += 1
        sender.join(20)
        assert not sender.is_alive(), "sender thread did not finish"
        time.sleep(1)  # give the server a moment more to (not) grow
    finally:
        done.set()
        sampler.join(10)
    peak = box["peak"]
    grown = peak - before
    # either outcome is fine: ternd caps a connection's reply backlog (64 MB)
    print("  stuck connection %s" % (
        "closed by the server" if closed(stuck.s, 0.5) else "still open"))
    print("  unread replies: sent %d of %d bytes (%d requests), RSS %d -> peak %d KB "
          "(+%d KB), %d kazoo round trips meanwhile" % (
              box.get("sent", -1), len(frames), box.get("sent", 0) // (len(frames) // FLOOD_N),
              before, peak,
              grown, ops))
    assert grown < RSS_BOUND_KB, (
        "ternd buffers replies for a client that never reads: RSS grew by %d MB "
        "(bound %d MB)" % (grown // 1024, RSS_BOUND_KB // 1024))
    assert ops >= 50, "kazoo client starved: only %d round trips" % ops
    stuck.close()
    fresh = ternlib.kazoo_client(srv)
    try:
        fresh.set("/big", b"small")
        assert fresh.get("/big")[0] == b"small"
        assert len(fresh.get_children("/")) >= 50
    finally:
        fresh.stop()
        fresh.close()
    settles("after the stuck client")
    assert srv.proc.poll() is None, "ternd died"


def t_slow_reader(zk):
    """A client that stops reading with a backlog under any sane cap (400
    replies, ~40 MB) keeps its connection; when it reads again, every
    reply arrives, in order and intact."""
    n = 400
    zk.set("/big", b"s" * BIG)
    slow = ternlib.Raw(srv.port, timeout=20)
    slow.connect(timeout_ms=40000)
    slow.s.sendall(b"".join(get_data_frame(i + 1, "/big") for i in range(n)))
    for i in range(20):  # others are served while the backlog sits there
        kz_create_get(zk, "/slow-", b"s" * BIG)
    time.sleep(0.5)
    slow.s.setblocking(True)
    slow.s.settimeout(20)
    deadline = time.time() + 20
    for x in range(1, n + 1):
        assert time.time() < deadline, "only %d of %d replies in 20 s" % (x - 1, n)
        r = slow.recv_frame()
        xid, _, err = struct.unpack(">iqi", r[:16])
        assert (xid, err) == (x, 0), (xid, x, err)
        assert r[16:20] == struct.pack(">i", BIG) and r[20:20 + BIG] == b"s" * BIG, x
    slow.close()
    settles("after the slow reader")


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise AssertionError("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def handshake_all(socks, deadline):
    """Send a ConnectRequest on every socket, then read every reply."""
    body = struct.pack(">iqiq", 0, 0, 40000, 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0"
    frame = struct.pack(">i", len(body)) + body
    for s in socks:
        s.sendall(frame)
    for i, s in enumerate(socks):
        s.settimeout(max(0.1, deadline - time.time()))
        got = b""
        while len(got) < 4 + 37:
            d = s.recv(4 + 37 - len(got))
            assert d, "idle connection %d closed during handshake" % i
            got += d
        (n,) = struct.unpack(">i", got[:4])
        (_, to, sid) = struct.unpack(">iiq", got[4:20])
        assert n == 37 and to > 0 and sid != 0, (i, n, to, sid)


def t_idle_connections(zk):
    raise_nofile(2 * IDLE_N + 256)
    settles("before")
    silent, talked = [], []
    try:
        t0 = time.time()
        for i in range(IDLE_N):
            silent.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
            talked.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
        handshake_all(talked, time.time() + 20)
        t1 = time.time()
        t_conn = time.time()
        other = ternlib.kazoo_client(srv)
        try:
            t_conn = time.time() - t_conn
            t_ops = time.time()
            for i in range(20):
                other.create("/idle-%d" % i, b"v")
                assert other.get("/idle-%d" % i)[0] == b"v"
            t_ops = time.time() - t_ops
        finally:
            other.stop()
            other.close()
        print("  %d connections open in %.1fs; kazoo connect %.2fs, 40 ops %.2fs" % (
            2 * IDLE_N, t1 - t0, t_conn, t_ops))
        assert t_conn < 5 and t_ops < 5, (t_conn, t_ops)
        # the server kept every idle connection (no cap with maxClientCnxns=0)
        alive = sum(1 for s in talked + silent if not closed(s, 0.001))
        assert alive == 2 * IDLE_N, "server dropped %d idle connections" % (2 * IDLE_N - alive)
        # ZooKeeper's stat counts every socket (silent ones and itself too);
        # ternd counts only handshaken ones, so accept either here
        held = connections()
        lo, hi = BASE[0] + IDLE_N, BASE[0] + 2 * IDLE_N + 1
        assert lo <= held <= hi, "stat counts %d connections, want %d..%d" % (held, lo, hi)
    finally:
        for s in silent + talked:
            s.close()
    assert srv.proc.poll() is None, "ternd died"
    assert ternlib.fourlw(srv.port, "ruok") == "imok"
    settles("after closing %d idle connections" % (2 * IDLE_N))
    zk.create("/after-idle", b"")
    assert zk.exists("/after-idle") is not None


def t_truncated_then_close(zk):
    settles("before")
    # a frame that promises 100 bytes, delivers 10, then the client leaves
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(struct.pack(">i", 100) + b"x" * 10)
    s.close()
    # the same after a good handshake, mid-request
    raw = ternlib.Raw(srv.port)
    raw.connect()
    raw.s.sendall(get_data_frame(1, "/big")[:9])
    raw.close()
    # and a length prefix cut in half
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"\0\0")
    s.close()
    zk.set("/big", b"ok")
    assert zk.get("/big")[0] == b"ok"
    assert ternlib.fourlw(srv.port, "ruok") == "imok"
    settles("after truncated frames")


def t_request_before_connect(zk):
    settles("before")
    # a getData RequestHeader frame where the ConnectRequest should be
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(get_data_frame(1, "/big"))
    assert closed(s), "a request before ConnectRequest did not close the connection"
    s.close()
    # a ping (xid -2, op 11) as the first frame
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    p = struct.pack(">ii", -2, 11)
    s.sendall(struct.pack(">i", len(p)) + p)
    assert closed(s), "a ping before ConnectRequest did not close the connection"
    s.close()
    assert zk.get("/big")[0] == b"ok"
    raw = ternlib.Raw(srv.port)
    raw.connect()
    err, _, body = raw.request(4, ternlib.Raw.ustr("/big") + b"\0")
    assert err == 0 and body[4:6] == b"ok", (err, body[:8])
    raw.close()
    settles("after requests before connect")


if __name__ == "__main__":
    with srv:
        zk = ternlib.kazoo_client(srv)
        BASE.append(connections())
        try:
            ternlib.run_tests([(n, (lambda f=f: f(zk))) for n, f in (
                ("unread_replies", t_unread_replies),
                ("slow_reader", t_slow_reader),
                ("idle_connections", t_idle_connections),
                ("truncated_then_close", t_truncated_then_close),
                ("request_before_connect", t_request_before_connect),
            )])
        finally:
            zk.stop()
            zk.close()
