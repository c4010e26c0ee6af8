"""deploy/rack.sh against the real ternd: a 3-server rack in network
namespaces (servers in their namespaces, answering 4lw on their addresses;
partition/heal cut and restore exactly the named servers; pause, resume,
kill, start and stop act on the right pid; down leaves nothing behind), the
loopback fallback, and, when the ensemble elects one leader, a write through
server 2 read back through server 3.

argv[1] is the ternd binary. The namespace checks need root (else they print
SKIP and pass); the ensemble check prints SKIP when no single leader shows up
within 20 s, so it does not depend on election being finished."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import run_tests, wait_for  # noqa: E402

TERND = os.path.abspath(sys.argv[1])
RACK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "rack.sh")
LEADER_WAIT_S = 20


def rack(d, *args, check=True, timeout=90):
    r = subprocess.run(["bash", RACK, "--dir", d] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("rack.sh %s: rc %d\n%s%s" % (" ".join(map(str, args)),
                             r.returncode, r.stdout, r.stderr))
    return r


def rack_env(d):
    out = rack(d, "env").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def hostport(d, i):
    host, port = rack(d, "addr", i).stdout.strip().rsplit(":", 1)
    return host, int(port)


def fourlw(addr, word, timeout=3.0):
    s = socket.create_connection(addr, timeout=timeout)
    try:
        s.sendall(word.encode())
        out = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")
    finally:
        s.close()


def try_fourlw(addr, word):
    try:
        return fourlw(addr, word)
    except OSError:
        return ""


def proc_state(pid):
    """One-letter state of pid, or None when it is gone (a zombie is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    return None if st in ("Z", "X") else st


def rack_pid(d, i):
    return int(rack(d, "pid", i).stdout.strip())


def netns_of(pid):
    r = subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True,
                       text=True, timeout=10)
    return r.stdout.strip()


def ns_reaches(ns, addr):
    r = subprocess.run(["ip", "netns", "exec", ns, "nc", "-z", "-w", "2", addr[0],
                        str(addr[1])], capture_output=True, timeout=10)
    return r.returncode == 0


def answers(addr):
    """ruok says imok and srvr says a mode or that it is not serving yet."""
    if try_fourlw(addr, "ruok") != "imok":
        return False
    out = try_fourlw(addr, "srvr")
    return "Mode:" in out or "not currently serving" in out


def check_gone(d, env, pids):
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "tern-%s-" % env["ID"] not in ns, ns
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert env["BRIDGE"] not in links, links
    assert "tv%sh" % env["ID"] not in links, links
    if shutil.which("nft"):
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert env["NFT"] not in tables, tables
    alive = [p for p in pids if proc_state(p) is not None]
    assert not alive, "processes left behind: %s" % alive
    assert not os.path.exists(d), os.listdir(d)


def netns_usable():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nc"):
        return False
    return True


def test_netns_rack():
    if not netns_usable():
        print("SKIP netns rack: needs root, ip and nc")
        return
    d = tempfile.mkdtemp(prefix="tern-rack-")
    pids = set()
    env = None
    try:
        out = rack(d, "up", 3, "--ternd", TERND).stdout
        env = rack_env(d)
        if env["MODE"] != "netns":
            print("SKIP netns rack: namespaces unavailable here:\n" + out)
            return
        assert "mode netns" in out, out
        ns = {i: "tern-%s-%d" % (env["ID"], i) for i in (1, 2, 3)}
        addr = {i: hostport(d, i) for i in (1, 2, 3)}
        assert len(set(addr.values())) == 3, addr
        assert rack(d, "connect-string").stdout.strip() == ",".join(
            "%s:%d" % addr[i] for i in (1, 2, 3))
        for i in (1, 2, 3):
            assert rack(d, "ns", i).stdout.strip() == ns[i]
            pid = rack_pid(d, i)
            pids.add(pid)
            assert proc_state(pid) is not None
            assert os.path.realpath("/proc/%d/exe" % pid) == os.path.realpath(TERND)
            assert netns_of(pid) == ns[i], (pid, netns_of(pid), ns[i])
            wait_for(lambda i=i: answers(addr[i]), 15, "4lw answers of server %d" % i)
        # every server reaches every other through the bridge
        for a in (1, 2, 3):
            for b in (1, 2, 3):
                assert ns_reaches(ns[a], addr[b]), (a, b)

        # partition 1: 1 is cut off from 2 and 3, which still talk; the host still reaches 1
        rack(d, "partition", 1)
        assert not ns_reaches(ns[2], addr[1])
        assert not ns_reaches(ns[3], addr[1])
        assert not ns_reaches(ns[1], addr[2])
        assert ns_reaches(ns[2], addr[3]) and ns_reaches(ns[3], addr[2])
        assert try_fourlw(addr[1], "ruok") == "imok"
        # a new partition replaces it: 1 and 2 keep talking to each other, not to 3
        rack(d, "partition", 1, 2)
        assert ns_reaches(ns[1], addr[2]) and ns_reaches(ns[2], addr[1])
        assert not ns_reaches(ns[1], addr[3]) and not ns_reaches(ns[3], addr[2])
        rack(d, "heal")
        for a in (1, 2, 3):
            for b in (1, 2, 3):
                assert ns_reaches(ns[a], addr[b]), ("after heal", a, b)
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert env["NFT"] not in tables, tables

        # pause/resume act on server 2's pid only
        p1, p2, p3 = rack_pid(d, 1), rack_pid(d, 2), rack_pid(d, 3)
        rack(d, "pause", 2)
        assert proc_state(p2) == "T", proc_state(p2)
        assert proc_state(p1) != "T" and proc_state(p3) != "T"
        assert " paused " in rack(d, "status").stdout.splitlines()[2]
        rack(d, "resume", 2)
        wait_for(lambda: proc_state(p2) not in ("T", None), 5, "server 2 resumed")
        wait_for(lambda: answers(addr[2]), 15, "server 2 answers after resume")

        # kill 3: SIGKILL its pid; start 3: a new pid in namespace 3
        rack(d, "kill", 3)
        assert proc_state(p3) is None
        assert proc_state(p1) is not None and proc_state(p2) is not None
        assert rack(d, "pid", 3, check=False).returncode != 0
        assert "pid=- down" in rack(d, "status").stdout.splitlines()[3]
        rack(d, "start", 3)
        n3 = rack_pid(d, 3)
        pids.add(n3)
        assert n3 != p3 and netns_of(n3) == ns[3]
        wait_for(lambda: answers(addr[3]), 15, "server 3 answers after start")

        # stop 1: SIGTERM, gone; start again
        rack(d, "stop", 1)
        assert proc_state(p1) is None
        rack(d, "start", 1)
        n1 = rack_pid(d, 1)
        pids.add(n1)
        assert netns_of(n1) == ns[1]
        wait_for(lambda: answers(addr[1]), 15, "server 1 answers after restart")
        print(rack(d, "status").stdout)

        # a second up in the same DIR replaces the rack (no leftovers, no clashes)
        rack(d, "partition", 3)
        rack(d, "up", 3, "--ternd", TERND)
        old = set(pids)
        assert all(proc_state(p) is None for p in old), old
        for i in (1, 2, 3):
            pids.add(rack_pid(d, i))
            wait_for(lambda i=i: answers(addr[i]), 15, "server %d after re-up" % i)
        assert ns_reaches(ns[3], addr[1]), "the old partition survived up"
        rack(d, "pause", 1)  # down must end a paused server too
    finally:
        if env is not None:
            print(rack(d, "logs", 1, check=False).stdout[-2000:])
        rack(d, "down")
    if env is not None:
        check_gone(d, env, pids)


def test_loopback_rack():
    d = tempfile.mkdtemp(prefix="tern-rack-lo-")
    pids = set()
    try:
        out = rack(d, "up", 3, "--observers", 1, "--loopback", "--ternd", TERND).stdout
        assert "mode loopback" in out, out
        env = rack_env(d)
        assert env["MODE"] == "loopback" and env["TOTAL"] == "4"
        addr = {i: hostport(d, i) for i in (1, 2, 3, 4)}
        assert all(a[0] == "127.0.0.1" for a in addr.values())
        assert len({a[1] for a in addr.values()}) == 4, addr
        with open(os.path.join(d, "4", "zoo.cfg")) as f:
            cfg = f.read()
        assert "peerType=observer" in cfg and ":observer;" in cfg, cfg
        for i in (1, 2, 3, 4):
            pids.add(rack_pid(d, i))
            wait_for(lambda i=i: answers(addr[i]), 15, "4lw answers of server %d" % i)
        r = rack(d, "partition", 1, check=False)
        assert r.returncode == 3 and "unsupported" in r.stderr, (r.returncode, r.stderr)
        p2 = rack_pid(d, 2)
        rack(d, "kill", 2)
        assert proc_state(p2) is None
        rack(d, "start", 2)
        n2 = rack_pid(d, 2)
        pids.add(n2)
        assert n2 != p2
        wait_for(lambda: answers(addr[2]), 15, "server 2 after start")
        # a fresh shell with only the state file: status names every server
        st = rack(d, "status").stdout.splitlines()
        assert len(st) == 5 and st[4].startswith("4 observer 127.0.0.1:"), st
    finally:
        rack(d, "down")
    assert all(proc_state(p) is None for p in pids), pids
    assert not os.path.exists(d)


def leader_of(addrs):
    """The index of the only server whose srvr says leader, else None."""
    leaders = [i for i, a in addrs.items() if "Mode: leader" in try_fourlw(a, "srvr")]
    return leaders[0] if len(leaders) == 1 else None


def test_ensemble_write_read():
    try:
        from kazoo.client import KazooClient
    except ImportError:
        print("SKIP ensemble checks: kazoo is not installed (python3-kazoo)")
        return
    d = tempfile.mkdtemp(prefix="tern-rack-ens-")
    mode = [] if netns_usable() else ["--loopback"]
    try:
        rack(d, "up", 3, "--ternd", TERND, *mode)
        addrs = {i: hostport(d, i) for i in (1, 2, 3)}
        deadline = time.time() + LEADER_WAIT_S
        lead = None
        while lead is None and time.time() < deadline:
            lead = leader_of(addrs)
            time.sleep(0.2)
        if lead is None:
            print("SKIP ensemble checks: no leader")
            return
        print("leader: server %d (%s)" % (lead, rack_env(d)["MODE"]))
        zks = []
        try:
            for i in (2, 3):
                zk = KazooClient(hosts="%s:%d" % addrs[i], timeout=10)
                zk.start(timeout=15)
                zks.append(zk)
            zks[0].create("/rack-test", b"through server 2")
            zks[1].sync("/rack-test")
            assert zks[1].get("/rack-test")[0] == b"through server 2"
            assert zks[1]._connection._socket.getpeername()[1] == addrs[3][1]
        finally:
            for zk in zks:
                zk.stop()
                zk.close()
    finally:
        rack(d, "down")


if __name__ == "__main__":
    run_tests([
        ("netns_rack", test_netns_rack),
        ("loopback_rack", test_loopback_rack),
        ("ensemble_write_read", test_ensemble_write_read),
    ])
