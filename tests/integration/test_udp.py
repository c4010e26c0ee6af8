"""tests/integration/test_udp.py: tern's native datagram client protocol
(dataplane/dp_udp.h) against real ternd processes.

usage: test_udp.py TERND UDP_IT TERN TERN_BENCH

- clients: the ternc library over UDP (create/get/set/children/multi/delete,
  data/exists/children watches: udp_it basic), the tern CLI with
  --transport udp, and tern-bench --transport udp (no errors); kazoo over TCP
  sees what they wrote
- badinput: raw garbage, truncated headers, wrong kinds, an oversized datagram,
  requests with a wrong cookie and a flood of 3000 unknown session ids: each
  unknown one gets a bare UNKNOWN answer; afterwards ternd's memory has not
  grown by more than a few MiB and it still serves TCP (kazoo) and UDP clients
- loss: ternd in a network namespace the test creates (veth pair), nftables
  dropping 20% of the UDP port's datagrams in both directions; N sequential
  creates one at a time and M pipelined, over UDP with retransmission; then
  kazoo over TCP counts exactly N + M children (each write applied once).
  Skipped (that part only) where network namespaces or nftables are missing.
"""
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternlib  # noqa: E402

TERND, UDP_IT, TERN, BENCH = sys.argv[1:5]
RUN_S = 60
MAGIC, VERSION = 0x544E5544, 1
K_CONNECT, K_REQUEST, K_UNKNOWN = 1, 2, 6
LOSS_N, LOSS_M = 150, 150


def run(cmd, timeout=RUN_S, ok=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    sys.stdout.write(p.stdout)
    if ok:
        assert p.returncode == 0, "%s exited %d:\n%s%s" % (cmd, p.returncode, p.stdout, p.stderr)
    return p


def hdr(kind, sid=0, xid=0, cookie=1):
    return struct.pack(">IBBHqiI", MAGIC, VERSION, kind, 0, sid, xid, cookie)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_clients(srv):
    hosts = "127.0.0.1:%d" % srv.port
    run([UDP_IT, "basic", hosts])
    t = [TERN, "--server", hosts, "--transport", "udp"]
    run(t + ["create", "/cli-udp", "hello"])
    assert run(t + ["get", "/cli-udp"]).stdout.strip() == "hello"
    run(t + ["set", "/cli-udp", "world"])
    run(t + ["create", "/cli-udp/child", "c"])
    assert "child" in run(t + ["ls", "/cli-udp"]).stdout
    zk = ternlib.kazoo_client(srv)
    try:
        assert zk.get("/cli-udp")[0] == b"world"
        assert zk.get_children("/cli-udp") == ["child"]
    finally:
        zk.stop()
        zk.close()
    run(t + ["delete", "/cli-udp/child"])
    run(t + ["delete", "/cli-udp"])
    assert run(t + ["get", "/cli-udp"], ok=False).returncode == 1
    out = run([BENCH, "--server", hosts, "--transport", "udp", "--op", "mixed", "--sessions", "4",
               "--outstanding", "8", "--warmup", "0.2", "--duration", "1", "--keys", "50",
               "--prefix", "/bench-udp", "--quiet"]).stdout
    assert "errors 0" in out, out


def test_badinput(srv):
    addr = ("127.0.0.1", srv.port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    rnd = random.Random(7)
    rss0 = rss_kib(srv.proc.pid)
    junk = [b"", b"x", b"ruok", hdr(K_CONNECT)[:23], hdr(9), hdr(0), hdr(K_UNKNOWN),
            struct.pack(">IBB", MAGIC, 2, K_REQUEST) + bytes(18),       # bad version
            hdr(K_CONNECT, cookie=0) + b"\0" * 40,                      # cookie 0
            hdr(K_CONNECT, cookie=5) + b"\x01\x02",                      # short ConnectRequest
            hdr(K_REQUEST, sid=1, xid=1) + b"\0" * 65000]                # oversized, no session
    junk += [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200))) for _ in range(300)]
    for j in junk:
        s.sendto(j, addr)
    unknown = 0
    for i in range(3000):
        sid = rnd.getrandbits(63)
        s.sendto(hdr(K_REQUEST, sid=sid, xid=1, cookie=9) + struct.pack(">ii", 1, 4) + b"\0" * 8,
                 addr)
        if i % 100 == 0:  # read what came back so the socket buffer keeps room
            try:
                while True:
                    d = s.recv(100)
                    if len(d) == 24 and struct.unpack(">IBB", d[:6])[2] == K_UNKNOWN:
                        unknown += 1
                    s.settimeout(0.05)
            except socket.timeout:
                s.settimeout(2.0)
    s.close()
    assert unknown > 0, "no UNKNOWN answer to requests for unknown sessions"
    assert srv.proc.poll() is None, "ternd died:\n" + srv.log()
    # a real UDP client still gets served
    run([UDP_IT, "seq", "127.0.0.1:%d" % srv.port, "", "20"])  # under /
    grew = rss_kib(srv.proc.pid) - rss0
    print("badinput: %d UNKNOWN answers, rss grew %d KiB" % (unknown, grew))
    assert grew < 32 * 1024, "memory grew by %d KiB" % grew
    zk = ternlib.kazoo_client(srv)
    try:
        zk.create("/after-junk", b"ok")
        assert zk.get("/after-junk")[0] == b"ok"
    finally:
        zk.stop()
        zk.close()


def sh(*cmd, ok=True):
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    if ok and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return p


def netns_ready():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"):
        return False
    probe = "tnudp-probe-%d" % os.getpid()
    if sh("ip", "netns", "add", probe, ok=False).returncode != 0:
        return False
    sh("ip", "netns", "del", probe, ok=False)
    return True


def test_loss():
    if not netns_ready():
        print("loss: SKIP (network namespaces or nftables unavailable)")
        return
    tag = os.getpid() % 100000
    ns, vh, vn = "tnudp%d" % tag, "tnuh%d" % tag, "tnun%d" % tag
    sub = "10.213.%d" % (tag % 250)
    port = ternlib.free_port()
    d = tempfile.mkdtemp(prefix="tern-udp-")
    proc = None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", vh, "type", "veth", "peer", "name", vn)
        sh("ip", "link", "set", vn, "netns", ns)
        sh("ip", "addr", "add", sub + ".1/24", "dev", vh)
        sh("ip", "link", "set", vh, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", sub + ".2/24", "dev", vn)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", vn, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        rules = ("table inet tnloss {\n"
                 " chain in { type filter hook input priority 0; udp dport %d numgen random mod 100 < 20 drop; }\n"
                 " chain out { type filter hook output priority 0; udp sport %d numgen random mod 100 < 20 drop; }\n"
                 "}\n") % (port, port)
        p = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules, text=True,
                           capture_output=True, timeout=30)
        if p.returncode != 0:
            print("loss: SKIP (nft: %s)" % p.stderr.strip())
            return
        with open(os.path.join(d, "zoo.cfg"), "w") as f:
            f.write("tickTime=2000\ndataDir=%s/data\nclientPort=%d\n" % (d, port))
            f.write("maxSessionTimeout=60000\nadmin.enableServer=false\n4lw.commands.whitelist=*\n")
        log = open(os.path.join(d, "ternd.log"), "w")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, TERND, os.path.join(d, "zoo.cfg")],
                                stdout=log, stderr=log)
        log.close()
        hosts = "%s.2:%d" % (sub, port)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection((sub + ".2", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "ternd in %s did not start" % ns
                time.sleep(0.1)
        from kazoo.client import KazooClient
        zk = KazooClient(hosts=hosts, timeout=30)
        zk.start(timeout=30)
        try:
            zk.create("/loss", b"")
            run([UDP_IT, "seq", hosts, "/loss", str(LOSS_N)], timeout=90)
            run([UDP_IT, "pipe", hosts, "/loss", str(LOSS_M)], timeout=90)
            kids = zk.get_children("/loss")
            print("loss: %d children after %d + %d creates over UDP with 20%% loss each way"
                  % (len(kids), LOSS_N, LOSS_M))
            assert len(kids) == LOSS_N + LOSS_M, len(kids)
            assert len([k for k in kids if k.startswith("n-")]) == LOSS_N
            c = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", "tnloss"],
                               capture_output=True, text=True, timeout=30).stdout
            print("loss: nft rules still in place: %s" % ("numgen" in c))
        finally:
            zk.stop()
            zk.close()
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            text = open(os.path.join(d, "ternd.log")).read()
            if proc.returncode not in (0, -signal.SIGTERM, None):
                print(text[-3000:])
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                assert marker not in text, "ternd in the namespace: " + text[text.index(marker):][:3000]
            lines = [l for l in text.splitlines() if "udp: rx" in l]
            if lines and sys.exc_info()[0] is None:
                st = dict(zip(lines[-1].split()[4::2], map(int, lines[-1].split()[5::2])))
                print("loss: server counters %s" % st)
                # replies were lost too: some retries must have been answered from the cache
                assert st["retry_cached"] > 0, st
        sh("ip", "link", "del", vh, ok=False)
        sh("ip", "netns", "del", ns, ok=False)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ternlib.need_kazoo()
    # jute.maxbuffer below the largest datagram: a 65000-byte body is oversized
    srv = ternlib.Ternd(TERND, extra_cfg="maxClientCnxns=0\njute.maxbuffer=60000\n")
    srv.start()
    try:
        for name, fn in (("clients", test_clients), ("badinput", test_badinput)):
            t0 = time.time()
            fn(srv)
            print("%s: ok (%.1f s)" % (name, time.time() - t0))
        assert srv.proc.poll() is None, "ternd died:\n" + srv.log()
        rc = srv.stop()
        assert rc == 0, "ternd exited %s:\n%s" % (rc, srv.log())
        # what was dropped was counted (dp_udp_stats, logged at stop)
        line = [l for l in srv.log_all().splitlines() if "udp: rx" in l][-1]
        st = dict(zip(line.split()[4::2], map(int, line.split()[5::2])))
        print("udp counters: %s" % st)
        assert st["bad"] >= 300 + 8, st
        assert st["unknown"] >= 3000, st
    finally:
        srv.stop()
        srv.cleanup()
    t0 = time.time()
    test_loss()
    print("loss: done (%.1f s)" % (time.time() - t0))


if __name__ == "__main__":
    main()
