"""Helpers for the WAN tests and benchmark: a rack with sites (deploy/rack.sh
--sites, tern-wanem relays) and an agent that runs a kazoo client inside a
site's namespace (the host itself is in site 1).

The agent is this file run as `ip netns exec NS /usr/bin/python3 wanlib.py
agent HOST:PORT`: it reads one JSON command per line on stdin and answers one
JSON line on stdout, so a test in the root namespace drives a client that
really sits behind the WAN."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RACK = os.path.join(HERE, "..", "..", "deploy", "rack.sh")
SKIP = 77


def sites_missing():
    """Why this host cannot build namespaced sites, or None when it can."""
    if os.geteuid() != 0:
        return "sites need root (network namespaces)"
    for tool in ("ip", "ethtool"):
        if not shutil.which(tool):
            return "no %s" % tool
    probe = "tern-wan-probe-%d" % os.getpid()
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "cannot create a network namespace"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def need_sites():
    """Exit 77 (skip) unless this host can build namespaced sites."""
    why = sites_missing()
    if why:
        print("SKIP: " + why)
        sys.exit(SKIP)


class Rack:
    def __init__(self, d):
        self.d = d

    def run(self, *args, check=True, timeout=90):
        r = subprocess.run(["bash", RACK, "--dir", self.d] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("rack.sh %s: rc %d\n%s%s" % (
                " ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
        return r

    def addr(self, i):
        host, port = self.run("addr", i).stdout.strip().rsplit(":", 1)
        return host, int(port)

    def ns(self, i):
        return self.run("ns", i).stdout.strip()

    def wan_stats(self):
        return [json.loads(line) for line in self.run("wan", "stats").stdout.splitlines()
                if line.startswith("{")]

    def down(self):
        self.run("down", check=False, timeout=120)


def fourlw(addr, word, timeout=3.0):
    try:
        s = socket.create_connection(addr, timeout=timeout)
    except OSError:
        return ""
    try:
        s.sendall(word.encode())
        out = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")
    except OSError:
        return ""
    finally:
        s.close()


def srvr(addr):
    """(mode, zxid) from srvr, or (None, None)."""
    mode = zxid = None
    for line in fourlw(addr, "srvr").splitlines():
        if line.startswith("Mode:"):
            mode = line.split(":", 1)[1].strip()
        elif line.startswith("Zxid:"):
            zxid = int(line.split(":", 1)[1].strip(), 16)
    return mode, zxid


class Agent:
    """A kazoo client in namespace @ns (site B), driven over a pipe."""

    def __init__(self, ns, hostport, read_only=True):
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns, "/usr/bin/python3", os.path.abspath(__file__), "agent",
             hostport, "1" if read_only else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def call(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError("agent died (rc %s)" % self.p.poll())
        return json.loads(line)

    def close(self):
        try:
            self.call(op="quit")
        except (AssertionError, OSError, ValueError):
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=10)


def agent_main(hostport, read_only):
    from kazoo.client import KazooClient
    from kazoo.exceptions import KazooException
    from kazoo.handlers.threading import KazooTimeoutError

    zk = KazooClient(hosts=hostport, timeout=10, read_only=read_only,
                     connection_retry={"max_tries": -1, "delay": 0.2, "max_delay": 1})
    zk.start(timeout=30)
    agent_state = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.get("op")
        out = {"ok": True}
        try:
            if op == "quit":
                print(json.dumps(out), flush=True)
                break
            if op == "state":
                out["state"] = str(zk.client_state)
            elif op == "get":
                data, stat = zk.get(cmd["path"])
                out["data"] = data.decode()
                out["mzxid"] = stat.mzxid
            elif op == "set":
                zk.set(cmd["path"], cmd["data"].encode())
            elif op == "create":
                zk.create(cmd["path"], cmd["data"].encode(), makepath=True)
            elif op == "watch_start":
                # record (first field of the value, arrival time) at every change
                agent_state["seen"] = []
                agent_state["on"] = True

                def on_change(data, stat):
                    if data is not None and agent_state["on"]:
                        agent_state["seen"].append((data.split(b":", 1)[0].decode(),
                                                    time.time()))
                    return agent_state["on"]
                zk.DataWatch(cmd["path"], on_change)
            elif op == "watch_stop":
                agent_state["on"] = False
                out["seen"] = agent_state["seen"]
            elif op == "watch_arrival":
                # poll until path's value is >= want (an int), report when
                deadline = time.time() + cmd.get("timeout", 10)
                while time.time() < deadline:
                    data, _ = zk.get(cmd["path"])
                    if int(data or b"0") >= cmd["want"]:
                        out["at"] = time.time()
                        break
                    time.sleep(0.001)
                else:
                    out["ok"] = False
        except (KazooException, KazooTimeoutError, ValueError, KeyError) as e:
            out = {"ok": False, "err": type(e).__name__}
        print(json.dumps(out), flush=True)
    zk.stop()
    zk.close()


if __name__ == "__main__" and len(sys.argv) >= 3 and sys.argv[1] == "agent":
    agent_main(sys.argv[2], sys.argv[3] == "1" if len(sys.argv) > 3 else True)
