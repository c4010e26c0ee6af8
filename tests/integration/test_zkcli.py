#!/usr/bin/python3
"""Integration: Apache ZooKeeper's own Java CLI (zkCli.sh) against ternd.

Each zkCli.sh invocation starts a JVM, runs one command and exits, so the
test uses few of them, each under a timeout. zkCli prints results on
stdout and "Created ..." and errors on stderr; both are checked, and the
effects are cross-checked with kazoo. Exits 77 (skip) when zkCli.sh or
kazoo is missing.

Usage: test_zkcli.py TERND
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
if not os.access(ZKCLI, os.X_OK):
    print("%s is missing (Debian: zookeeper)" % ZKCLI)
    sys.exit(ternlib.SKIP)
ternlib.need_kazoo()
TERND = sys.argv[1]
srv = ternlib.Ternd(TERND)


def zkcli(*args, ok=True, opts=()):
    """Run one zkCli command; return (exit code, stdout+stderr without the
    JVM's logging noise). ok=True asserts the command succeeded."""
    env = dict(os.environ)
    env.pop("CLIENT_JVMFLAGS", None)
    p = subprocess.run([ZKCLI, "-server", srv.hosts()] + list(opts) + list(args), capture_output=True,
                       text=True, timeout=45, env=env, stdin=subprocess.DEVNULL)
    out = "\n".join(l for l in (p.stdout + "\n" + p.stderr).splitlines()
                    if not l.startswith("SLF4J"))
    if ok:
        assert p.returncode == 0, "zkCli %s exited %d:\n%s" % (args, p.returncode, out)
    return p.returncode, out


def stat_fields(out):
    """The 'name = value' lines zkCli prints for a Stat."""
    f = {}
    for line in out.splitlines():
        k, sep, v = line.partition(" = ")
        if sep and k.strip() and " " not in k.strip():
            f[k.strip()] = v.strip()
    return f


def t_create_get_set_stat(zk):
    _, out = zkcli("create", "/zkcli", "hello-tern")
    assert "Created /zkcli" in out, out
    assert zk.get("/zkcli")[0] == b"hello-tern"
    _, out = zkcli("get", "/zkcli")
    assert "hello-tern" in out.splitlines(), out
    zkcli("set", "/zkcli", "v2")
    assert zk.get("/zkcli")[0] == b"v2"
    _, out = zkcli("get", "-s", "/zkcli")
    f = stat_fields(out)
    assert "v2" in out.splitlines(), out
    assert f.get("dataVersion") == "1" and f.get("dataLength") == "2", f
    _, out = zkcli("stat", "/zkcli")
    f = stat_fields(out)
    st = zk.exists("/zkcli")
    assert f.get("cZxid") == hex(st.czxid) and f.get("mZxid") == hex(st.mzxid), (f, st)
    assert f.get("numChildren") == "0" and f.get("ephemeralOwner") == "0x0", f
    assert f.get("dataVersion") == "1", f
    _, out = zkcli("ls", "/")
    assert "[zkcli, zookeeper]" in out, out


def t_ephemeral_and_sequential(zk):
    # zkCli exits without closing its session, so (as with ZooKeeper) the
    # ephemeral lives until the session expires: 4 s, the minimum
    _, out = zkcli("create", "-e", "/zkcli/eph", "x", opts=("-timeout", "4000"))
    assert "Created /zkcli/eph" in out, out
    st = zk.exists("/zkcli/eph")
    assert st is not None and st.ephemeralOwner != 0, st
    _, out = zkcli("stat", "/zkcli/eph")
    assert stat_fields(out).get("ephemeralOwner") == hex(st.ephemeralOwner), (out, st)
    ternlib.wait_for(lambda: zk.exists("/zkcli/eph") is None, 15, "ephemeral to expire")
    seq = "%010d" % zk.exists("/zkcli").cversion
    _, out = zkcli("create", "-s", "/zkcli/seq-", "y")
    assert "Created /zkcli/seq-" + seq in out, (seq, out)
    assert zk.get("/zkcli/seq-" + seq)[0] == b"y"
    _, out = zkcli("ls", "/zkcli")
    assert "[seq-%s]" % seq in out, out


def t_errors_and_delete(zk):
    rc, out = zkcli("create", "/zkcli", "again", ok=False)
    assert rc != 0 and "Node already exists: /zkcli" in out, (rc, out)
    rc, out = zkcli("get", "/zkcli-missing", ok=False)
    assert rc != 0 and "Node does not exist: /zkcli-missing" in out, (rc, out)
    rc, out = zkcli("delete", "/zkcli", ok=False)
    assert rc != 0 and "Node not empty: /zkcli" in out, (rc, out)
    child = zk.get_children("/zkcli")
    assert len(child) == 1, child
    zkcli("delete", "/zkcli/" + child[0])
    zkcli("delete", "/zkcli")
    assert zk.exists("/zkcli") is None
    _, out = zkcli("ls", "/")
    assert "[zookeeper]" in out, out


if __name__ == "__main__":
    with srv:
        zk = ternlib.kazoo_client(srv)
        try:
            ternlib.run_tests([(n, (lambda f=f: f(zk))) for n, f in (
                ("create_get_set_stat", t_create_get_set_stat),
                ("ephemeral_and_sequential", t_ephemeral_and_sequential),
                ("errors_and_delete", t_errors_and_delete),
            )])
        finally:
            zk.stop()
            zk.close()
