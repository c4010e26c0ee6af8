"""tests/integration/ternlib.py: start and stop real ternd processes.

Every server runs on a free loopback port with its own temp dataDir, is
started and stopped by pid, and every wait is bounded. A test that needs a
package that is truly absent exits 77 (meson: SKIP).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


def need_kazoo():
    try:
        import kazoo.client  # noqa: F401
    except ImportError:
        print("kazoo is not installed (Debian: python3-kazoo)")
        sys.exit(SKIP)


_used_ports = set()


def free_port():
    """A free port below the kernel's ephemeral range: a port from that range
    can be taken meanwhile by any outgoing connection (ternd's peers dial
    each other), and the server would then fail to bind it."""
    import random
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    lo, hi = 10000, max(low - 1, 10001)
    for _ in range(1000):
        port = random.randint(lo, hi)
        if port in _used_ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _used_ports.add(port)
        return port
    raise RuntimeError("no free port below %d" % low)


def fourlw(port, word, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(word.encode())
        out = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            d = s.recv(65536)
            if not d:
                break
            out += d
        return out.decode(errors="replace")
    finally:
        s.close()


ZOOKEEPER = "zookeeper"
ZK_JAR = "/usr/share/java/zookeeper.jar"
# zoo.cfg keys Apache ZooKeeper reads only as JVM system properties (zoo.cfg
# would turn an unknown key K into "zookeeper.K", the wrong name for these)
ZK_SYSPROPS = {
    "DigestAuthenticationProvider.superDigest": "zookeeper.DigestAuthenticationProvider.superDigest",
    "extendedTypesEnabled": "zookeeper.extendedTypesEnabled",
    "znode.container.checkIntervalMs": "znode.container.checkIntervalMs",
    "java.security.auth.login.config": "java.security.auth.login.config",
    "readonlymode.enabled": "readonlymode.enabled",
}

# slf4j-simple, when installed, sends ZooKeeper's log to stderr (our log file)
ZK_LOGGER = ":/usr/share/java/slf4j-simple.jar" if os.path.exists(
    "/usr/share/java/slf4j-simple.jar") else ""


def is_zk(server):
    """True when the suite runs against Apache ZooKeeper, not ternd."""
    return server == ZOOKEEPER


def skip_under_zk(server, reason):
    """Under Apache ZooKeeper, print why a tern-specific test is skipped;
    return True so the caller returns early."""
    if is_zk(server):
        print("SKIP under Apache ZooKeeper: " + reason)
        sys.stdout.flush()
        return True
    return False


# a start that failed on a DPDK fanout id clash is tried again (Ternd.retry_marks)
START_ATTEMPTS = 3


class Ternd:
    """One ternd process (or, when ternd is "zookeeper", one standalone
    Apache ZooKeeper JVM with the same zoo.cfg). Use as a context manager."""

    def __init__(self, ternd, extra_cfg="", datadir=None, port=None, env=None):
        self.ternd = ternd
        self.own_dir = datadir is None
        self.dir = datadir or tempfile.mkdtemp(prefix="tern-it-")
        self.port = port or free_port()
        self.extra_cfg = extra_cfg
        self.env = env
        self.proc = None
        self.log_path = os.path.join(self.dir, "ternd.log")
        # start() launches again (new pid) when a failed start logged one of these
        self.retry_marks = ()

    def write_cfg(self):
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write("tickTime=2000\n")
            f.write("dataDir=%s/data\n" % self.dir)
            f.write("clientPort=%d\n" % self.port)
            f.write("clientPortAddress=127.0.0.1\n")
            if "4lw.commands.whitelist" not in self.extra_cfg:
                f.write("4lw.commands.whitelist=*\n")
            if "admin." not in self.extra_cfg:
                # the admin HTTP server's default port 8080 is one per machine
                f.write("admin.enableServer=false\n")
            f.write(self.extra_cfg)
            # TERN_PEER_TRANSPORT=udp: the ensemble's peer channels over UDP (mgmt/peer_udp.c)
            transport = os.environ.get("TERN_PEER_TRANSPORT")
            if transport and not is_zk(self.ternd) and "tern.peer.transport" not in self.extra_cfg:
                f.write("\ntern.peer.transport=%s\n" % transport)
        return cfg

    def start(self, timeout=10.0):
        for attempt in range(START_ATTEMPTS):
            try:
                return self._start(timeout)
            except RuntimeError as e:
                if attempt + 1 == START_ATTEMPTS or not any(
                        m in str(e) for m in self.retry_marks):
                    raise
                print("ternd start failed (%s), starting again" % ", ".join(
                    m for m in self.retry_marks if m in str(e)))
        raise AssertionError("unreachable")

    def _start(self, timeout):
        return self.wait_up(self.launch(timeout))

    def launch(self, timeout=10.0):
        """Start the process; return the timeout for wait_up()."""
        cfg = self.write_cfg()
        env = dict(os.environ)
        env.pop("SERVER_JVMFLAGS", None)
        env.pop("JVMFLAGS", None)
        if self.env:
            env.update(self.env)
        log = open(self.log_path, "a")
        if is_zk(self.ternd):
            cmd = self.zk_command(cfg)
            timeout = max(timeout, 30.0)  # a JVM starts slower than ternd
        else:
            cmd = [self.ternd, cfg]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
        log.close()
        return timeout

    def wait_up(self, timeout):
        """Wait for ruok (and serving()) from the launched process."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ternd exited with %d:\n%s" % (self.proc.returncode, self.log()))
            try:
                if fourlw(self.port, "ruok", 1.0) == "imok" and self.serving():
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("ternd did not answer ruok in %.0fs:\n%s" % (timeout, self.log()))

    def serving(self):
        """ZooKeeper answers imok before its database is loaded: also wait
        for srvr to stop saying "not currently serving requests"."""
        if not is_zk(self.ternd):
            return True
        return "not currently serving" not in fourlw(self.port, "srvr", 1.0)

    def zk_command(self, cfg):
        """The java command line for Apache ZooKeeper on this zoo.cfg: tern.*
        keys are dropped, system-property keys become -D flags, and the admin
        HTTP server is off (it would bind a fixed port)."""
        flags, lines = ["-Dzookeeper.admin.enableServer=false"], []
        with open(cfg) as f:
            for line in f.read().splitlines():
                key, _, val = line.partition("=")
                key, val = key.strip(), val.strip()
                if key.startswith("tern."):
                    continue
                if key in ZK_SYSPROPS:
                    flags.append("-D%s=%s" % (ZK_SYSPROPS[key], val))
                    if key == "java.security.auth.login.config":
                        # sasl ACLs need the SASL auth provider registered
                        flags.append("-Dzookeeper.authProvider.1=org.apache.zookeeper."
                                     "server.auth.SASLAuthenticationProvider")
                    continue
                lines.append(line)
        lines.append("admin.enableServer=false")
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        return (["java", "-Xmx512m"] + flags +
                ["-cp", "/etc/zookeeper/conf:" + ZK_JAR + ZK_LOGGER,
                 "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg])

    def stop(self, timeout=10.0):
        """SIGTERM, wait; return the exit status (SIGKILL if it hangs)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
            # a JVM ends its shutdown hooks after SIGTERM with 128+15: clean
            return 0 if is_zk(self.ternd) and rc == 128 + signal.SIGTERM else rc
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("ternd did not stop within %.0fs of SIGTERM" % timeout)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def sanitizer_report(self):
        """ASan/LSan findings in the log fail the test; UBSan ones are shown."""
        text = self.log_all()
        if "runtime error:" in text:
            sys.stderr.write("UBSan reports in ternd's log:\n%s\n" % "\n".join(
                l for l in text.splitlines() if "runtime error:" in l))
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer"):
            if marker in text:
                i = text.index(marker)
                raise AssertionError("ternd: %s\n%s" % (marker, text[i:i + 3000]))

    def log_all(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.kill()
        try:
            self.sanitizer_report()
        finally:
            if self.own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is not None:
            sys.stderr.write("--- ternd log ---\n%s\n" % self.log())
        try:
            self.stop()
        finally:
            self.cleanup()
        return False


def kazoo_client(srv, **kw):
    from kazoo.client import KazooClient
    kw.setdefault("timeout", 10)
    zk = KazooClient(hosts=srv.hosts(), **kw)
    zk.start(timeout=10)
    return zk


def wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def run_tests(tests):
    """Run (name, fn) pairs; print a summary; exit non-zero on any failure.
    TERN_ONLY=substring runs only the tests whose name contains it."""
    only = os.environ.get("TERN_ONLY")
    if only:
        tests = [(n, f) for n, f in tests if only in n]
    failed = 0
    for name, fn in tests:
        t0 = time.time()
        try:
            fn()
            print("PASS %s (%.2fs)" % (name, time.time() - t0))
        except Exception as e:  # noqa: BLE001 - report every failure
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (name, e))
        sys.stdout.flush()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)


class Raw:
    """A minimal ZooKeeper wire client over a plain socket, for what kazoo
    cannot do (malformed frames, addWatch on old kazoo, exact replies)."""

    def __init__(self, port, timeout=5.0):
        import struct
        self.st = struct
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.xid = 0
        self.events = []

    def send_frame(self, payload):
        self.s.sendall(self.st.pack(">i", len(payload)) + payload)

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            d = self.s.recv(n - len(out))
            if not d:
                raise EOFError("connection closed")
            out += d
        return out

    def recv_frame(self):
        (n,) = self.st.unpack(">i", self.recv_exact(4))
        return self.recv_exact(n)

    def connect(self, timeout_ms=10000, sid=0, pw=b"\0" * 16, last_zxid=0):
        body = self.st.pack(">iqiq", 0, last_zxid, timeout_ms, sid)
        body += self.st.pack(">i", len(pw)) + pw + b"\0"
        self.send_frame(body)
        r = self.recv_frame()
        proto, to, sid = self.st.unpack(">iiq", r[:16])
        (pwlen,) = self.st.unpack(">i", r[16:20])
        self.sid, self.pw, self.timeout = sid, r[20:20 + pwlen], to
        return len(r), to, sid

    @staticmethod
    def ustr(s):
        import struct
        b = s.encode()
        return struct.pack(">i", len(b)) + b

    def request(self, op, body=b""):
        """Send one request; return (err, zxid, body), queueing events."""
        self.xid += 1
        self.send_frame(self.st.pack(">ii", self.xid, op) + body)
        while True:
            r = self.recv_frame()
            xid, zxid, err = self.st.unpack(">iqi", r[:16])
            if xid == -1:
                self.events.append(self.st.unpack(">ii", r[16:24]) + (r[28:].decode(),))
                continue
            if xid == -2:
                continue
            assert xid == self.xid, (xid, self.xid)
            return err, zxid, r[16:]

    def create(self, path, data=b"", flags=0):
        acl = self.st.pack(">ii", 1, 31) + self.ustr("world") + self.ustr("anyone")
        body = self.ustr(path) + self.st.pack(">i", len(data)) + data + acl + self.st.pack(">i", flags)
        return self.request(1, body)

    def close(self):
        self.s.close()


# a suite pointed at Apache ZooKeeper skips (77) where ZooKeeper or java is absent
if len(sys.argv) > 1 and is_zk(sys.argv[1]) and not (
        os.path.exists(ZK_JAR) and shutil.which("java")):
    print("Apache ZooKeeper is not installed (%s or java missing)" % ZK_JAR)
    sys.exit(SKIP)


HOST_ID = 254  # DpdkNet: the bridge's address in its namespace, 10.X.Y.254


class DpdkNet:
    """TERN_DATAPLANE=dpdk: the peer channels of an Ensemble over DPDK.

    Server i gets a veth whose root-namespace end (no address, IPv6 off, an
    nftables netdev ingress chain dropping everything, so the host's kernel
    never handles its frames: af_packet taps them before that hook) is
    driven by its ternd's net_af_packet vdev (--no-huge); the other end is a
    port of a bridge in a private network namespace. server.N lines name the
    DPDK addresses for the quorum and election ports; clients, four-letter
    words and the admin port stay on 127.0.0.1 (the kernel). cut()/heal()
    partition at the bridge (an nftables bridge table in that namespace):
    af_packet traffic bypasses the host's inet hooks. Everything is removed
    by teardown(), also after a failure."""

    # DPDK's af_packet PMD joins every socket to the fanout group
    # (pid ^ ifindex) & 0xffff of its network namespace; two ternds here whose
    # ids clash fail with EINVAL. A new pid (start again) clears the clash.
    RETRY_MARKS = ("could not set PACKET_FANOUT",)
    made = 0  # DpdkNets made by this process: each gets its own names

    def __init__(self, n):
        DpdkNet.made += 1
        tag = (os.getpid() * 10 + DpdkNet.made) % 100000
        self.n = n
        self.ns = "tern-dn-%d" % tag
        self.table = "tern_dn_%d" % tag
        self.prefix = "tern-dn-%d" % tag
        self.net = "10.%d.%d" % (180 + tag % 60, tag % 250)
        self.veth = ["td%dx%d" % (tag, i) for i in range(1, n + 1)]
        self.up = False

    def ip(self, i):
        return "%s.%d" % (self.net, i)

    def _sh(self, *cmd, ok=True, stdin=None):
        r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, input=stdin)
        if ok and r.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
        return r

    def setup(self):
        """Create the namespace, bridge and veths. Exit 77 (skip) where this
        machine cannot (not root, no veth, no nft)."""
        if len(sys.argv) > 2 and sys.argv[2] == "false":  # meson: libdpdk not found
            print("SKIP: tern was built without DPDK (libdpdk not found)")
            sys.exit(SKIP)
        if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"):
            print("SKIP: dpdk mode needs root, ip and nft")
            sys.exit(SKIP)
        self.teardown()  # a leftover of an earlier run with the same pid
        if (threading.current_thread() is threading.main_thread() and
                signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
            # meson's timeout sends SIGTERM: unwind, so cleanups remove the network
            signal.signal(signal.SIGTERM, lambda *_: sys.exit("SIGTERM"))
        try:
            self.up = True
            self._sh("ip", "netns", "add", self.ns)
            self._sh("ip", "-n", self.ns, "link", "add", "br0", "type", "bridge")
            self._sh("ip", "-n", self.ns, "link", "set", "br0", "up")
            # the namespace's own address: sendto() from there reaches the ports
            self._sh("ip", "-n", self.ns, "addr", "add", self.ip(HOST_ID) + "/24", "dev", "br0")
            rules = ["table netdev %s {" % self.table]
            for i, v in enumerate(self.veth, 1):
                self._sh("ip", "link", "add", v, "type", "veth", "peer", "name", "p%d" % i,
                         "netns", self.ns)
                self._sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % v, ok=False)
                self._sh("ip", "-n", self.ns, "link", "set", "p%d" % i, "master", "br0")
                self._sh("ip", "-n", self.ns, "link", "set", "p%d" % i, "up")
                self._sh("ip", "link", "set", v, "up")
                # af_packet sees frames as the kernel left them: no offloads
                if shutil.which("ethtool"):
                    self._sh("ethtool", "-K", v, "tx", "off", "rx", "off", "tso", "off",
                             "gso", "off", "gro", "off", ok=False)
                    self._sh("ip", "netns", "exec", self.ns, "ethtool", "-K", "p%d" % i,
                             "tx", "off", ok=False)
                rules.append(" chain in%d {\n  type filter hook ingress device %s priority 0;\n"
                             "  policy drop;\n }" % (i, v))
            rules.append("}")
            self._sh("nft", "-f", "-", stdin="\n".join(rules) + "\n")
            self._sh("ip", "netns", "exec", self.ns, "nft", "-f", "-", stdin=(
                "table bridge cut {\n chain links {\n  type filter hook forward priority 0;\n"
                "  policy accept;\n }\n}\n"))
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            self.teardown()
            print("SKIP: cannot set up the DPDK network here: %s" % e)
            sys.exit(SKIP)

    def cfg(self, i):
        """Server i's tern.* lines. One queue pair: with more, net_af_packet
        joins a PACKET_FANOUT group whose id is (pid ^ ifindex) & 0xffff, and
        fanout ids are per network namespace, so two servers in this one
        could draw the same id and the second fails to start (deploy/rack.sh
        gives each server a namespace and 3 queue pairs)."""
        v = self.veth[i - 1]
        return ("tern.dataplane=dpdk\ntern.dpdk.port=net_af_packet0,iface=%s\n"
                "tern.dpdk.ip=%s\ntern.dpdk.netmask=255.255.255.0\ntern.dpdk.mbufs=4096\n"
                "tern.dpdk.exception=none\ntern.workers=2\n"
                "tern.dpdk.eal=-l 0 --no-huge -m 256 --no-pci --no-telemetry --file-prefix "
                "%s-%d --vdev net_af_packet0,iface=%s,qpairs=1,framecnt=4096 "
                "--log-level=lib.eal:error\n" % (v, self.ip(i), self.prefix, i, v))

    def sendto(self, datagrams):
        """Send each (bytes, server id, port) as a UDP datagram from the
        bridge's namespace to that server's DPDK address."""
        script = ("import socket,sys\nu=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                  "for l in sys.stdin.read().split():\n"
                  " d,h,p=l.split(',')\n"
                  " u.sendto(bytes.fromhex(d),(h,int(p)))\n")
        lines = ["%s,%s,%d" % (d.hex(), self.ip(i), p) for d, i, p in datagrams]
        self._sh("ip", "netns", "exec", self.ns, "/usr/bin/python3", "-c", script,
                 stdin="\n".join(lines) + "\n")

    def cut(self, group):
        """Drop frames between the servers in @group and the rest, at the bridge."""
        rest = [j for j in range(1, self.n + 1) if j not in group]
        rules = []
        for a in group:
            for b in rest:
                for x, y in ((a, b), (b, a)):
                    rules.append("add rule bridge cut links iifname p%d oifname p%d drop" % (x, y))
        self._sh("ip", "netns", "exec", self.ns, "nft", "-f", "-", stdin="\n".join(rules) + "\n")

    def heal(self):
        self._sh("ip", "netns", "exec", self.ns, "nft", "flush", "chain", "bridge", "cut", "links")


    def teardown(self):
        for v in self.veth:
            subprocess.run(["ip", "link", "del", v], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)
        subprocess.run(["nft", "delete", "table", "netdev", self.table], capture_output=True,
                       timeout=30)
        for i in range(1, self.n + 1):
            shutil.rmtree("/var/run/dpdk/%s-%d" % (self.prefix, i), ignore_errors=True)
        self.up = False


class Ensemble:
    """N ternd servers (or Apache ZooKeeper JVMs) on loopback ports forming
    one ensemble: server.i lines, dataDir/myid, each process started and
    stopped by pid. Use as a context manager. TERN_DATAPLANE=dpdk puts the
    peer channels on DPDK ports (DpdkNet)."""

    def __init__(self, ternd, n=3, observers=0, tick=200, extra_cfg=""):
        self.ternd = ternd
        self.n = n + observers
        self.observers = observers
        self.dpdk = None
        if os.environ.get("TERN_DATAPLANE") == "dpdk" and not is_zk(ternd):
            self.dpdk = DpdkNet(self.n)
            self.dpdk.setup()  # first: its skip (exit 77) leaves nothing behind
        self.dir = tempfile.mkdtemp(prefix="tern-ens-")
        ports = [(free_port(), free_port(), free_port()) for _ in range(self.n)]
        lines = []
        for i, (q, e, c) in enumerate(ports, 1):
            kind = ":observer" if i > n else ""
            peer = self.dpdk.ip(i) if self.dpdk else "127.0.0.1"
            lines.append("server.%d=%s:%d:%d%s;127.0.0.1:%d" % (i, peer, q, e, kind, c))
        self.servers = []
        for i, (q, e, c) in enumerate(ports, 1):
            d = os.path.join(self.dir, str(i))
            os.makedirs(os.path.join(d, "data"))
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write("%d\n" % i)
            cfg = "initLimit=10\nsyncLimit=5\n" + "\n".join(lines) + "\n"
            if i > n:
                cfg += "peerType=observer\n"
            if self.dpdk:
                cfg += self.dpdk.cfg(i)
            cfg += extra_cfg
            t = Ternd(ternd, extra_cfg=cfg, datadir=d, port=c)
            if self.dpdk:
                t.retry_marks = DpdkNet.RETRY_MARKS
            t.tick = tick
            self.servers.append(t)
        for t in self.servers:
            t.write_cfg = self._writer(t)

    def _writer(self, t):
        orig = Ternd.write_cfg

        def write():
            path = orig(t)
            with open(path) as f:
                text = f.read().replace("tickTime=2000", "tickTime=%d" % t.tick)
            with open(path, "w") as f:
                f.write(text)
            return path
        return write

    def __getitem__(self, i):
        """Server i, counted from 1 as in server.N."""
        return self.servers[i - 1]

    def start(self, timeout=30.0):
        for t in self.servers:
            t.serving = lambda: True  # no server serves before a quorum is up
        if self.dpdk:
            # a DPDK ternd spends ~0.25 s in its EAL and port start: launch
            # them all first, then wait (start() again on a retry mark)
            for t in self.servers:
                t.launch(timeout)
            for t in self.servers:
                try:
                    t.wait_up(timeout)
                except RuntimeError as e:
                    if not any(m in str(e) for m in t.retry_marks):
                        raise
                    t.start(timeout)
        else:
            for t in self.servers:
                t.start(timeout=max(timeout, 30.0) if is_zk(self.ternd) else timeout)
        self.wait_leader(timeout)
        return self

    def mode(self, i, timeout=2.0):
        t = self[i]
        if not t.proc or t.proc.poll() is not None:
            return None
        try:
            out = fourlw(t.port, "srvr", timeout)
        except OSError:
            return None
        if "not currently serving" in out:
            return "not serving"
        for line in out.splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def zxid(self, i):
        out = fourlw(self[i].port, "srvr", 2.0)
        for line in out.splitlines():
            if line.startswith("Zxid:"):
                return int(line.split(":", 1)[1].strip(), 16)
        return None

    def live(self):
        return [i for i in range(1, self.n + 1)
                if self[i].proc and self[i].proc.poll() is None]

    def leader(self):
        """The id of the one serving leader, or None."""
        leaders = [i for i in self.live() if self.mode(i) == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def wait_leader(self, timeout=30.0, serving=None):
        """Wait until one leader serves and every live server (or those in
        @serving) serves as leader, follower or observer."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            ids = serving or self.live()
            modes = {i: self.mode(i) for i in ids}
            if (list(modes.values()).count("leader") == 1 and
                    all(m in ("leader", "follower", "observer") for m in modes.values())):
                return self.leader()
            time.sleep(0.05)
        raise AssertionError("no leader within %.0fs: %s\n%s" % (
            timeout, {i: self.mode(i) for i in self.live()},
            "\n".join("--- %d ---\n%s" % (i, self[i].log()[-1500:]) for i in self.live())))

    def hosts(self, ids=None):
        return ",".join(self[i].hosts() for i in (ids or range(1, self.n + 1)))

    def stop(self):
        for t in self.servers:
            try:
                t.stop()
            except RuntimeError:
                t.kill()

    def cleanup(self):
        try:
            for t in self.servers:
                t.cleanup()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.dpdk:
                self.dpdk.teardown()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            self.cleanup()
            raise

    def __exit__(self, *exc):
        if exc[0] is not None:
            for i, t in enumerate(self.servers, 1):
                sys.stderr.write("--- server %d log ---\n%s\n" % (i, t.log()))
        try:
            self.stop()
        finally:
            self.cleanup()
        return False
