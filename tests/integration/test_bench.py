#!/usr/bin/python3
"""Integration: tern-bench against a real ternd, one workload at a time.

Each run lasts about 3 seconds; its JSON must report work done (ops > 0),
no errors, percentiles that are positive and ordered, and znodes that match
what kazoo then finds on the server: the keys it set up, the nodes it
created (and, for delete, did not delete), the watched node's version equal
to the writes it counted, and no ephemeral left behind by churn or lock.
No timing is asserted. tern-bench must also fail cleanly (exit 1, a message
naming the server) when nothing listens, and reject bad options (exit 2).

Usage: test_bench.py TERND TERN_BENCH
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

ternlib.need_kazoo()
TERND, BENCH = sys.argv[1], sys.argv[2]
RUN = ["--warmup", "0.5", "--duration", "2.5", "--quiet", "--json"]
srv = ternlib.Ternd(TERND, extra_cfg="maxClientCnxns=0\n")


def bench(*args, expect_rc=0):
    cmd = [BENCH, "--server", srv.hosts()] + RUN + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == expect_rc, "%s: exit %d\n%s%s" % (
        " ".join(cmd), p.returncode, p.stdout, p.stderr)
    assert "runtime error:" not in p.stderr, p.stderr  # UBSan in a sanitizer build
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, "want one JSON line, got: %r" % p.stdout
    return json.loads(lines[0])


def check_sane(d, main_op=None):
    assert d["ops"] > 0, d
    assert d["errors"] == 0, d["errors_by_code"]
    assert d["timeouts"] == 0 and d["connections_lost"] == 0, d
    assert d["ops_per_sec"] > 0
    ps = [d["p50_us"], d["p90_us"], d["p99_us"], d["p999_us"], d["max_us"]]
    assert ps[0] > 0, ps
    assert ps == sorted(ps), "percentiles out of order: %s" % ps
    assert d["mean_us"] > 0 and d["mean_us"] <= d["max_us"]
    assert d["all_ops"] >= d["ops"]
    if main_op:
        assert d["by_op"][main_op]["ops"] > 0, d["by_op"]
    for name, st in d["by_op"].items():
        q = [st["p50_us"], st["p99_us"], st["p999_us"], st["max_us"]]
        assert q == sorted(q) and q[0] > 0, (name, q)


def check_keys(zk, d):
    kids = set(zk.get_children(d["prefix"]))
    want = {"k%07d" % i for i in range(d["keys"])}
    assert want <= kids, "missing keys: %s" % sorted(want - kids)[:5]
    data, _ = zk.get(d["prefix"] + "/k0000000")
    assert len(data) == d["value_size"], len(data)


def ours(zk, d):
    return [c for c in zk.get_children(d["dir"]) if c.startswith(d["name_prefix"])]


def test_write(zk):
    d = bench("--op", "set", "--prefix", "/b-set", "--keys", "200")
    check_sane(d, "setData")
    check_keys(zk, d)
    # every measured setData hit one of the keys and bumped its version
    total = sum(zk.exists("/b-set/k%07d" % i).version for i in range(200))
    assert total >= d["ops"], (total, d["ops"])


def test_read(zk):
    d = bench("--op", "get", "--prefix", "/b-get", "--keys", "100", "--value-size", "300")
    check_sane(d, "getData")
    check_keys(zk, d)


def test_exists_two_threads(zk):
    d = bench("--op", "exists", "--prefix", "/b-ex", "--threads", "2", "--sessions", "4")
    check_sane(d, "exists")
    assert d["threads"] == 2
    check_keys(zk, d)


def test_mixed(zk):
    d = bench("--op", "mixed", "--reads", "90", "--prefix", "/b-mix")
    check_sane(d)
    assert d["by_op"]["getData"]["ops"] > d["by_op"]["setData"]["ops"] > 0, d["by_op"]
    check_keys(zk, d)


def test_create(zk):
    d = bench("--op", "create", "--prefix", "/b-create", "--sessions", "4")
    check_sane(d, "create")
    assert d["znodes_created"] >= d["ops"]
    assert len(ours(zk, d)) == d["znodes_created"], (len(ours(zk, d)), d["znodes_created"])


def test_delete(zk):
    d = bench("--op", "delete", "--prefix", "/b-del", "--sessions", "2", "--outstanding", "8")
    check_sane(d, "delete")
    assert d["znodes_deleted"] > 0
    assert len(ours(zk, d)) == d["znodes_created"] - d["znodes_deleted"]


def test_watch_fanout(zk):
    d = bench("--op", "watch", "--watchers", "6", "--prefix", "/b-watch")
    check_sane(d)
    assert d["rounds"] > 0 and d["watchers"] == 6
    # each round's set notifies all 6 watchers
    assert d["ops"] <= 6 * d["watch_sets"]
    assert zk.exists(d["dir"]).version == d["watch_sets"]


def test_churn(zk):
    d = bench("--op", "churn", "--sessions", "4", "--prefix", "/b-churn")
    check_sane(d, "connect")
    assert d["znodes_created"] >= d["ops"] > 0
    assert zk.get_children(d["dir"]) == [], "ephemerals outlived their sessions"


def test_lock(zk):
    d = bench("--op", "lock", "--sessions", "5", "--prefix", "/b-lock")
    check_sane(d, "create")
    assert d["by_op"]["delete"]["ops"] > 0
    assert zk.get_children(d["dir"]) == []


def test_open_loop(zk):
    d = bench("--op", "set", "--rate", "2000", "--prefix", "/b-open", "--keys", "50")
    check_sane(d, "setData")
    assert d["rate"] == 2000
    assert d["unsent"] >= 0
    check_keys(zk, d)


def test_plot(zk):
    if not shutil.which("gnuplot"):
        print("gnuplot missing (Debian: gnuplot-nox): plot not checked")
        return
    tmp = tempfile.mkdtemp(prefix="tern-bench-plot-")
    try:
        pfx = os.path.join(tmp, "p")
        bench("--op", "get", "--prefix", "/b-plot", "--plot", pfx)
        for name in ("throughput", "latency"):
            with open("%s-%s.png" % (pfx, name), "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_server_down(zk):
    port = ternlib.free_port()  # nothing listens there
    p = subprocess.run([BENCH, "--server", "127.0.0.1:%d" % port, "--json", "--duration", "1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert p.stdout == ""
    assert "127.0.0.1:%d" % port in p.stderr and "cannot connect" in p.stderr, p.stderr


def test_bad_options(zk):
    for args in (["--op", "nope"], ["--sessions", "0"], ["--prefix", "rel"],
                 ["--op", "watch", "--rate", "10"], ["--reads", "101"]):
        p = subprocess.run([BENCH] + args, capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and "tern-bench:" in p.stderr, (args, p.returncode, p.stderr)
    p = subprocess.run([BENCH, "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    for opt in ("--server", "--op", "--reads", "--sessions", "--outstanding", "--threads",
                "--rate", "--watchers", "--value-size", "--keys", "--prefix", "--warmup",
                "--duration", "--json", "--plot", "--setup-only"):
        assert opt in p.stdout, opt


def main():
    tests = [test_write, test_read, test_exists_two_threads, test_mixed, test_create,
             test_delete, test_watch_fanout, test_churn, test_lock, test_open_loop, test_plot,
             test_server_down, test_bad_options]
    with srv:
        zk = ternlib.kazoo_client(srv)
        try:
            ternlib.run_tests([(t.__name__, lambda t=t: t(zk)) for t in tests])
        finally:
            zk.stop()
            zk.close()


if __name__ == "__main__":
    main()
