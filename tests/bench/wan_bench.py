#!/usr/bin/python3
"""wan_bench.py: remote observer lag over a simulated WAN (issue 7).

A rack with two sites (deploy/rack.sh --sites): voters 1,2,3 in site A,
observers 4,5 in site B, tern-wanem between them (default 20 ms each way,
1% loss). A writer on the host (site A) sets /wan/lag to "SEQ:..." (a
--size byte record, JSON-like and so compressible, as real data) at --rate
writes/s; a kazoo client in site B's namespace watches the same znode on an
observer and stamps each arrival. Lag = arrival at the observer's client -
the moment the writer's setData returned (the leader committed). All clocks
are this host's clock. Rows:

  none      tern.peer.compress=none
  zstd      tern.peer.compress=auto (the default: zstd on observer links)
  chain     zstd, and server 5 follows server 4 (tern.observer.master=4), so
            one WAN stream serves site B; measured at server 5. Skipped when
            this tree's ternd does not know the key yet.

WAN bytes per txn = bytes the relay forwarded both ways during the window /
txns committed in it (TCP/IP headers, acks and pings included). raw/wire =
what the voters' quorum links to the observers carried before / after zstd
(tern_peer_link_bytes_total in /metrics, whole run).
Numbers only, no assertions: the box is shared, so they are this box's.

usage: tests/bench/wan_bench.py [--seconds S] [--rate R] [--size B] [--chain]
                                [--wan "delay=20ms loss=1%"] [--ternd P] [--wanem P]
"""
import argparse
import os
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from wanlib import Agent, Rack, need_sites, srvr  # noqa: E402

WARMUP_S = 3
FOLLOW_WAIT_S = 60


def newest(rel):
    best = None
    for d in os.listdir(ROOT):
        p = os.path.join(ROOT, d, rel)
        if d.startswith("build") and "asan" not in d and "fuzz" not in d and os.access(p, os.X_OK):
            if best is None or os.path.getmtime(p) > os.path.getmtime(best):
                best = p
    return best


def record(seq, size, rng):
    hosts = ("web-%02d" % rng.randrange(40), "db-%02d" % rng.randrange(8))
    body = ('{"seq":%d,"host":"%s","peer":"%s","status":"ok","load":%.2f,'
            '"region":"eu-west-1","tags":["prod","tern","observer"]}') % (
        seq, hosts[0], hosts[1], rng.random())
    rec = ("%d:" % seq) + body
    while len(rec) < size:
        rec += "," + body
    return rec[:size].encode()


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def wan_bytes(rack):
    b = 0
    for s in rack.wan_stats():
        b += s["a_to_b"]["fwd_bytes"] + s["b_to_a"]["fwd_bytes"]
    return b


def link_bytes(rack):
    """Sum of raw and wire bytes every voter sent to observers 4 and 5, from
    /metrics (tern_peer_link_bytes_total; admin server on port 8080 in each
    namespace); (0, 0) when unavailable."""
    import urllib.request
    raw = wire = 0
    for i in (1, 2, 3):
        host = rack.addr(i)[0]
        try:
            with urllib.request.urlopen("http://%s:8080/metrics" % host, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            if not line.startswith("tern_peer_link_bytes_total{"):
                continue
            labels, val = line.rsplit(" ", 1)
            if 'dir="out"' not in labels or not ('peer="4"' in labels or 'peer="5"' in labels):
                continue
            if 'kind="raw"' in labels:
                raw += int(val)
            else:
                wire += int(val)
    return raw, wire


def run_row(args, name, cfgs, watch_server):
    from kazoo.client import KazooClient
    d = tempfile.mkdtemp(prefix="tern-wanbench-")
    rack = Rack(d)
    agent = zk = None
    try:
        up = ["up", 3, "--observers", 2, "--ternd", args.ternd, "--wanem", args.wanem,
              "--sites", "1,2,3:4,5", "--wan", args.wan]
        for c in cfgs:
            up += ["--cfg", c]
        rack.run(*up)
        rack.run("wait-leader", 60)
        deadline = time.time() + FOLLOW_WAIT_S
        while time.time() < deadline and not all(
                srvr(rack.addr(i))[0] == "observer" for i in (4, 5)):
            time.sleep(0.2)
        zk = KazooClient(hosts=",".join("%s:%d" % rack.addr(i) for i in (1, 2, 3)), timeout=10)
        zk.start(timeout=30)
        zk.create("/wan/lag", b"0:", makepath=True)
        agent = Agent(rack.ns(watch_server), "%s:%d" % rack.addr(watch_server))
        agent.call(op="watch_start", path="/wan/lag")

        rng = random.Random(1)
        acked = {}
        gap = 1.0 / args.rate
        seq = 0
        t0 = time.time()
        b0 = None
        n0 = 0
        while time.time() - t0 < WARMUP_S + args.seconds:
            if b0 is None and time.time() - t0 >= WARMUP_S:
                b0, n0 = wan_bytes(rack), seq
            seq += 1
            zk.set("/wan/lag", record(seq, args.size, rng))
            acked[str(seq)] = time.time()
            wait = t0 + seq * gap - time.time()
            if wait > 0:
                time.sleep(wait)
        time.sleep(2)          # the last ones cross the WAN
        b1, n1 = wan_bytes(rack), seq
        raw, wire = link_bytes(rack)
        seen = agent.call(op="watch_stop")["seen"]
        lags = [(at - acked[s]) * 1000 for s, at in seen
                if s in acked and acked[s] - t0 >= WARMUP_S]
        mode = [srvr(rack.addr(i))[0] for i in (4, 5)]
        txns = max(1, n1 - n0)
        return {"row": name, "writes": n1 - n0, "seen": len(lags),
                "p50": pct(lags, 50), "p99": pct(lags, 99), "max": max(lags) if lags else 0,
                "bytes_per_txn": (b1 - b0) / txns, "modes": mode,
                "ratio": raw / wire if wire else float("nan")}
    finally:
        if agent:
            agent.close()
        if zk:
            zk.stop()
            zk.close()
        rack.down()


def chain_supported(ternd):
    """Does this ternd binary know tern.observer.master (CHAIN's key)?"""
    try:
        with open(ternd, "rb") as f:
            return b"tern.observer.master" in f.read()
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--rate", type=int, default=100, help="writes per second")
    ap.add_argument("--size", type=int, default=256, help="bytes per write")
    ap.add_argument("--wan", default="delay=20ms loss=1%")
    ap.add_argument("--chain", action="store_true", help="add the chained-observer row")
    ap.add_argument("--ternd", default=newest("mgmt/ternd"))
    ap.add_argument("--wanem", default=newest("tools/tern-wanem"))
    args = ap.parse_args()
    need_sites()
    if not args.ternd or not args.wanem:
        sys.exit("no ternd/tern-wanem built (--ternd, --wanem)")
    print("ternd %s; WAN '%s'; %d writes/s of %d B for %d s (after %d s warm-up)" % (
        args.ternd, args.wan, args.rate, args.size, args.seconds, WARMUP_S))
    rows = [("none", ["*:tern.peer.compress=none"], 4),
            ("zstd", ["*:tern.peer.compress=auto"], 4)]
    if args.chain:
        if chain_supported(args.ternd):
            rows.append(("chain+zstd", ["*:tern.peer.compress=auto",
                                        "5:tern.observer.master=4"], 5))
        else:
            print("chain: skipped (this ternd does not accept tern.observer.master yet)")
    print("%-11s %7s %6s %8s %8s %8s %10s %9s  %s" % (
        "row", "writes", "seen", "p50 ms", "p99 ms", "max ms", "WAN B/txn", "raw/wire",
        "observer modes"))
    for name, cfgs, watch in rows:
        r = run_row(args, name, cfgs, watch)
        print("%-11s %7d %6d %8.1f %8.1f %8.1f %10.0f %9.2f  %s" % (
            r["row"], r["writes"], r["seen"], r["p50"], r["p99"], r["max"], r["bytes_per_txn"],
            r["ratio"], ",".join(str(m) for m in r["modes"])))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
