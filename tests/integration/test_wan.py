"""Remote observers over a simulated WAN (issue 7): deploy/rack.sh builds two
sites, A = voters 1,2,3 and B = observers 4,5, joined by tern-wanem with
20 ms each way (40 ms RTT) and 1% loss. With a steady write load in site A:

- the observers keep up: after the load stops, both reach the leader's zxid
  within a generous bound;
- a kazoo client inside site B's namespace reads its own site's observer and
  sees the last committed value;
- `wan cut` for 30 s: the observers lose the leader, and (readonlymode.enabled
  and localSessionsEnabled) the site-B client keeps reading in read-only mode
  while site A keeps writing; writes from site B are refused meanwhile;
- `wan heal`: the observers catch up to the leader, and the site-B client
  writes again (forwarded to the leader) and reads the newest data;
- the relay's counters show forwarded frames, 1% loss drops and cut drops.

Also, on loopback (no root needed): zstd on observer links only (auto),
data across them, a corrupt compressed frame closing the link with a log
line and the server living on, and tern.peer.compress=none.

argv: ternd, tern-wanem. The sites test needs root, network namespaces and
ethtool (else it is skipped). Each wait is bounded; nothing is timed for speed."""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wanlib import Agent, Rack, sites_missing, srvr  # noqa: E402
from ternlib import need_kazoo, run_tests, wait_for  # noqa: E402

TERND = os.path.abspath(sys.argv[1])
WANEM = os.path.abspath(sys.argv[2])
CUT_S = 30
LOAD_S = 8
CATCHUP_S = 40      # generous: 2 cores shared by several builds
WRITE_GAP_S = 0.02  # 50 writes/s


class Load(threading.Thread):
    """Steady writes of a counter to /wan/load from site A."""

    def __init__(self, zk):
        super().__init__(daemon=True)
        self.zk = zk
        self.n = 0
        self.stop_ev = threading.Event()
        self.errors = 0

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.zk.set("/wan/load", str(self.n + 1).encode())
                self.n += 1
            except Exception:  # noqa: BLE001 - counted, checked by the test
                self.errors += 1
            time.sleep(WRITE_GAP_S)

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=30)
        assert not self.is_alive()


def site_b_read(agent):
    """Read /wan/load in site B; a read may meet a reconnect on a loaded box,
    so retry (bounded: 5 s) before giving the failure back."""
    for _ in range(10):
        r = agent.call(op="get", path="/wan/load")
        if r["ok"]:
            return r
        time.sleep(0.5)
    return r


def leader_addr(rack):
    for i in (1, 2, 3):
        if srvr(rack.addr(i))[0] == "leader":
            return rack.addr(i)
    return None


def test_remote_observers():
    from kazoo.client import KazooClient
    d = tempfile.mkdtemp(prefix="tern-wan-")
    rack = Rack(d)
    agent = zk = None
    try:
        rack.run("up", 3, "--observers", 2, "--ternd", TERND, "--wanem", WANEM,
                 "--sites", "1,2,3:4,5", "--wan", "delay=20ms loss=1%",
                 "--cfg", "*:readonlymode.enabled=true", "--cfg", "*:localSessionsEnabled=true")
        rack.run("wait-leader", 60)
        wait_for(lambda: all(srvr(rack.addr(i))[0] == "observer" for i in (4, 5)),
                 timeout=CATCHUP_S, what="observers 4 and 5 following")
        hosts = ",".join("%s:%d" % rack.addr(i) for i in (1, 2, 3))
        zk = KazooClient(hosts=hosts, timeout=10)
        zk.start(timeout=30)
        zk.create("/wan/load", b"0", makepath=True)
        agent = Agent(rack.ns(4), "%s:%d" % rack.addr(4))

        # steady load in site A; site B reads its own observer meanwhile
        load = Load(zk)
        load.start()
        reads = 0
        t_end = time.time() + LOAD_S
        while time.time() < t_end:
            r = site_b_read(agent)
            assert r["ok"], r
            reads += 1
            time.sleep(0.2)
        load.stop()
        assert load.n > 0 and reads > 0
        final = load.n
        lzxid = srvr(leader_addr(rack))[1]
        wait_for(lambda: all((srvr(rack.addr(i))[1] or 0) >= lzxid for i in (4, 5)),
                 timeout=CATCHUP_S, what="observers at the leader's zxid 0x%x" % lzxid)
        r = agent.call(op="get", path="/wan/load")
        assert r["ok"] and int(r["data"]) == final, (r, final)
        print("load: %d writes (%d errors), %d site-B reads" % (final, load.errors, reads))

        # a 30 s cut: site B keeps reading (read-only), site A keeps writing
        rack.run("wan", "cut")
        t_cut = time.time()
        wait_for(lambda: srvr(rack.addr(1))[0] in ("leader", "follower") and
                 agent.call(op="state")["state"] == "CONNECTED_RO",
                 timeout=CATCHUP_S, what="site-B client in read-only mode")
        zk.set("/wan/load", str(final + 1).encode())  # site A still has its quorum
        ro_reads = 0
        while time.time() - t_cut < CUT_S:
            r = site_b_read(agent)
            assert r["ok"] and int(r["data"]) == final, r   # stale but served
            ro_reads += 1
            time.sleep(1)
        w = agent.call(op="set", path="/wan/load", data="-1")
        assert not w["ok"] and w["err"] == "NotReadOnlyCallError", w
        print("cut: %d read-only reads in %ds" % (ro_reads, CUT_S))

        # heal: catch up, then write through the observer again
        rack.run("wan", "heal")
        t_heal = time.time()
        lzxid = srvr(leader_addr(rack))[1]
        wait_for(lambda: all((srvr(rack.addr(i))[1] or 0) >= lzxid for i in (4, 5)),
                 timeout=CATCHUP_S, what="observers caught up after heal")
        wait_for(lambda: agent.call(op="state")["state"] == "CONNECTED",
                 timeout=CATCHUP_S, what="site-B client read-write again")
        wait_for(lambda: agent.call(op="set", path="/wan/load", data=str(final + 2))["ok"],
                 timeout=CATCHUP_S, what="a forwarded write from site B")
        assert zk.get("/wan/load")[0] == str(final + 2).encode()
        r = agent.call(op="get", path="/wan/load")
        assert r["ok"] and int(r["data"]) == final + 2, r
        print("heal: caught up and writing in %.1fs" % (time.time() - t_heal))

        st = rack.wan_stats()
        assert len(st) == 1
        s = st[0]
        fwd = s["a_to_b"]["fwd_frames"] + s["b_to_a"]["fwd_frames"]
        loss = s["a_to_b"]["drops"]["loss"] + s["b_to_a"]["drops"]["loss"]
        cut = s["a_to_b"]["drops"]["cut"] + s["b_to_a"]["drops"]["cut"]
        rx = s["a_to_b"]["rx_frames"] + s["b_to_a"]["rx_frames"]
        print("relay: %d frames in, %d forwarded, %d lost, %d cut" % (rx, fwd, loss, cut))
        assert fwd > 100 and cut > 0
        assert 0 < loss < rx * 0.05                            # 1% setting, seeded coin
        assert s["a_to_b"]["delay_ms_hist"]["<32"] > 0         # 20 ms lands in [16, 32)
        assert s["a_to_b"]["delay_ms_hist"]["<16"] == 0        # never early
    finally:
        if agent:
            agent.close()
        if zk:
            zk.stop()
            zk.close()
        env = rack.run("env", check=False).stdout
        rack.run("down", "--keep", check=False, timeout=120)
        sanitizer_check(d)
        shutil.rmtree(d, ignore_errors=True)
        # down leaves no relay namespace, veth or site bridge behind
        rid = dict(l.split("=", 1) for l in env.splitlines() if "=" in l).get("ID")
        if rid:
            left = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
            left += subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            assert "tern-%s-" % rid not in left and "tb%s" % rid not in left and \
                "tv%s" % rid not in left, left


def sanitizer_check(d):
    """ASan/LSan/UBSan findings in the rack's logs (an -Db_sanitize build) fail."""
    for i in range(1, 6):
        try:
            with open(os.path.join(d, str(i), "ternd.log")) as f:
                text = f.read()
        except OSError:
            continue
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, "server %d: %s\n%s" % (
                i, marker, text[text.index(marker):][:3000])


def quorum_port(ens, i):
    for line in ens[1].extra_cfg.splitlines():
        if line.startswith("server.%d=" % i):
            return int(line.split("=", 1)[1].split(";")[0].split(":")[1])
    raise AssertionError("no server.%d line" % i)


def log_has(t, text):
    return text in t.log_all()


def test_zstd_links():
    """Loopback, no namespaces: zstd where an observer is at either end (auto),
    plain between voters; data crosses the compressed link; a corrupt
    compressed frame closes that link with a log line, the server lives on
    and the link comes back; tern.peer.compress=none compresses nothing."""
    import socket
    import struct
    from kazoo.client import KazooClient
    from ternlib import Ensemble
    with Ensemble(TERND, n=3, observers=1) as ens:
        wait_for(lambda: ens.mode(4) == "observer", timeout=CATCHUP_S, what="observer 4")
        wait_for(lambda: log_has(ens[4], "zstd level 3"), timeout=CATCHUP_S,
                 what="zstd on the observer's links")
        for i in (1, 2, 3):
            log = ens[i].log_all()
            assert "quorum link to server 4: zstd level 3" in log, log
            assert "zstd level" not in log.replace("server 4: zstd level", ""), log
        zk = KazooClient(hosts=",".join(ens[i].hosts() for i in (1, 2, 3)), timeout=10)
        obs = KazooClient(hosts=ens[4].hosts(), timeout=10)
        zk.start(timeout=30)
        obs.start(timeout=30)
        try:
            body = b'{"status":"ok","region":"eu-west-1","tags":["a","b"]}' * 8
            for k in range(100):
                zk.create("/z%03d" % k, body)
            wait_for(lambda: obs.exists("/z099") is not None, timeout=CATCHUP_S,
                     what="the writes at the observer")
            assert obs.get("/z050")[0] == body

            # stop a follower (no redial races us), pose as it dialing observer
            # 4 with zstd, then send a garbage compressed frame
            fake = next(i for i in (1, 2, 3) if ens.mode(i) == "follower")
            ens[fake].stop()
            s = socket.create_connection(("127.0.0.1", quorum_port(ens, 4)), timeout=10)
            s.sendall(b"TERNPEER" + struct.pack(">I", fake) + bytes([0, 1, 0, 0]))
            ans = b""
            while len(ans) < 16:
                chunk = s.recv(16 - len(ans))
                assert chunk, "observer closed instead of answering the hello"
                ans += chunk
            assert ans[:8] == b"TERNPEER" and struct.unpack(">I", ans[8:12])[0] == 4
            assert ans[13] & 1, "observer did not agree to zstd"
            garbage = struct.pack(">I", 64) + bytes(range(7, 67))
            s.sendall(struct.pack(">I", len(garbage) | 0x80000000) + garbage)
            s.settimeout(10)
            closed = False
            try:
                while True:
                    if not s.recv(65536):
                        closed = True
                        break
            except (ConnectionResetError, socket.timeout):
                closed = True
            s.close()
            assert closed
            wait_for(lambda: log_has(ens[4], "corrupt compressed frame"), timeout=10,
                     what="the corrupt-frame log line")
            assert ens[4].proc.poll() is None
            # the follower comes back and dials for real; data flows on
            ens[fake].start(timeout=30)
            zk.create("/after", body)
            wait_for(lambda: obs.exists("/after") is not None, timeout=CATCHUP_S,
                     what="the observer after the bad link")
        finally:
            zk.stop()
            zk.close()
            obs.stop()
            obs.close()
        ens.stop()
        for i in (1, 2, 3, 4):
            assert "runtime error:" not in ens[i].log_all(), ens[i].log_all()
    with Ensemble(TERND, n=2, observers=1, extra_cfg="tern.peer.compress=none\n") as ens:
        wait_for(lambda: ens.mode(3) == "observer", timeout=CATCHUP_S, what="observer 3")
        for i in (1, 2, 3):
            assert "zstd level" not in ens[i].log_all()


if __name__ == "__main__":
    need_kazoo()
    tests = [("zstd_links", test_zstd_links)]
    why = sites_missing()
    if why:
        print("SKIP remote_observers: " + why)
    else:
        tests.append(("remote_observers", test_remote_observers))
    run_tests(tests)
