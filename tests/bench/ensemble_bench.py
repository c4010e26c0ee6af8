#!/usr/bin/python3
"""ensemble_bench.py: a 3-server ternd ensemble and a 3-server Apache
ZooKeeper ensemble on this machine, one after the other, same durability
(forceSync on every server), same tern-bench load: writes (setData 100 B),
reads (getData), 90% reads; sessions spread over all servers. Then ternd's
write rate with 0, 2 and 4 observers attached. Prints a table with ratios.

Everything shares one machine (2 cores here): three servers and the load
generator compete, so the absolute numbers are those of this box; the
ratios are the point.

usage: tests/bench/ensemble_bench.py [--quick] [--ternd PATH] [--tern-bench PATH]
                                     [--no-zookeeper] [--no-observers]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import ternlib  # noqa: E402


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


def bench(tb, hosts, op, warmup, duration, extra=()):
    cmd = [tb, "--server", hosts, "--op", op, "--sessions", "8", "--outstanding", "32",
           "--value-size", "100", "--keys", "1000", "--warmup", str(warmup),
           "--duration", str(duration), "--json", "--quiet"] + list(extra)
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=warmup + duration + 120)
    if out.returncode not in (0, 3):
        raise RuntimeError("tern-bench failed (%d): %s" % (out.returncode, out.stderr[-2000:]))
    return json.loads(out.stdout)


def run_ensemble(server, tb, observers, workloads, warmup, duration):
    res = {}
    with ternlib.Ensemble(server, 3, observers=observers, tick=2000,
                          extra_cfg="forceSync=yes\n") as ens:
        ens.wait_leader(120)
        hosts = ens.hosts()
        pids = [t.proc.pid for t in ens.servers]
        for name, op, extra in workloads:
            c0 = sum(cpu_seconds(p) for p in pids)
            r = bench(tb, hosts, op, warmup, duration, extra)
            c1 = sum(cpu_seconds(p) for p in pids)
            ops = r.get("ops", 0)
            r["cpu_per_1000"] = (c1 - c0) * 1000.0 / ops if ops else 0.0
            res[name] = r
            print("  %-8s %-10s %10.0f ops/s  p99 %8.3f ms  errors %d  cpu/1000 ops %.3f s"
                  % ("zk" if ternlib.is_zk(server) else "tern", name, r.get("ops_per_sec", 0),
                     r.get("p99_us", 0) / 1000.0, r.get("errors", 0),
                     r["cpu_per_1000"]))
            sys.stdout.flush()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ternd")
    ap.add_argument("--tern-bench")
    ap.add_argument("--no-zookeeper", action="store_true")
    ap.add_argument("--no-observers", action="store_true")
    a = ap.parse_args()
    ternd = a.ternd or newest("mgmt/ternd")
    tb = a.tern_bench or newest("tools/tern-bench")
    if not ternd or not tb:
        sys.exit("ensemble_bench.py: build ternd and tern-bench first (ninja -C build)")
    warmup, duration = (1, 3) if a.quick else (2, 10)
    workloads = [("write", "set", []), ("read", "get", []),
                 ("mixed90", "mixed", ["--reads", "90"])]
    print("3-server ternd (%s)" % ternd)
    tern = run_ensemble(ternd, tb, 0, workloads, warmup, duration)
    zk = None
    if not a.no_zookeeper:
        if not os.path.exists(ternlib.ZK_JAR):
            print("Apache ZooKeeper is not installed: skipping it")
        else:
            print("3-server Apache ZooKeeper")
            zk = run_ensemble(ternlib.ZOOKEEPER, tb, 0, workloads, warmup, duration)
    if zk:
        print("\n%-10s %14s %14s %8s %10s %10s %8s %9s" % (
            "workload", "tern ops/s", "zk ops/s", "ratio", "tern p99", "zk p99", "p99 r",
            "cpu/op r"))
        for name, _, _ in workloads:
            t, z = tern[name], zk[name]
            tp, zp = t["p99_us"] / 1000.0, z["p99_us"] / 1000.0
            print("%-10s %14.0f %14.0f %8.2f %9.2fms %9.2fms %8.2f %9.2f" % (
                name, t["ops_per_sec"], z["ops_per_sec"],
                t["ops_per_sec"] / max(z["ops_per_sec"], 1e-9), tp, zp,
                tp / max(zp, 1e-9), t["cpu_per_1000"] / max(z["cpu_per_1000"], 1e-9)))
    if not a.no_observers:
        print("\nternd writes with observers attached (3 voters; sessions on the voters)")
        for n in (0, 2, 4):
            with ternlib.Ensemble(ternd, 3, observers=n, tick=2000,
                                  extra_cfg="forceSync=yes\n") as ens:
                ens.wait_leader(120)
                r = bench(tb, ens.hosts([1, 2, 3]), "set", warmup, duration)
                print("  %d observers: %10.0f writes/s  p99 %.3f ms" % (
                    n, r["ops_per_sec"], r["p99_us"] / 1000.0))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
