"""Dynamic reconfiguration (ZooKeeper's reconfig op) on real ternd
ensembles on loopback, driven by kazoo.

/zookeeper/config shows the static config with the version of the first
epoch served (as ZooKeeper); reconfig errors
(disabled, no auth, bad version, no quorum, no change); grow 3 -> 5 with
joiners started on a config listing the current servers plus themselves,
then shrink 5 -> 3 removing the leader (it hands over); an observer swapped
into a voter. A writer runs through each change; every acknowledged write
is read back from every server afterwards, and every server shows the same
config. A restarted server keeps the committed config. The leader killed
(-9) right after a reconfig is sent: the rest agree on one config and lose
no acked write. A server that was down through a reconfig adopts the
committed config from the votes it hears and completes a quorum. `tern
reconfig` (zkCli syntax) end to end."""
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternlib  # noqa: E402
from ternlib import Ensemble, Raw, fourlw, run_tests, wait_for  # noqa: E402

ternlib.need_kazoo()
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import (BadArgumentsError, BadVersionError,  # noqa: E402
                              KazooException, NewConfigNoQuorumError, NoAuthError)

TERND = sys.argv[1]
SUPER = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="  # password "test"
CFG = "reconfigEnabled=true\nDigestAuthenticationProvider.superDigest=%s\n" % SUPER


def client(hosts, admin=False):
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=20)
    if admin:
        zk.add_auth("digest", "super:test")
    return zk


def spec(ens, i, role="participant"):
    line = [ln for ln in ens[i].extra_cfg.splitlines() if ln.startswith("server.%d=" % i)]
    if not line:
        line = [ln for ln in ens.lines if ln.startswith("server.%d=" % i)]
    s = line[0].split("=", 1)[1]
    addr, client_part = s.split(";")
    parts = addr.split(":")[:3]
    return "server.%d=%s:%s;%s" % (i, ":".join(parts), role, client_part)


def config_of(zk):
    data, _ = zk.get("/zookeeper/config")
    return data.decode()


def members(text):
    return sorted(ln for ln in text.splitlines() if ln.startswith("server."))


def server_id(line):
    return int(line.split(".")[1].split("=")[0])


def only_servers(ens, t, ids):
    """Rewrite server @t's zoo.cfg text to list only server.N for N in @ids."""
    if not hasattr(ens, "lines"):
        ens.lines = [ln for ln in ens[1].extra_cfg.splitlines() if ln.startswith("server.")]
    t.extra_cfg = "\n".join(ln for ln in t.extra_cfg.splitlines()
                            if not ln.startswith("server.") or server_id(ln) in ids) + "\n"


class Writer:
    """Creates sequential nodes until stopped; remembers the acknowledged."""

    def __init__(self, hosts):
        self.zk = client(hosts)
        self.zk.ensure_path("/w")
        self.acked = []
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.acked.append(self.zk.create("/w/n-", b"x", sequence=True))
            except KazooException:
                time.sleep(0.05)  # connection loss during a change: retry

    def stop(self):
        self.stop_ev.set()
        self.th.join(60)
        self.zk.stop()
        self.zk.close()


def check_all(ens, ids, acked, expect_members):
    """Every acknowledged write and the same config on every server in @ids."""
    for i in ids:
        zk = client(ens[i].hosts())
        try:
            zk.sync("/w")
            have = set("/w/" + c for c in zk.get_children("/w"))
            missing = [p for p in acked if p not in have]
            assert not missing, "server %d lacks %d acked writes, e.g. %s" % (
                i, len(missing), missing[:3])
            wait_for(lambda: members(config_of(zk)) == expect_members, 30,
                     "server %d config %s" % (i, expect_members))
        finally:
            zk.stop()
            zk.close()


def test_config_and_errors():
    with Ensemble(TERND, 3, extra_cfg=CFG) as ens:
        zk = client(ens.hosts())
        text = config_of(zk)
        assert members(text) == [spec(ens, i) for i in (1, 2, 3)], text
        # as ZooKeeper: a static config takes the version of the first epoch served
        last = text.splitlines()[-1]
        assert last.startswith("version=") and last.endswith("00000000") and last != "version=0", text
        _, st = zk.get("/zookeeper/config")
        assert st.version == -1 and st.mzxid == int(last.split("=")[1], 16), st
        try:
            zk.reconfig(joining=None, leaving="3", new_members=None)
            raise AssertionError("reconfig without super succeeded")
        except NoAuthError:
            pass
        zk.add_auth("digest", "super:test")
        try:
            zk.reconfig(joining=None, leaving="3", new_members=None, from_config=0x12345)
            raise AssertionError("bad version accepted")
        except BadVersionError:
            pass
        # voters 1, 4, 5 where 4 and 5 do not exist: no synced quorum
        try:
            zk.reconfig(joining="server.4=127.0.0.1:1:2:participant;127.0.0.1:3,"
                        "server.5=127.0.0.1:4:5:participant;127.0.0.1:6",
                        leaving="2,3", new_members=None)
            raise AssertionError("a config without a quorum accepted")
        except NewConfigNoQuorumError:
            pass
        try:
            zk.reconfig(joining=None, leaving="9", new_members=None)
            raise AssertionError("a no-op reconfig accepted")
        except BadArgumentsError:
            pass
        assert config_of(zk) == text
        zk.stop()
        zk.close()


def test_disabled():
    with ternlib.Ternd(TERND) as srv:
        r = Raw(srv.port)
        r.connect()
        body = Raw.ustr("") + Raw.ustr("1") + struct.pack(">i", -1) + struct.pack(">q", -1)
        err, _, _ = r.request(16, body)
        r.close()
        assert err == -123, err


def test_grow_then_shrink_removing_leader():
    ens = Ensemble(TERND, 5, extra_cfg=CFG)
    for i in (1, 2, 3):
        only_servers(ens, ens[i], (1, 2, 3))
    for j in (4, 5):  # the joiners list the current servers plus themselves
        only_servers(ens, ens[j], (1, 2, 3, j))
    try:
        for i in (1, 2, 3):
            ens[i].serving = lambda: True
            ens[i].start(timeout=30)
        ens.wait_leader(60, serving=[1, 2, 3])
        w = Writer(ens.hosts([1, 2, 3]))
        for j in (4, 5):
            ens[j].serving = lambda: True
            ens[j].start(timeout=30)
        time.sleep(0.5)
        adm = client(ens.hosts([1, 2, 3]), admin=True)
        data, stat = adm.reconfig(joining="%s,%s" % (spec(ens, 4), spec(ens, 5)),
                                  leaving=None, new_members=None)
        text = data.decode()
        five = [spec(ens, i) for i in range(1, 6)]
        assert members(text) == five, text
        assert text.splitlines()[-1] == "version=%x" % stat.mzxid, (text, stat)
        assert stat.version == -1, stat  # ZooKeeper's config node keeps version -1
        ens.wait_leader(60, serving=[1, 2, 3, 4, 5])
        time.sleep(0.5)
        # conf (four-letter word) shows the membership in force, not zoo.cfg's
        for i in (1, 4):
            conf = fourlw(ens[i].port, "conf")
            ids = sorted(int(line.split("=")[0][7:]) for line in conf.splitlines()
                         if line.startswith("server."))
            assert ids == [1, 2, 3, 4, 5], conf
            assert conf.endswith("version=%x" % stat.mzxid), conf
        # shrink to 3, removing the leader and one more
        lead = ens.leader()
        gone = [lead] + [i for i in (1, 2, 3, 4, 5) if i != lead][:1]
        stay = [i for i in (1, 2, 3, 4, 5) if i not in gone]
        data, stat2 = adm.reconfig(joining=None, leaving=",".join(map(str, gone)),
                                   new_members=None, from_config=stat.mzxid)
        assert members(data.decode()) == [spec(ens, i) for i in stay], data
        ens.wait_leader(60, serving=stay)
        assert ens.leader() in stay
        time.sleep(0.5)
        adm.stop()
        adm.close()
        w.stop()
        assert len(w.acked) > 0
        check_all(ens, stay, w.acked, [spec(ens, i) for i in stay])
        # a restarted member comes back with the committed config
        ens[stay[0]].stop()
        ens[stay[0]].start(timeout=30)
        ens.wait_leader(60, serving=stay)
        check_all(ens, stay[:1], w.acked, [spec(ens, i) for i in stay])
    except BaseException:
        for i in range(1, 6):
            sys.stderr.write("--- server %d log ---\n%s\n" % (i, ens[i].log()[-6000:]))
        raise
    finally:
        ens.stop()
        ens.cleanup()


def test_observer_becomes_voter():
    with Ensemble(TERND, 3, observers=1, extra_cfg=CFG) as ens:
        w = Writer(ens.hosts())
        adm = client(ens.hosts([1, 2, 3]), admin=True)
        text = config_of(adm)
        assert spec(ens, 4, "observer") in members(text), text
        data, _ = adm.reconfig(joining=spec(ens, 4), leaving=None, new_members=None)
        assert members(data.decode()) == [spec(ens, i) for i in (1, 2, 3, 4)], data
        wait_for(lambda: ens.mode(4) == "follower", 60, "server 4 following")
        ens.wait_leader(60)
        time.sleep(0.5)
        adm.stop()
        adm.close()
        w.stop()
        check_all(ens, (1, 2, 3, 4), w.acked, [spec(ens, i) for i in (1, 2, 3, 4)])


def test_leader_killed_during_reconfig():
    """kill -9 the leader right after a reconfig is sent: the rest elect a
    leader, agree on one config (old or new), and lose no acked write."""
    with Ensemble(TERND, 5, extra_cfg=CFG) as ens:
        w = Writer(ens.hosts())
        time.sleep(0.5)
        lead = ens.leader()
        victim = [i for i in (1, 2, 3, 4, 5) if i != lead][0]
        adm = client(ens[lead].hosts(), admin=True)
        adm.reconfig_async(None, str(victim), None, -1)
        ens[lead].kill()
        rest = [i for i in (1, 2, 3, 4, 5) if i != lead]
        # If the removal committed before the kill, the victim may have missed
        # the COMMIT: it is out of the config and stays silent (as a removed
        # ZooKeeper server does), so only the others must serve.
        def settled():
            modes = {i: ens.mode(i) for i in rest}
            return (list(modes.values()).count("leader") == 1 and
                    all(modes[i] in ("leader", "follower") for i in rest if i != victim))
        wait_for(settled, 60, "a leader, every server but %d serving" % victim)
        time.sleep(0.5)
        zk = client(ens.hosts([i for i in rest if i != victim]))
        zk.sync("/")
        serving = [i for i in rest if spec(ens, i) in members(config_of(zk))]
        zk.stop()
        zk.close()
        ens.wait_leader(60, serving=serving)

        def configs():
            out = set()
            for i in serving:
                zk = client(ens[i].hosts())
                try:
                    zk.sync("/")
                    out.add(config_of(zk))
                finally:
                    zk.stop()
                    zk.close()
            return out
        wait_for(lambda: len(configs()) == 1, 60, "one config on every live server")
        text = configs().pop()
        try:
            adm.stop()
            adm.close()
        except KazooException:
            pass
        w.stop()
        live = [i for i in rest if spec(ens, i) in members(text)]
        assert live == serving, (live, serving, text)
        if victim not in live:
            assert ens.mode(victim) not in ("leader", "follower"), ens.mode(victim)
        check_all(ens, live, w.acked, members(text))
        # the old leader comes back and takes the same config
        ens[lead].start(timeout=30)
        if spec(ens, lead) in members(text):
            ens.wait_leader(60, serving=live + [lead])
            check_all(ens, [lead], w.acked, members(text))


def test_stale_config_adopted_from_votes():
    """A server that slept through a reconfig learns it from the votes it
    hears: observer 4 is down while it is made a voter (voters 1..4, quorum
    3), then the leader is killed, so the two left need 4's vote. 4 comes
    back an observer by its own files; the votes carry the committed config
    (as ZooKeeper's notifications do), 4 adopts it and votes, a leader is
    elected, and no acknowledged write is lost."""
    with Ensemble(TERND, 3, observers=1, extra_cfg=CFG) as ens:
        ens[4].stop()
        w = Writer(ens.hosts([1, 2, 3]))
        adm = client(ens.hosts([1, 2, 3]), admin=True)
        data, _ = adm.reconfig(joining=spec(ens, 4), leaving=None, new_members=None)
        four = [spec(ens, i) for i in (1, 2, 3, 4)]
        assert members(data.decode()) == four, data
        adm.stop()
        adm.close()
        time.sleep(0.5)
        w.stop()
        lead = ens.leader()
        ens[lead].kill()
        rest = [i for i in (1, 2, 3) if i != lead]
        time.sleep(1.0)  # 2 of 4 voters: no leader can serve without server 4
        assert all(ens.mode(i) not in ("leader", "follower") for i in rest), \
            {i: ens.mode(i) for i in rest}
        ens[4].start(timeout=30)
        ens.wait_leader(60, serving=rest + [4])
        assert "adopting it" in ens[4].log_all(), ens[4].log()[-3000:]
        check_all(ens, rest + [4], w.acked, four)


def test_tern_cli():
    """`tern reconfig` (zkCli syntax): remove a server, add it back as an
    observer at the version the first change printed, stale version refused."""
    import subprocess
    tern = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(TERND))), "tools", "tern")
    with Ensemble(TERND, 3, extra_cfg=CFG) as ens:
        base = [tern, "--server", ens.hosts(), "--auth", "digest:super:test", "reconfig"]

        def run(*args):
            return subprocess.run(base + list(args), capture_output=True, text=True, timeout=60)
        r = run("-remove", "3")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("Committed new configuration:"), r.stdout
        lines = r.stdout.strip().splitlines()
        assert members("\n".join(lines)) == [spec(ens, 1), spec(ens, 2)], r.stdout
        version = lines[-1].split("=", 1)[1]
        r = run("-v", version, "-add", spec(ens, 3, "observer"), "-s")
        assert r.returncode == 0, r.stderr
        assert spec(ens, 3, "observer") in r.stdout and "mzxid = 0x" in r.stdout, r.stdout
        r = run("-v", version, "-remove", "2")
        assert r.returncode == 1 and "BadVersion" in r.stderr, (r.returncode, r.stderr)
        r = subprocess.run(base[:3] + ["reconfig", "-remove", "2"], capture_output=True,
                           text=True, timeout=60)  # no superuser
        assert r.returncode == 1 and "NoAuth" in r.stderr, (r.returncode, r.stderr)
        wait_for(lambda: ens.mode(3) == "observer", 60, "server 3 observing")


if __name__ == "__main__":
    run_tests([
        ("config_and_errors", test_config_and_errors),
        ("disabled", test_disabled),
        ("grow_then_shrink_removing_leader", test_grow_then_shrink_removing_leader),
        ("observer_becomes_voter", test_observer_becomes_voter),
        ("leader_killed_during_reconfig", test_leader_killed_during_reconfig),
        ("stale_config_adopted_from_votes", test_stale_config_adopted_from_votes),
        ("tern_cli", test_tern_cli),
    ])
