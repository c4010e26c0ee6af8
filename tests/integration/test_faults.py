"""Faults under load, checked by a history checker (issue 5).

A 3-server ensemble (tickTime 200) of real ternd processes on loopback takes
load from client processes (kazoo, each client pinned to one server by its
connection string): writes, compare-and-set by version, sync+read and
create-once on a few register keys, plus unique and sequential creates.
Every op is recorded with monotonic invocation and completion times; an op
whose outcome the client cannot know (connection loss, timeout, expiry) is
recorded as unknown. Meanwhile a seeded nemesis kills (SIGKILL, restart),
pauses (SIGSTOP/SIGCONT) and partitions servers, the leader included, in
bounded steps for NEMESIS_SECONDS.

TERN_DATAPLANE=dpdk runs the same with the peer channels over DPDK ports
(ternlib.DpdkNet); partitions then cut at that network's bridge.

Partitions: each server runs under its own uid (setpriv); an nftables table
`inet tern_faults_<pid>` marks each quorum/election connection with its
initiator's id (conntrack mark set by skuid) and drops both directions of
connections between cut servers. The table is created before the servers
start and always deleted. Without nft or setpriv, partitions are skipped
(deploy/rack.sh covers them with network namespaces).

Afterwards, all servers up and a leader: every server's srvr zxid converges,
every server's data agrees (getChildren/getData after sync through each),
every acknowledged create is present through every server, no server
crashed, and each key's register history is linearizable (lincheck.py).
The numbers are printed. TERN_SEED=N replays the nemesis schedule; on
failure the history and the server logs are kept in TERN_EVIDENCE_DIR
(default /tmp) under tern-faults-<seed>/.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lincheck  # noqa: E402
import ternlib  # noqa: E402
from ternlib import Ensemble, run_tests, wait_for  # noqa: E402

NEMESIS_SECONDS = 25.0     # total time faults are injected
MAX_FAULTS = 40            # bound on nemesis steps
FAULT_HOLD = (0.4, 3.0)    # seconds a fault lasts
FAULT_GAP = (0.3, 1.5)     # seconds between faults
CLIENT_PROCS = 3           # one per server
THREADS_PER_PROC = 2       # kazoo clients per process
MAX_OPS_PER_THREAD = 40000  # a bound, above what 30 s of load reaches
OP_TIMEOUT = 4.0           # seconds a client waits for one reply
KEYS = ["/reg/k0", "/reg/k1", "/reg/k2"]
CHECK_BUDGET = 90.0        # seconds for the linearizability search
TICK = 200
UID_BASE = 47300           # server i runs as uid UID_BASE + i (for partitions)


# ---------------------------------------------------------------- client side

def client_main(argv):
    """--client CID HOSTS SECONDS OUTFILE SEED: run THREADS_PER_PROC kazoo
    clients against HOSTS until SECONDS pass; write their ops to OUTFILE."""
    import logging
    logging.getLogger("kazoo").setLevel(logging.ERROR)  # reconnects are expected here
    from kazoo.client import KazooClient
    from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
    cid, hosts, seconds, outfile, seed = (int(argv[0]), argv[1], float(argv[2]),
                                          argv[3], int(argv[4]))
    deadline = time.monotonic() + seconds
    out, lock = [], threading.Lock()

    def now():
        return time.monotonic_ns()

    def worker(tid):
        rnd = random.Random(seed * 1000 + tid)
        name = "%d.%d" % (cid, tid)
        zk = KazooClient(hosts=hosts, timeout=4.0,
                         connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5})
        try:
            zk.start(timeout=20)
        except Exception as e:  # noqa: BLE001
            with lock:
                out.append({"error": "client %s did not connect: %r" % (name, e)})
            return
        seen = {}  # key -> last version this client saw
        mine = []
        n = 0
        try:
            while time.monotonic() < deadline and n < MAX_OPS_PER_THREAD:
                if not zk.connected:
                    time.sleep(0.05)
                    continue
                n += 1
                r = rnd.random()
                if r < 0.08:  # unique named create
                    path = "/uniq/c%s-%d" % (name, n)
                    t0 = now()
                    try:
                        zk.create_async(path, b"u").get(timeout=OP_TIMEOUT)
                        st = "ok"
                    except NodeExistsError:
                        st = "exists"
                    except Exception:  # noqa: BLE001 - unknown outcome
                        st = "unknown"
                    mine.append({"create": path, "status": st, "call": t0, "ret": now()})
                    if st == "unknown":
                        time.sleep(0.1)
                    continue
                if r < 0.14:  # sequential create: the reply names the node
                    t0 = now()
                    try:
                        path = zk.create_async("/seq/c%s-" % name, b"s",
                                               sequence=True).get(timeout=OP_TIMEOUT)
                        st = "ok"
                    except Exception:  # noqa: BLE001
                        path, st = None, "unknown"
                    mine.append({"create": path, "seq": True, "status": st,
                                 "call": t0, "ret": now()})
                    if st == "unknown":
                        time.sleep(0.1)
                    continue
                key = rnd.choice(KEYS)
                data = "%s.%d" % (name, n)
                r = rnd.random()
                if key not in seen or r < 0.03:
                    kind, arg = "create", data
                elif r < 0.38:
                    kind, arg = "write", data
                elif r < 0.65:
                    ev = seen[key] if rnd.random() < 0.8 else max(0, seen[key] - 1)
                    kind, arg = "cas", (ev, data)
                else:
                    kind, arg = "read", None
                t0 = now()
                res = None
                try:
                    if kind == "create":
                        zk.create_async(key, data.encode()).get(timeout=OP_TIMEOUT)
                        res = "ok"
                        seen[key] = 0
                    elif kind == "write":
                        st = zk.set_async(key, data.encode(), -1).get(timeout=OP_TIMEOUT)
                        res = ("ok", st.version)
                        seen[key] = st.version
                    elif kind == "cas":
                        st = zk.set_async(key, data.encode(), arg[0]).get(timeout=OP_TIMEOUT)
                        res = ("ok", st.version)
                        seen[key] = st.version
                    else:
                        zk.sync_async(key).get(timeout=OP_TIMEOUT)
                        d, st = zk.get_async(key).get(timeout=OP_TIMEOUT)
                        res = ("ok", d.decode(), st.version)
                        seen[key] = st.version
                except NoNodeError:
                    res = "nonode"
                except NodeExistsError:
                    res = "exists"
                    seen.setdefault(key, 0)
                except BadVersionError:
                    res = "badversion"
                except Exception:  # noqa: BLE001 - connection loss, timeout: unknown
                    res = None
                t1 = now()
                mine.append({"key": key, "kind": kind, "arg": arg, "result": res,
                             "call": t0, "ret": None if res is None else t1,
                             "client": name})
                if res is None:
                    time.sleep(0.1)
        finally:
            with lock:
                out.extend(mine)
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001
                pass

    ths = [threading.Thread(target=worker, args=(t,), daemon=True)
           for t in range(THREADS_PER_PROC)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(seconds + 60)
    with lock, open(outfile + ".tmp", "w") as f:
        for rec in out:
            f.write(json.dumps(rec) + "\n")
    os.rename(outfile + ".tmp", outfile)
    return 0


if len(sys.argv) > 1 and sys.argv[1] == "--client":
    sys.exit(client_main(sys.argv[2:]))

ternlib.need_kazoo()
import logging  # noqa: E402
logging.getLogger("kazoo").setLevel(logging.ERROR)
from kazoo.client import KazooClient  # noqa: E402

TERND = sys.argv[1]


def client(hosts, **kw):
    kw.setdefault("timeout", 10)
    zk = KazooClient(hosts=hosts, **kw)
    zk.start(timeout=20)
    return zk


# ---------------------------------------------------------------- partitions

class Partitioner:
    """Cuts quorum/election traffic between servers with nftables. Each
    server runs as its own uid; a new connection's conntrack mark records
    the id of the server that opened it, so both directions of a
    connection between two cut servers can be dropped."""

    def __init__(self, ens):
        self.ens = ens
        self.table = "tern_faults_%d" % os.getpid()
        self.why_not = None
        self.active = False
        self.cut_now = set()
        if ens.dpdk:
            self.table = "bridge cut (netns %s)" % ens.dpdk.ns  # for the log line
        elif ternlib.is_zk(ens.ternd):
            self.why_not = "servers are Apache ZooKeeper JVMs"
        elif not shutil.which("nft") or not shutil.which("setpriv"):
            self.why_not = "nft or setpriv missing"
        elif os.geteuid() != 0:
            self.why_not = "not root"

    def setup(self):
        """Before the servers start: run each under its own uid, create the table."""
        if self.why_not:
            return False
        if self.ens.dpdk:  # peers over DPDK: cut at the bridge (ternlib.DpdkNet)
            self.active = True
            return True
        self._ports = {}
        for i in range(1, self.ens.n + 1):
            t = self.ens[i]
            # server.i=127.0.0.1:Q:E;... in its config text
            for line in t.extra_cfg.splitlines():
                if line.startswith("server.%d=" % i):
                    hp = line.split("=", 1)[1].split(";")[0].split(":")
                    self._ports[i] = (int(hp[1]), int(hp[2]))
        rules = ["table inet %s {" % self.table,
                 "  chain out {",
                 "    type filter hook output priority 0; policy accept;"]
        for i in range(1, self.ens.n + 1):
            rules.append("    ct state new meta skuid %d ct mark set %d" % (UID_BASE + i, i))
        rules += ["    jump cut", "  }", "  chain cut {", "  }", "}"]
        r = subprocess.run(["nft", "-f", "-"], input="\n".join(rules) + "\n",
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            self.why_not = "nft refused the table: " + r.stderr.strip()
            return False
        self.active = True
        os.chmod(self.ens.dir, 0o755)
        for i in range(1, self.ens.n + 1):
            t = self.ens[i]
            uid = UID_BASE + i
            for root, dirs, files in os.walk(t.dir):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), uid, uid)
            os.chown(t.dir, uid, uid)
            wrapper = os.path.join(self.ens.dir, "ternd-as-%d.sh" % i)
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\nexec setpriv --reuid=%d --regid=%d --clear-groups "
                        "-- %s \"$@\"\n" % (uid, uid, os.path.abspath(self.ens.ternd)))
            os.chmod(wrapper, 0o755)
            t.ternd = wrapper
        return True

    def _nft(self, *args):
        subprocess.run(["nft"] + list(args), check=True, capture_output=True, timeout=10)

    def cut(self, group):
        """Cut every server in @group off from every server outside it."""
        rest = [j for j in range(1, self.ens.n + 1) if j not in group]
        if self.ens.dpdk:
            self.ens.dpdk.cut(group)
            self.cut_now = set(group)
            return
        for a in range(1, self.ens.n + 1):
            others = rest if a in group else group
            ports = ", ".join("%d, %d" % self._ports[b] for b in others)
            self._nft("add", "rule", "inet", self.table, "cut",
                      "ct", "mark", str(a), "tcp", "dport", "{ %s }" % ports, "drop")
            self._nft("add", "rule", "inet", self.table, "cut",
                      "ct", "mark", str(a), "tcp", "sport", "{ %s }" % ports, "drop")
        self.cut_now = set(group)

    def heal(self):
        if self.active and self.ens.dpdk:
            self.ens.dpdk.heal()
        elif self.active:
            self._nft("flush", "chain", "inet", self.table, "cut")
        self.cut_now = set()

    def teardown(self):
        if self.active and not self.ens.dpdk:  # DpdkNet goes with the ensemble
            subprocess.run(["nft", "delete", "table", "inet", self.table],
                           capture_output=True, timeout=10)
            self.active = False


# ---------------------------------------------------------------- nemesis

class Nemesis:
    def __init__(self, ens, part, rnd):
        self.ens, self.part, self.rnd = ens, part, rnd
        self.paused = set()
        self.killed = set()
        self.schedule = []     # (seconds since start, text)
        self.counts = {}
        self.crashes = []
        self.t0 = time.monotonic()

    def note(self, text):
        line = (time.monotonic() - self.t0, text)
        self.schedule.append(line)
        print("  nemesis %6.2fs %s" % line)
        sys.stdout.flush()

    def count(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def check_crashes(self):
        for i in range(1, self.ens.n + 1):
            t = self.ens[i]
            if i in self.killed or not t.proc:
                continue
            rc = t.proc.poll()
            if rc is not None:
                self.crashes.append((i, rc, t.log()[-3000:]))
                self.note("server %d CRASHED (exit %d)" % (i, rc))
                self.killed.add(i)  # restart it so the run goes on

    def pick(self, who):
        if who == "leader":
            lead = self.ens.leader()
            if lead is not None:
                return lead, "leader %d" % lead
        i = self.rnd.randint(1, self.ens.n)
        return i, "server %d (%s)" % (i, self.ens.mode(i, 0.5) or "?")

    def zxids(self):
        out = []
        for i in range(1, self.ens.n + 1):
            try:
                out.append("%x" % self.ens.zxid(i))
            except (OSError, TypeError):
                out.append("?")
        return "/".join(out)

    def heal_all(self):
        for i in sorted(self.paused):
            try:
                os.kill(self.ens[i].proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.paused.clear()
        self.part.heal()
        for i in sorted(self.killed):
            try:
                self.ens[i].start(timeout=20)
            except RuntimeError as e:
                self.crashes.append((i, "restart failed", str(e)[-3000:]))
                self.note("server %d did not restart: %s" % (i, str(e).splitlines()[0]))
                continue
        self.killed = {i for i in self.killed
                       if not self.ens[i].proc or self.ens[i].proc.poll() is not None}

    def step(self):
        kinds = ["kill", "kill", "pause", "pause", "kill+pause"]
        if self.part.active:
            kinds += ["partition", "partition"]
        kind = self.rnd.choice(kinds)
        who = "leader" if self.rnd.random() < 0.5 else "any"
        hold = self.rnd.uniform(*FAULT_HOLD)
        i, desc = self.pick(who)
        if kind == "kill":
            self.note("kill -9 %s for %.1fs" % (desc, hold))
            self.ens[i].kill()
            self.killed.add(i)
        elif kind == "pause":
            self.note("SIGSTOP %s for %.1fs" % (desc, hold))
            os.kill(self.ens[i].proc.pid, signal.SIGSTOP)
            self.paused.add(i)
        elif kind == "kill+pause":  # no quorum for a while: safety, not progress
            j = self.rnd.choice([x for x in range(1, self.ens.n + 1) if x != i])
            self.note("kill -9 %s and SIGSTOP server %d for %.1fs" % (desc, j, hold))
            self.ens[i].kill()
            self.killed.add(i)
            os.kill(self.ens[j].proc.pid, signal.SIGSTOP)
            self.paused.add(j)
            self.count("pause")
            kind = "kill"
        else:
            self.note("partition %s from the others for %.1fs" % (desc, hold))
            self.part.cut([i])
        self.count(kind)
        time.sleep(hold)
        t_heal = time.monotonic()
        self.heal_all()
        t_up = time.monotonic()
        try:
            lead = self.ens.wait_leader(15)
            self.note("healed (processes up in %.2fs, all serving %.2fs later); leader %d, "
                      "zxids %s" % (t_up - t_heal, time.monotonic() - t_up, lead, self.zxids()))
        except AssertionError:
            self.note("healed; no leader within 15s")
        time.sleep(self.rnd.uniform(*FAULT_GAP))
        self.check_crashes()

    def run(self, seconds):
        end = time.monotonic() + seconds
        n = 0
        try:
            while time.monotonic() < end and n < MAX_FAULTS:
                self.step()
                n += 1
        finally:
            self.heal_all()
        return n


# ---------------------------------------------------------------- checks

def dump_tree(ens, i):
    """Everything under /reg, /seq, /uniq as one server serves it, after sync."""
    zk = client(ens[i].hosts())
    try:
        zk.sync("/")
        tree = {}
        for top in ("/reg", "/seq", "/uniq"):
            zk.sync(top)
            kids = sorted(zk.get_children(top))
            tree[top] = kids
            if top == "/reg":
                for k in kids:
                    d, st = zk.get(top + "/" + k)
                    tree[top + "/" + k] = (d.decode(), st.version, st.mzxid)
        return tree
    finally:
        zk.stop()
        zk.close()


def keep_evidence(seed, ens, ops, creates, schedule, text):
    base = os.environ.get("TERN_EVIDENCE_DIR", tempfile.gettempdir())
    d = os.path.join(base, "tern-faults-%d" % seed)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "history.jsonl"), "w") as f:
        for o in ops:
            f.write(o.to_json() + "\n")
    with open(os.path.join(d, "creates.jsonl"), "w") as f:
        for c in creates:
            f.write(json.dumps(c) + "\n")
    with open(os.path.join(d, "schedule.txt"), "w") as f:
        f.write("seed %d\n" % seed)
        for t, s in schedule:
            f.write("%7.2f %s\n" % (t, s))
        f.write("\n" + text + "\n")
    for i in range(1, ens.n + 1):
        try:
            shutil.copy(ens[i].log_path, os.path.join(d, "server%d.log" % i))
        except OSError:
            pass
    print("evidence kept in %s (replay the check: lincheck.py %s/history.jsonl)" % (d, d))


def test_faults_under_load():
    seed = int(os.environ.get("TERN_SEED", str(int(time.time() * 1000) % 1000000)))
    print("seed %d (TERN_SEED=%d replays the nemesis schedule)" % (seed, seed))
    rnd = random.Random(seed)
    ens = Ensemble(TERND, 3, tick=TICK)
    part = Partitioner(ens)
    procs, outdir = [], tempfile.mkdtemp(prefix="tern-faults-")
    nem = None
    ops, creates, kept = [], [], []
    try:
        if part.setup() and ens.dpdk:
            print("partitions: peers over DPDK, nftables table %s" % part.table)
        elif part.active:
            print("partitions: nftables table inet %s, servers as uids %d..%d"
                  % (part.table, UID_BASE + 1, UID_BASE + 3))
        else:
            print("partitions: skipped (%s); deploy/rack.sh covers them" % part.why_not)
        ens.__enter__()
        zk = client(ens.hosts())
        for p in ("/reg", "/seq", "/uniq"):
            zk.create(p, b"")
        zk.stop()
        zk.close()

        load_seconds = NEMESIS_SECONDS + 6
        for c in range(CLIENT_PROCS):
            srv = ens[1 + c % ens.n]
            out = os.path.join(outdir, "client%d.jsonl" % c)
            procs.append((subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--client", str(c), srv.hosts(),
                 str(load_seconds), out, str(seed * 10 + c)]), out))
        time.sleep(2.0)  # load before faults
        nem = Nemesis(ens, part, rnd)
        t_nem = time.monotonic()
        nsteps = nem.run(NEMESIS_SECONDS)
        print("nemesis: %d steps in %.1fs: %s" % (nsteps, time.monotonic() - t_nem, nem.counts))

        # all up: one leader and every server serving
        lead = ens.wait_leader(30, serving=[1, 2, 3])
        for p, _ in procs:
            try:
                p.wait(load_seconds + 90)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        t_end = time.monotonic_ns()
        errors = []
        for p, out in procs:
            if not os.path.exists(out):
                errors.append("client exited %s without a history" % p.returncode)
                continue
            with open(out) as f:
                for line in f:
                    rec = json.loads(line)
                    if "error" in rec:
                        errors.append(rec["error"])
                    elif "create" in rec:
                        creates.append(rec)
                    else:
                        ops.append(lincheck.Op(rec["key"], rec["kind"], lincheck._tup(rec["arg"]),
                                               lincheck._tup(rec["result"]), rec["call"],
                                               rec["ret"], rec["client"]))
        assert not errors, errors

        # convergence: every server reaches the leader's zxid
        def zx():
            try:
                return [ens.zxid(i) for i in (1, 2, 3)]
            except OSError:
                return [None]
        try:
            wait_for(lambda: len(set(zx())) == 1 and None not in zx(), 30, "zxids to converge")
        except AssertionError:
            raise AssertionError("servers never caught up: zxids %s" % [
                hex(z) if z else z for z in zx()])
        zxids = zx()
        trees = {i: dump_tree(ens, i) for i in (1, 2, 3)}
        problems = []
        for i in (2, 3):
            if trees[i] != trees[1]:
                diff = {k: (trees[1].get(k), trees[i].get(k)) for k in
                        set(trees[1]) | set(trees[i]) if trees[1].get(k) != trees[i].get(k)}
                problems.append("server %d disagrees with server 1: %s" % (i, str(diff)[:2000]))
        acked = [c for c in creates if c["status"] == "ok"]
        unknown_creates = [c for c in creates if c["status"] == "unknown"]
        for i in (1, 2, 3):
            have = ({"/seq/" + k for k in trees[i]["/seq"]} |
                    {"/uniq/" + k for k in trees[i]["/uniq"]})
            lost = [c["create"] for c in acked if c["create"] not in have]
            if lost:
                problems.append("server %d lost %d acknowledged creates: %s" % (
                    i, len(lost), lost[:10]))
        # a uniq create that answered "exists" was never created before: a retried
        # request applied twice would show here
        dup = [c["create"] for c in creates if c["status"] == "exists"]
        if dup:
            problems.append("unique creates answered NodeExists: %s" % dup[:10])
        # the final state of each key is one more read, after everything
        for k in KEYS:
            v = trees[1].get(k)
            res = ("ok", v[0], v[1]) if v else "nonode"
            ops.append(lincheck.Op(k, "read", None, res, t_end, time.monotonic_ns(), "final"))
        for n, o in enumerate(ops):
            o.id = n
        known = [o for o in ops if not o.unknown]
        t0 = time.monotonic()
        status, verdicts = lincheck.check(ops, budget=CHECK_BUDGET)
        check_s = time.monotonic() - t0
        for v in verdicts:
            print("  key %r" % v)
        if status != lincheck.OK:
            problems.append("register history: %s\n%s" % (
                status, "\n".join(repr(v) for v in verdicts if v.status != lincheck.OK)))
        for c in nem.crashes:
            problems.append("server %s crashed (%s):\n%s" % c)

        print("ops: %d register ops (%d acknowledged or definite, %d unknown), "
              "%d creates (%d acknowledged, %d unknown)" % (
                  len(ops), len(known), len(ops) - len(known), len(creates), len(acked),
                  len(unknown_creates)))
        print("by kind: %s" % {k: sum(1 for o in ops if o.kind == k)
                               for k in ("create", "write", "cas", "read")})
        print("faults injected: %d (%s), partitions %s" % (
            sum(nem.counts.values()), nem.counts,
            "on" if part.active else "off (%s)" % part.why_not))
        print("final zxid %s on all servers, leader %d; checker %.2fs: %s" % (
            hex(zxids[0]), lead, check_s, status))
        mz = max((trees[1][k][2] for k in KEYS if trees[1].get(k)), default=0)
        if mz > zxids[0]:
            problems.append("srvr reports zxid %x on every server but %s has mzxid %x: "
                            "srvr's zxid is stale" % (zxids[0], [k for k in KEYS if trees[1].get(k)
                                                                 and trees[1][k][2] == mz], mz))
        acks = sorted(o.ret for o in known if o.kind != "read" and (
            isinstance(o.result, tuple) or o.result == "ok"))
        if acks:
            base = nem.t0 * 1e9
            per = {}
            for t in acks:
                b = int((t - base) / 5e9) * 5
                per[b] = per.get(b, 0) + 1
            print("acknowledged writes per 5 s from the nemesis start: %s" % sorted(per.items()))
        if problems or os.environ.get("TERN_KEEP"):
            text = "\n".join(problems)
            keep_evidence(seed, ens, ops, creates, nem.schedule, text)
            kept.append(True)
        if problems:
            raise AssertionError(text)
    except Exception as e:
        if nem and not kept:  # e.g. no leader after the faults, zxids never converge
            keep_evidence(seed, ens, ops, creates, nem.schedule, "%r" % e)
        raise
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        if nem:
            for i in nem.paused:
                try:
                    os.kill(ens[i].proc.pid, signal.SIGCONT)
                except (ProcessLookupError, AttributeError):
                    pass
        part.teardown()
        ens.__exit__(*sys.exc_info())
        shutil.rmtree(outdir, ignore_errors=True)


if __name__ == "__main__":
    run_tests([("faults_under_load", test_faults_under_load)])
