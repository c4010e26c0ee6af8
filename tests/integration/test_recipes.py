#!/usr/bin/python3
"""Integration: kazoo's Lock and Election recipes with two clients.

Usage: test_recipes.py TERND
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

ternlib.need_kazoo()
TERND = sys.argv[1]
srv = ternlib.Ternd(TERND)


def t_lock():
    a = ternlib.kazoo_client(srv)
    b = ternlib.kazoo_client(srv)
    log = []
    try:
        la = a.Lock("/locks/x", "a")
        lb = b.Lock("/locks/x", "b")
        assert la.acquire(timeout=10)
        got_b = threading.Event()

        def take_b():
            if lb.acquire(timeout=20):
                log.append("b")
                got_b.set()

        th = threading.Thread(target=take_b)
        th.start()
        time.sleep(0.5)
        assert not got_b.is_set(), "b took a held lock"
        assert lb.contenders() == ["a", "b"], lb.contenders()
        log.append("a-release")
        la.release()
        assert got_b.wait(10), "b never got the lock"
        th.join(10)
        assert log == ["a-release", "b"], log
        lb.release()
    finally:
        for z in (a, b):
            z.stop()
            z.close()


def t_election():
    a = ternlib.kazoo_client(srv)
    b = ternlib.kazoo_client(srv)
    leaders = []
    done = threading.Event()
    try:
        ea = a.Election("/election", "a")
        eb = b.Election("/election", "b")

        def run_a():
            ea.run(lambda: (leaders.append("a"), done.wait(20)))

        def run_b():
            eb.run(lambda: leaders.append("b"))

        ta = threading.Thread(target=run_a)
        ta.start()
        ternlib.wait_for(lambda: leaders == ["a"], 10, "a to lead")
        tb = threading.Thread(target=run_b)
        tb.start()
        time.sleep(0.3)
        assert leaders == ["a"], leaders
        assert sorted(eb.contenders()) == ["a", "b"], eb.contenders()
        a.stop()  # a's session closes: b takes over
        done.set()
        ternlib.wait_for(lambda: leaders == ["a", "b"], 10, "b to lead after a left")
        ta.join(10)
        tb.join(10)
    finally:
        done.set()
        for z in (a, b):
            z.stop()
            z.close()


if __name__ == "__main__":
    with srv:
        ternlib.run_tests([("lock", t_lock), ("election", t_election)])
