#!/usr/bin/python3
"""Integration: the official ZooKeeper C client (cli_mt from Debian's
zookeeper package) against ternd: create, set, get, ls, delete, exists,
a watch firing, and an ephemeral node vanishing after the C client quits.

Usage: test_cli_mt.py TERND
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

TERND = sys.argv[1]
CLI = "/usr/lib/zookeeper/bin/cli_mt"


def run_cli(srv, cmds, pause=0.4):
    p = subprocess.Popen([CLI, "-h", srv.hosts()], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(0.5)
        for c in cmds:
            p.stdin.write(c + "\n")
            p.stdin.flush()
            time.sleep(pause)
        p.stdin.write("quit\n")
        p.stdin.flush()
        out, _ = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    return out


def t_cli_mt():
    with ternlib.Ternd(TERND) as srv:
        out = run_cli(srv, ["create /cli", "set /cli hello", "get /cli", "ls /",
                            "create +e /cli/eph", "exists /cli/eph",
                            "wexists /cli", "set /cli again", "delete /cli/nope"])
        assert "Got a new session id" in out, out
        assert "[/cli]: rc = 0" in out, out
        assert "hello" in out and "value_len = 5" in out, out
        assert "\tcli\n" in out and "\tzookeeper\n" in out, out
        assert "CHANGED_EVENT" in out and "/cli" in out, out
        assert "rc = -101" in out or "Error -101" in out, out
        # the C client's session closed on quit: its ephemeral is gone
        out = run_cli(srv, ["ls /cli", "get /cli"])
        assert "\teph\n" not in out, out
        assert "again" in out, out


if __name__ == "__main__":
    if not os.access(CLI, os.X_OK):
        print("%s missing (Debian package zookeeper)" % CLI)
        sys.exit(ternlib.SKIP)
    ternlib.run_tests([("cli_mt", t_cli_mt)])
