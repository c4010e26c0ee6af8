#!/usr/bin/python3
"""failover.py: time from kill -9 of the leader to the first acknowledged
write, over N trials, for a 3-server ternd ensemble (or Apache ZooKeeper's
with --zookeeper), on loopback, tickTime 2000 as ZooKeeper's default.

A trial: find the leader, kill -9 it, then from a fresh raw client loop over
the surviving servers (connect, create, 2 ms apart) until one create is
acknowledged; the time is measured from the kill. Then the killed server is
restarted and the ensemble settles before the next trial. Prints each trial
and the median and max.

usage: tests/bench/failover.py [--trials 20] [--tick 2000] [--ternd PATH | --zookeeper]
"""
import argparse
import os
import socket
import statistics
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import ternlib  # noqa: E402


def newest_ternd():
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    best = None
    for d in os.listdir(root):
        p = os.path.join(root, d, "mgmt", "ternd")
        if d.startswith("build") and "asan" not in d and "fuzz" not in d and os.access(p, os.X_OK):
            if best is None or os.path.getmtime(p) > os.path.getmtime(best):
                best = p
    return best


def try_write(port, path, timeout=0.5):
    """One new session on @port and one create; True if acknowledged."""
    try:
        r = ternlib.Raw(port, timeout=timeout)
    except OSError:
        return False
    try:
        r.connect(timeout_ms=4000)
        if r.sid == 0:
            return False
        err, _, _ = r.create(path, b"x")
        # close the session politely (closeSession) so trials do not pile up sessions
        r.send_frame(struct.pack(">ii", r.xid + 1, -11))
        return err == 0
    except (OSError, EOFError, struct.error, AssertionError):
        return False
    finally:
        r.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--tick", type=int, default=2000)
    ap.add_argument("--ternd")
    ap.add_argument("--zookeeper", action="store_true")
    a = ap.parse_args()
    server = ternlib.ZOOKEEPER if a.zookeeper else (a.ternd or newest_ternd())
    if not server:
        sys.exit("failover.py: no ternd built (ninja -C build mgmt/ternd)")
    times = []
    with ternlib.Ensemble(server, 3, tick=a.tick) as ens:
        for t in range(a.trials):
            lead = ens.wait_leader(120)
            live = [i for i in (1, 2, 3) if i != lead]
            t0 = time.monotonic()
            ens[lead].kill()
            deadline = t0 + 60
            n = 0
            ok = False
            while time.monotonic() < deadline and not ok:
                for i in live:
                    n += 1
                    if try_write(ens[i].port, "/failover-%d-%d" % (t, n)):
                        ok = True
                        break
                if not ok:
                    time.sleep(0.002)
            ms = (time.monotonic() - t0) * 1000
            if not ok:
                print("trial %d: no write within 60 s" % t)
                sys.exit(1)
            times.append(ms)
            print("trial %2d: leader %d killed, first acknowledged write after %7.1f ms" % (t, lead, ms))
            sys.stdout.flush()
            ens[lead].start(timeout=60)
            ens.wait_leader(120)
    print("%s failover over %d trials (tickTime %d ms): median %.0f ms, max %.0f ms, min %.0f ms"
          % ("zookeeper" if a.zookeeper else "ternd", len(times), a.tick,
             statistics.median(times), max(times), min(times)))


if __name__ == "__main__":
    main()
