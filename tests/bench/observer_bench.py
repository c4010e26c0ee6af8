#!/usr/bin/python3
"""observer_bench.py: what observers cost the leader (issue 7). A 3-voter
ternd ensemble under a steady tern-bench write load (setData 100 B, sessions
on the voters only) with: no observers; 8 observers on the leader; 8 fed by
learner masters (4 follow server 1, 4 follow server 2, ZooKeeper 3.6's
observer-master layout); 8 as one remote site (the first follows the rack,
the other 7 follow it: tern.observer.master chaining).

Prints, per layout: writes/s, the leader's CPU (utime+stime from
/proc/PID/stat) per 1000 committed txns (zxid counter delta over the same
window), how many observers the leader itself streams to, and the whole
ensemble's CPU per 1000 txns. Numbers only, no assertions: everything shares
this machine, so compare the rows, not the absolute values.

usage: tests/bench/observer_bench.py [--quick] [--ternd PATH] [--tern-bench PATH]
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import ternlib  # noqa: E402

OBSERVERS = 8


def newest(rel):
    best = None
    for d in os.listdir(ROOT):
        p = os.path.join(ROOT, d, rel)
        if d.startswith("build") and "asan" not in d and "fuzz" not in d and os.access(p, os.X_OK):
            if best is None or os.path.getmtime(p) > os.path.getmtime(best):
                best = p
    return best


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def leader_stream(port):
    """Observers (sid > 3) the leader streams to, from its admin API."""
    with urllib.request.urlopen("http://127.0.0.1:%d/commands/leader" % port, timeout=10) as r:
        o = json.loads(r.read().decode())
    return sorted(p["sid"] for p in o.get("peers", []) if p.get("synced") and p["sid"] > 3)


def layout_masters(name):
    """{observer sid: tern.observer.master value} for a layout."""
    obs = range(4, 4 + OBSERVERS)
    if name == "learner masters":
        return {s: ("1" if k % 2 == 0 else "2") for k, s in enumerate(obs)}
    if name == "site chain":
        return {s: ("1,2" if s == 4 else "4") for s in obs}
    return {}


def run(ternd, tb, name, observers, warmup, duration):
    ens = ternlib.Ensemble(ternd, 3, observers=observers, tick=500,
                           extra_cfg="forceSync=yes\ntern.workers=1\n")
    ports = {}
    for i in range(1, 4):
        ports[i] = ternlib.free_port()
        ens[i].extra_cfg += ("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\n"
                             "admin.serverPort=%d\n" % ports[i])
    for sid, m in layout_masters(name).items():
        ens[sid].extra_cfg += "tern.observer.master=%s\n" % m
    with ens:
        leader = ens.wait_leader(120)
        time.sleep(2.0)  # observers settle on their masters
        lp = ens[leader].proc.pid
        pids = [t.proc.pid for t in ens.servers]
        z0, c0, a0 = ens.zxid(leader), cpu_seconds(lp), sum(cpu_seconds(p) for p in pids)
        cmd = [tb, "--server", ens.hosts([1, 2, 3]), "--op", "set", "--sessions", "8",
               "--outstanding", "32", "--value-size", "100", "--keys", "1000",
               "--warmup", str(warmup), "--duration", str(duration), "--json", "--quiet"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=warmup + duration + 120)
        z1, c1, a1 = ens.zxid(leader), cpu_seconds(lp), sum(cpu_seconds(p) for p in pids)
        if out.returncode not in (0, 3):
            raise RuntimeError("tern-bench failed (%d): %s" % (out.returncode, out.stderr[-2000:]))
        r = json.loads(out.stdout)
        # a fresh leader's zxid shows the last epoch's until its first txn
        txns = (z1 & 0xffffffff) - ((z0 & 0xffffffff) if z1 >> 32 == z0 >> 32 else 0)
        direct = leader_stream(ports[leader])
        print("%-16s %10.0f %14.3f %14.3f %8d  %s" % (
            name, r.get("ops_per_sec", 0), (c1 - c0) * 1000.0 / max(txns, 1),
            (a1 - a0) * 1000.0 / max(txns, 1), len(direct), direct))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ternd")
    ap.add_argument("--tern-bench")
    a = ap.parse_args()
    ternd = a.ternd or newest("mgmt/ternd")
    tb = a.tern_bench or newest("tools/tern-bench")
    if not ternd or not tb:
        sys.exit("observer_bench.py: build ternd and tern-bench first (ninja -C build)")
    warmup, duration = (1, 4) if a.quick else (2, 10)
    print("ternd %s, tern-bench %s; 3 voters, setData 100 B, 8 sessions on the voters" %
          (ternd, tb))
    print("%-16s %10s %14s %14s %8s  %s" % ("layout", "writes/s", "leader cpu-s", "all cpu-s",
                                            "leader->", "observers the leader feeds"))
    print("%-16s %10s %14s %14s %8s" % ("", "", "per 1000 txn", "per 1000 txn", "obs"))
    run(ternd, tb, "0 observers", 0, warmup, duration)
    for name in ("8 direct", "learner masters", "site chain"):
        run(ternd, tb, name, OBSERVERS, warmup, duration)


if __name__ == "__main__":
    main()
