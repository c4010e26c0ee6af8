"""tests/integration/test_cli.py: the `tern` CLI against a real ternd: the
text and --json output of every command, error messages and exit codes
(0 ok, 1 ZooKeeper error, 2 usage), TERN_SERVER, --auth, watch, and
`tern status` with one server up and one down.

usage: test_cli.py TERND TERN
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternlib  # noqa: E402

TERND = sys.argv[1]
TERN = sys.argv[2]
SRV = None


def tern(*args, rc=0, env_server=True, timeout=30):
    env = dict(os.environ)
    env.pop("TERN_SERVER", None)
    if env_server:
        env["TERN_SERVER"] = SRV.hosts()
    p = subprocess.run([TERN] + list(args), capture_output=True, text=True, env=env,
                       timeout=timeout)
    assert p.returncode == rc, "tern %s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
        " ".join(args), p.returncode, rc, p.stdout, p.stderr)
    return p


def tj(*args, rc=0):
    p = tern("--json", *args, rc=rc)
    return json.loads(p.stdout if rc == 0 else p.stderr)


def test_help_and_usage():
    p = tern("--help")
    for cmd in ("ls [-R]", "get", "set", "create", "delete", "deleteall", "stat", "getAcl",
                "setAcl", "sync", "watch", "status"):
        assert cmd in p.stdout, cmd
    assert "usage: tern create" in tern("create", "--help").stdout
    assert "unknown command" in tern("frobnicate", rc=2).stderr
    assert "missing argument" in tern("get", rc=2).stderr
    assert "usage: tern set" in tern("set", "/x", rc=2).stderr
    tern(rc=2)


def test_create_get_set_stat():
    assert tern("create", "/c", "hello").stdout == "Created /c\n"
    assert tern("get", "/c").stdout == "hello\n"
    assert tern("set", "/c", "bye").stdout == "Set /c (version 1)\n"
    d = tj("get", "/c")
    assert d["data"] == "bye" and d["stat"]["version"] == 1 and d["stat"]["dataLength"] == 3
    p = tern("stat", "/c")
    assert "dataVersion     1" in p.stdout and "numChildren     0" in p.stdout
    assert tj("stat", "/c")["stat"]["version"] == 1
    assert "cZxid" in tern("get", "-s", "/c").stdout
    p = tern("create", "/c", rc=1)
    assert "NodeExists" in p.stderr and "/c" in p.stderr
    e = tj("create", "/c", rc=1)
    assert e["error"] == "NodeExists" and e["code"] == -110
    assert "NoNode" in tern("get", "/missing", rc=1).stderr
    assert "BadVersion" in tern("set", "-v", "7", "/c", "x", rc=1).stderr
    assert tj("set", "-v", "1", "/c", "z")["stat"]["version"] == 2
    # null data vs empty
    tern("create", "/c/nul")
    assert tj("get", "/c/nul")["data"] is None


def test_create_modes():
    tern("create", "/m")
    out = tern("create", "-s", "/m/seq-", "x").stdout
    assert out == "Created /m/seq-0000000000\n", out
    assert tj("create", "-s", "/m/seq-")["path"] == "/m/seq-0000000001"
    # an ephemeral lives as long as its one-command session
    tern("create", "-e", "/m/eph")
    assert "NoNode" in tern("stat", "/m/eph", rc=1).stderr
    tern("create", "-c", "/m/ctr")
    tern("create", "-t", "60000", "/m/ttl")
    assert tern("stat", "/m/ttl").returncode == 0
    assert "-c goes alone" in tern("create", "-c", "-e", "/m/x", rc=2).stderr
    assert "bad TTL" in tern("create", "-t", "abc", "/m/x", rc=2).stderr


def test_ls_delete():
    tern("create", "/l")
    tern("create", "/l/b")
    tern("create", "/l/a")
    tern("create", "/l/a/x")
    assert tern("ls", "/l").stdout == "a\nb\n"
    assert tj("ls", "/l") == ["a", "b"]
    assert tern("ls", "-R", "/l").stdout == "/l/a\n/l/a/x\n/l/b\n"
    assert tj("ls", "-R", "/l") == ["/l/a", "/l/a/x", "/l/b"]
    assert "NotEmpty" in tern("delete", "/l/a", rc=1).stderr
    assert tern("delete", "/l/a/x").stdout == "Deleted /l/a/x\n"
    assert tj("delete", "/l/a") == {"path": "/l/a"}
    assert "NoNode" in tern("ls", "/l/zz", rc=1).stderr
    tern("create", "/l/a")
    tern("create", "/l/a/y")
    assert tern("deleteall", "/l").stdout == "Deleted /l (4 nodes)\n"
    assert "NoNode" in tern("stat", "/l", rc=1).stderr
    tern("create", "/l2")
    assert tj("deleteall", "/l2") == {"path": "/l2", "deleted": 1}


def test_acl_and_auth():
    tern("create", "/acl", "secret")
    assert tern("getAcl", "/acl").stdout == "world:anyone:cdrwa\n"
    assert tj("getAcl", "/acl") == [{"scheme": "world", "id": "anyone", "perms": "cdrwa"}]
    # digest:alice:<hash of alice:pw> as zkCli would write it
    import base64
    import hashlib
    h = base64.b64encode(hashlib.sha1(b"alice:pw").digest()).decode()
    acl = "world:anyone:r,digest:alice:%s:cdrwa" % h
    assert tern("setAcl", "/acl", acl).stdout == "Set ACL of /acl\n"
    got = tj("getAcl", "/acl")
    # without ADMIN the hash is hidden (ZooKeeper 3.7+ does the same)
    assert {"scheme": "digest", "id": "alice:x", "perms": "cdrwa"} in got, got
    got = tj("--auth", "digest:alice:pw", "getAcl", "/acl")
    assert {"scheme": "digest", "id": "alice:" + h, "perms": "cdrwa"} in got, got
    assert {"scheme": "world", "id": "anyone", "perms": "r"} in got, got
    assert tern("get", "/acl").stdout == "secret\n"
    p = tern("set", "/acl", "x", rc=1)
    assert "NoAuth" in p.stderr, p.stderr
    assert tern("--auth", "digest:alice:pw", "set", "/acl", "x").returncode == 0
    assert tern("get", "--auth", "digest:alice:pw", "/acl").stdout == "x\n"
    who = tj("--auth", "digest:alice:pw", "whoami")
    assert any(w.startswith("digest:alice") for w in who), who
    assert "bad ACL" in tern("setAcl", "/acl", "world:anyone", rc=2).stderr
    assert "bad ACL" in tern("setAcl", "/acl", "world:anyone:xyz", rc=2).stderr


def test_sync():
    tern("create", "/s")
    assert tern("sync", "/s").stdout == "Synced /s\n"
    assert tj("sync", "/s") == {"path": "/s"}


def test_watch():
    tern("create", "/w", "0")
    env = dict(os.environ, TERN_SERVER=SRV.hosts())
    p = subprocess.Popen([TERN, "--json", "watch", "-R", "--count", "3", "/w"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(0.5)  # let it register (a late event would only make it wait longer)
        for i in range(20):
            tern("set", "/w", str(i))
            if p.poll() is not None:
                break
            time.sleep(0.1)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    assert p.returncode == 0, err
    lines = [json.loads(l) for l in out.splitlines()]
    assert len(lines) == 3 and all(e["type"] == "NodeDataChanged" and e["path"] == "/w"
                                   for e in lines), lines
    # text mode, stopped by SIGINT
    p = subprocess.Popen([TERN, "watch", "/w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    try:
        time.sleep(0.5)
        tern("create", "/w/kid")
        time.sleep(0.5)
        p.send_signal(2)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    assert p.returncode == 0 and "NodeChildrenChanged" in out and "/w" in out, (out, err)


def test_server_option_and_chroot():
    tern("create", "/root")
    p = tern("--server", SRV.hosts() + "/root", "create", "/inside", "v", env_server=False)
    assert p.stdout == "Created /inside\n"
    assert tern("get", "/root/inside").stdout == "v\n"
    dead = "127.0.0.1:%d" % ternlib.free_port()
    p = tern("--server", dead, "--timeout", "2000", "ls", "/", rc=1, env_server=False)
    assert "cannot connect" in p.stderr, p.stderr
    assert "bad global option" in tern("--timeout", "x", "ls", rc=2).stderr


def test_status():
    p = tern("status")
    assert SRV.hosts() in p.stdout and " up " in p.stdout and "mode=standalone" in p.stdout
    assert "znodes=" in p.stdout and "latency(min/avg/max)=" in p.stdout
    dead = "127.0.0.1:%d" % ternlib.free_port()
    p = tern("--server", SRV.hosts() + "," + dead, "status", rc=1)
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and " up " in lines[0] and "DOWN" in lines[1] and dead in lines[1]
    assert "refused" in lines[1].lower(), lines[1]
    p = tern("--json", "--server", SRV.hosts() + "," + dead, "status", rc=1)
    st = json.loads(p.stdout)
    assert st[0]["up"] is True and st[0]["mode"] == "standalone" and int(st[0]["znodes"]) > 0
    assert st[1]["up"] is False and st[1]["server"] == dead and st[1]["error"]


if __name__ == "__main__":
    with ternlib.Ternd(TERND, extra_cfg="extendedTypesEnabled=true\n") as srv:
        SRV = srv
        ternlib.run_tests([
            ("help_and_usage", test_help_and_usage),
            ("create_get_set_stat", test_create_get_set_stat),
            ("create_modes", test_create_modes),
            ("ls_delete", test_ls_delete),
            ("acl_and_auth", test_acl_and_auth),
            ("sync", test_sync),
            ("watch", test_watch),
            ("server_option_and_chroot", test_server_option_and_chroot),
            ("status", test_status),
        ])
