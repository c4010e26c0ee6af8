#!/usr/bin/python3
"""Integration: SASL DIGEST-MD5 with kazoo (pure-sasl) against the JAAS
users of the server, sasl ACLs, and refusal of a wrong password.

Usage: test_sasl.py TERND
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

ternlib.need_kazoo()
try:
    import puresasl  # noqa: F401
except ImportError:
    print("pure-sasl is not installed (Debian: python3-puresasl)")
    sys.exit(ternlib.SKIP)
from kazoo.exceptions import NoAuthError  # noqa: E402
from kazoo.security import ACL, Id  # noqa: E402

TERND = sys.argv[1]


def sasl_client(srv, user, pw):
    return ternlib.kazoo_client(srv, sasl_options={
        "mechanism": "DIGEST-MD5", "username": user, "password": pw})


def t_digest_md5():
    import tempfile
    d = tempfile.mkdtemp(prefix="tern-it-")
    jaas = os.path.join(d, "jaas.conf")
    with open(jaas, "w") as f:
        f.write('Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                '  user_alice="wonderland"\n  user_bob="builder";\n};\n')
    srv = ternlib.Ternd(TERND, datadir=d,
                        extra_cfg="java.security.auth.login.config=%s\n" % jaas)
    try:
        srv.start()
        alice = sasl_client(srv, "alice", "wonderland")
        alice.create("/sasl", b"secret", acl=[ACL(31, Id("sasl", "alice"))])
        assert alice.get("/sasl")[0] == b"secret"
        bob = sasl_client(srv, "bob", "builder")
        try:
            bob.get("/sasl")
            raise AssertionError("bob read alice's node")
        except NoAuthError:
            pass
        bob.stop()
        bob.close()
        alice.stop()
        alice.close()
        from kazoo.client import KazooClient
        bad = KazooClient(hosts=srv.hosts(), timeout=5, sasl_options={
            "mechanism": "DIGEST-MD5", "username": "alice", "password": "wrong"})
        try:
            bad.start(timeout=5)
        except Exception:  # noqa: BLE001 - refused: what we want
            pass
        # kazoo reports CONNECTED before its SASL exchange ends: wait for the refusal
        ternlib.wait_for(lambda: not bad.connected, 10, "the wrong password to be refused")
        bad.stop()
        bad.close()
        # the server keeps serving
        ok = ternlib.kazoo_client(srv)
        assert "sasl" in ok.get_children("/")
        ok.stop()
        ok.close()
        if ternlib.skip_under_zk(TERND, "GSSAPI refusal and log lines are tern's own: "
                                 "ZooKeeper with a DIGEST-MD5-only JAAS answers any first "
                                 "SASL token with a DIGEST-MD5 challenge (err 0)"):
            return
        # a GSSAPI (Kerberos) initial token: AuthFailed, then the connection closes
        import struct
        raw = ternlib.Raw(srv.port)
        raw.connect()
        tok = b"\x60\x82\x02\x10\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02" + b"\0" * 20
        err, _, _ = raw.request(102, struct.pack(">i", len(tok)) + tok)
        assert err == -115, err
        try:
            raw.s.settimeout(5)
            assert raw.s.recv(1) == b"", "connection left open after a GSSAPI token"
        except ConnectionResetError:
            pass
        raw.close()
        assert "GSSAPI/Kerberos is not" in srv.log_all()
        assert "SASL DIGEST-MD5 authenticated alice" in srv.log_all()
        assert "wrong password" in srv.log_all()
    finally:
        srv.cleanup()
        import shutil
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    ternlib.run_tests([("digest_md5", t_digest_md5)])
