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
                                     [--peer-transport tcp,udp,dpdk]
                                     [--client-transport tcp|udp]

--peer-transport runs only the write workload on a 3-server ternd ensemble
once per listed peer transport (tcp: peer.c; udp: kernel UDP with dp_rel,
mgmt/peer_udp.c; dpdk: deploy/rack.sh --mode dpdk, af_packet vdevs, needs
root) and prints writes/s, p99 and cycles per replicated txn: the three
servers' CPU time from /proc/PID/stat times the nominal clock from
/proc/cpuinfo, over the writes done (perf is not used: it is absent here).

--client-transport udp makes tern-bench speak tern's native datagram protocol
(--transport udp) instead of ZooKeeper's TCP one. With dpdk, tern-bench runs
in a client namespace on the rack's DPDK bridge (kernel sockets) and targets
the servers' DPDK addresses, so the workers serve it on their own DPDK
queues (dp_port.h, "worker queues"); it also runs the 90%-read mix there and
prints cycles per request (all requests: reads served by the worker that got
them, writes forwarded to the leader and replicated).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

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


def thread_cpu(pid):
    """CPU seconds of one ternd by thread role: ctl (the control thread, the
    sequencer), workers (tern-w*), wal, other (main, admin, snapshot, EAL)."""
    out = {"ctl": 0.0, "workers": 0.0, "wal": 0.0, "other": 0.0}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/comm" % (base, tid)) as f:
                comm = f.read().strip()
            sec = cpu_seconds_path("%s/%s/stat" % (base, tid))
        except OSError:
            continue  # the thread ended
        role = ("ctl" if comm == "tern-ctl" else "workers" if comm.startswith("tern-w") and
                comm != "tern-wal" else "wal" if comm == "tern-wal" else "other")
        out[role] += sec
    return out


def cpu_seconds_path(path):
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(tb, hosts, op, warmup, duration, extra=(), wrap=()):
    cmd = list(wrap) + [tb, "--server", hosts, "--op", op, "--sessions", "8", "--outstanding", "32",
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


def nominal_hz():
    """The CPU's nominal clock: "@ N.NNGHz" in the model name, else cpu MHz."""
    mhz = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and "GHz" in line:
                try:
                    return float(line.rsplit("@", 1)[1].strip().rstrip("GHz").strip()) * 1e9
                except (IndexError, ValueError):
                    pass
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":")[1])
    return (mhz or 1000.0) * 1e6


def write_run(tb, hosts, pids, warmup, duration, op="set", extra=(), wrap=()):
    c0 = sum(cpu_seconds(p) for p in pids)
    t0 = [thread_cpu(p) for p in pids]
    r = bench(tb, hosts, op, warmup, duration, extra, wrap)
    c1 = sum(cpu_seconds(p) for p in pids)
    t1 = [thread_cpu(p) for p in pids]
    ops = max(r.get("ops", 0), 1)
    # warm-up writes burn CPU too: count them at the measured rate
    ops_all = max(ops + r.get("ops_per_sec", 0) * warmup, 1)
    hz = nominal_hz()
    r["cycles_per_txn"] = (c1 - c0) * hz / ops_all
    # per role: the busiest control thread is the leader's, the sequencer
    r["ctl_cycles"] = max(b["ctl"] - a["ctl"] for a, b in zip(t0, t1)) * hz / ops_all
    r["worker_cycles"] = sum(b["workers"] - a["workers"] for a, b in zip(t0, t1)) * hz / ops_all
    r["wal_cycles"] = sum(b["wal"] - a["wal"] for a, b in zip(t0, t1)) * hz / ops_all
    return r


def client_ns(env):
    """A namespace on the rack's DPDK bridge with a kernel address: a client
    host on the servers' DPDK network. Return (name, veth) to remove later."""
    ns, vh = "tern-%s-bench" % env["ID"], "tv%sdb" % env["ID"]
    for c in (["ip", "netns", "add", ns],
              ["ip", "link", "add", vh, "type", "veth", "peer", "name", "c0", "netns", ns],
              ["ip", "link", "set", vh, "master", "tb%sd" % env["ID"]],
              ["ip", "link", "set", vh, "up"],
              ["ip", "-n", ns, "addr", "add", env["DNET"] + ".250/24", "dev", "c0"],
              ["ip", "-n", ns, "link", "set", "c0", "up"],
              ["ip", "netns", "exec", ns, "ethtool", "-K", "c0", "tx", "off"]):
        subprocess.run(c, capture_output=True, timeout=30)
    return ns, vh


def run_transport(transport, ternd, tb, warmup, duration, client="tcp"):
    extra = ["--transport", "udp"] if client == "udp" else []
    if transport in ("tcp", "udp"):
        os.environ["TERN_PEER_TRANSPORT"] = transport
        try:
            with ternlib.Ensemble(ternd, 3, tick=2000, extra_cfg="forceSync=yes\n") as ens:
                ens.wait_leader(120)
                pids = [t.proc.pid for t in ens.servers]
                r = write_run(tb, ens.hosts(), pids, warmup, duration, extra=extra)
                if client == "udp":
                    r["mixed"] = write_run(tb, ens.hosts(), pids, warmup, duration, "mixed",
                                           extra + ["--reads", "90"])
                return r
        finally:
            os.environ.pop("TERN_PEER_TRANSPORT", None)
    rack = os.path.join(ROOT, "deploy", "rack.sh")
    d = "/tmp/tern-bench-dpdk"

    def sh(*args):
        return subprocess.run(["bash", rack, "--dir", d] + list(args), capture_output=True,
                              text=True, timeout=180, check=True).stdout.strip()
    try:
        sh("up", "3", "--mode", "dpdk", "--ternd", ternd, "--tick", "2000",
           "--cfg", "*:forceSync=yes")
        sh("wait-leader", "60")
        # every server serving (a follower still syncing resets new clients)
        for i in (1, 2, 3):
            host, port = sh("addr", str(i)).rsplit(":", 1)
            deadline = time.time() + 60
            while time.time() < deadline and not srvr_serving(host, int(port)):
                time.sleep(0.1)
        pids = [int(sh("pid", str(i))) for i in (1, 2, 3)]
        if client != "udp":
            return write_run(tb, sh("connect-string"), pids, warmup, duration)
        env = dict(l.split("=", 1) for l in sh("env").splitlines() if "=" in l)
        ns = client_ns(env)
        wrap = ["ip", "netns", "exec", ns[0]]
        hosts = ",".join("%s.%d:%s" % (env["DNET"], i, sh("addr", str(i)).rsplit(":", 1)[1])
                         for i in (1, 2, 3))
        r = write_run(tb, hosts, pids, warmup, duration, extra=extra, wrap=wrap)
        r["mixed"] = write_run(tb, hosts, pids, warmup, duration, "mixed",
                               extra + ["--reads", "90"], wrap)
        return r
    finally:
        if client == "udp":
            subprocess.run(["ip", "netns", "del", "tern-%s-bench" % rack_id(d)],
                           capture_output=True)
        subprocess.run(["bash", rack, "--dir", d, "down"], capture_output=True, timeout=180)


def rack_id(d):
    """deploy/rack.sh's id for DIR @d (its cksum, low 16 bits, 4 hex digits)."""
    out = subprocess.run(["cksum"], input=d, capture_output=True, text=True).stdout
    return "%04x" % (int(out.split()[0]) & 0xffff)


def srvr_serving(host, port):
    try:
        with socket.create_connection((host, port), timeout=3) as c:
            c.sendall(b"srvr")
            out = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                out += chunk
        return b"Mode: " in out
    except OSError:
        return False


def peer_transports(names, ternd, tb, warmup, duration, client="tcp"):
    print("3-server ternd writes (setData 100 B, forceSync) by peer transport, clients over %s; "
          "cycles = servers' CPU s x %.2f GHz nominal / txns" % (
              "tern's native datagrams" if client == "udp" else "ZooKeeper's TCP",
              nominal_hz() / 1e9))
    for t in names:
        try:
            r = run_transport(t, ternd, tb, warmup, duration, client)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            print("  %-5s failed: %s" % (t, str(e)[-300:]))
            continue
        print("  %-5s %10.0f writes/s  p99 %8.3f ms  errors %d  %10.0f cycles/replicated txn"
              % (t, r.get("ops_per_sec", 0), r.get("p99_us", 0) / 1000.0, r.get("errors", 0),
                 r["cycles_per_txn"]))
        print("        of which: leader's control thread (sequencer) %.0f, workers (3 servers) "
              "%.0f, wal threads %.0f cycles/txn" % (r["ctl_cycles"], r["worker_cycles"],
                                                      r["wal_cycles"]))
        m = r.get("mixed")
        if m:
            print("  %-5s %10.0f req/s (90%% reads)  p99 %8.3f ms  errors %d  %10.0f cycles/request"
                  % (t, m.get("ops_per_sec", 0), m.get("p99_us", 0) / 1000.0, m.get("errors", 0),
                     m["cycles_per_txn"]))
            print("        of which: workers (3 servers) %.0f cycles/request"
                  % m["worker_cycles"])
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ternd")
    ap.add_argument("--tern-bench")
    ap.add_argument("--no-zookeeper", action="store_true")
    ap.add_argument("--no-observers", action="store_true")
    ap.add_argument("--peer-transport", help="tcp,udp,dpdk: writes per peer transport only")
    ap.add_argument("--client-transport", default="tcp", choices=("tcp", "udp"),
                    help="with --peer-transport: tern-bench over TCP or native datagrams")
    a = ap.parse_args()
    ternd = a.ternd or newest("mgmt/ternd")
    tb = a.tern_bench or newest("tools/tern-bench")
    if not ternd or not tb:
        sys.exit("ensemble_bench.py: build ternd and tern-bench first (ninja -C build)")
    warmup, duration = (1, 3) if a.quick else (2, 10)
    if a.peer_transport:
        peer_transports(a.peer_transport.split(","), ternd, tb, warmup, duration,
                        a.client_transport)
        return
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
