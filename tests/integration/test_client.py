"""tests/integration/test_client.py: tern's C client library (tools/ternc.h)
against real ternd processes, through the ternc_it program.

usage: test_client.py TERND TERNC_IT

- basic: 1000 pipelined creates and gets, every op, watches, chroot, digest auth
- reconnect: ternd restarts on the same port and data dir while the client
  is away; kazoo changes nodes meanwhile; the session, its ephemeral and its
  watches survive (setWatches2 fires what changed, persistent watch re-armed)
- expire: the client stays away past the session timeout: EXPIRED
- failover: three dead ports and one live one in the connection string
- badserver: a fake server answers the handshake, then sends a bad frame
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternlib  # noqa: E402

TERND = sys.argv[1]
TERNC_IT = sys.argv[2]
RUN_S = 120


def run_it(mode, hosts):
    p = subprocess.run([TERNC_IT, mode, hosts], capture_output=True, text=True, timeout=RUN_S)
    sys.stdout.write(p.stdout)
    assert p.returncode == 0, "ternc_it %s exited %d:\n%s" % (mode, p.returncode, p.stderr)
    return p.stdout


def test_basic():
    # maxClientCnxns=0: the many-sessions test opens more than the default 60
    cfg = "extendedTypesEnabled=true\nmaxClientCnxns=0\n"
    with ternlib.Ternd(TERND, extra_cfg=cfg) as srv:
        out = run_it("basic", srv.hosts())
        assert "ok pipeline" in out and "ok chroot" in out and "ok digest auth" in out


def test_reconnect():
    ternlib.need_kazoo()
    d = tempfile.mkdtemp(prefix="tern-it-client-")
    port = ternlib.free_port()
    srv = ternlib.Ternd(TERND, datadir=d, port=port).start()
    proc = subprocess.Popen([TERNC_IT, "reconnect", srv.hosts()], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        line = ""
        while time.time() < deadline and "RESTART" not in line:
            line = proc.stdout.readline()
            if not line:
                break
        assert "RESTART" in line, "ternc_it did not reach RESTART: " + proc.stderr.read()
        assert srv.stop() == 0
        srv = ternlib.Ternd(TERND, datadir=d, port=port).start()
        zk = ternlib.kazoo_client(srv)
        try:
            zk.set("/rc/w", b"changed")
            zk.create("/rc/nx", b"")
        finally:
            zk.stop()
            zk.close()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=RUN_S)
        sys.stdout.write(out)
        assert proc.returncode == 0, "ternc_it reconnect exited %d:\n%s" % (proc.returncode, err)
        assert "ok reconnect" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        srv.stop()
        srv.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def test_expire():
    with ternlib.Ternd(TERND) as srv:
        assert "ok expiry" in run_it("expire", srv.hosts())


def test_failover():
    with ternlib.Ternd(TERND) as srv:
        dead = ["127.0.0.1:%d" % ternlib.free_port() for _ in range(3)]
        hosts = ",".join(dead[:2] + [srv.hosts()] + dead[2:])
        out = run_it("failover", hosts)
        assert out.count("connected to " + srv.hosts()) == 8


BAD_REPLIES = 4


def bad_reply(mode, xid):
    """Mode 0: negative length; 1: a reply to an xid never sent; 2: a getData
    reply cut short; 3: a length past any limit."""
    if mode == 0:
        return struct.pack(">i", -5) + b"garbage"
    if mode == 1:
        return struct.pack(">iiqi", 16, xid + 1000, 1, 0)
    if mode == 2:
        return struct.pack(">iiqi", 16 + 3, xid, 1, 0) + b"abc"
    return struct.pack(">i", 0x7fffffff) + b"x" * 64


def fake_server(lsock, stop):
    """Answer each handshake, then send one malformed reply per connection."""
    lsock.settimeout(0.2)
    mode = 0
    while not stop.is_set():
        try:
            s, _ = lsock.accept()
        except socket.timeout:
            continue
        s.settimeout(5)
        try:
            n = struct.unpack(">i", s.recv(4))[0]
            got = b""
            while len(got) < n:
                got += s.recv(n - len(got))
            body = struct.pack(">iiqi", 0, 10000, 0x1234, 16) + b"p" * 16 + b"\0"
            s.sendall(struct.pack(">i", len(body)) + body)
            req = s.recv(4096)  # the client's getData: len | xid | type | ...
            xid = struct.unpack(">i", req[4:8])[0] if len(req) >= 8 else 1
            s.sendall(bad_reply(mode % BAD_REPLIES, xid))
            mode += 1
            time.sleep(0.2)
        except OSError:
            pass
        finally:
            s.close()


def test_badserver():
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    stop = threading.Event()
    t = threading.Thread(target=fake_server, args=(lsock, stop), daemon=True)
    t.start()
    try:
        out = run_it("badserver", "127.0.0.1:%d" % lsock.getsockname()[1])
        assert "ok malformed reply" in out
    finally:
        stop.set()
        t.join(5)
        lsock.close()


if __name__ == "__main__":
    ternlib.run_tests([
        ("basic", test_basic),
        ("reconnect", test_reconnect),
        ("expire", test_expire),
        ("failover", test_failover),
        ("badserver", test_badserver),
    ])
