#!/usr/bin/python3
"""Integration: snapCount triggers log rolls and background snapshots; a
restart recovers from snapshot + log; data written across several
snapshots is all there, and TTL/container nodes get reaped.

Usage: test_snapshots.py TERND
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import ternlib  # noqa: E402

ternlib.need_kazoo()
TERND = sys.argv[1]


def snapshots(srv):
    d = os.path.join(srv.dir, "data", "version-2")
    return sorted(f for f in os.listdir(d) if f.startswith("snapshot."))


def t_snapshots_and_recovery():
    # small preallocation: this test makes many log segments
    srv = ternlib.Ternd(TERND, extra_cfg="snapCount=100\npreAllocSize=1024\n")
    try:
        srv.start()
        zk = ternlib.kazoo_client(srv)
        zk.create("/s", b"")
        for i in range(400):
            zk.create("/s/n%03d" % i, b"%d" % i)
        ternlib.wait_for(lambda: len(snapshots(srv)) >= 2, 10, "snapshots")
        for i in range(0, 400, 2):
            zk.delete("/s/n%03d" % i)
        zk.stop()
        zk.close()
        assert srv.stop() == 0
        srv.start()
        zk = ternlib.kazoo_client(srv)
        kids = sorted(zk.get_children("/s"))
        assert kids == ["n%03d" % i for i in range(1, 400, 2)], kids[:5]
        assert zk.get("/s/n399")[0] == b"399"
        zk.stop()
        zk.close()
    finally:
        srv.cleanup()


def t_ttl_and_container_reaping():
    srv = ternlib.Ternd(TERND, extra_cfg="extendedTypesEnabled=true\n"
                       "znode.container.checkIntervalMs=200\n")
    try:
        srv.start()
        zk = ternlib.kazoo_client(srv)
        # containers and TTL nodes over raw requests (old kazoo lacks both)
        import struct
        raw = ternlib.Raw(srv.port)
        raw.connect()
        acl = struct.pack(">ii", 1, 31) + ternlib.Raw.ustr("world") + ternlib.Raw.ustr("anyone")
        body = ternlib.Raw.ustr("/cont") + struct.pack(">i", 0) + acl + struct.pack(">i", 4)
        err, _, _ = raw.request(19, body)
        assert err == 0, err
        zk.create("/cont/kid", b"")
        zk.delete("/cont/kid")
        ternlib.wait_for(lambda: zk.exists("/cont") is None, 10, "container reaped")
        body = ternlib.Raw.ustr("/ttl") + struct.pack(">i", 0) + acl + struct.pack(">iq", 5, 300)
        err, _, _ = raw.request(21, body)
        assert err == 0, err
        assert zk.exists("/ttl") is not None
        t0 = time.time()
        ternlib.wait_for(lambda: zk.exists("/ttl") is None, 10, "TTL node reaped")
        assert time.time() - t0 >= 0.1
        raw.close()
        zk.stop()
        zk.close()
    finally:
        srv.cleanup()


def t_container_stat_owner():
    """A container's Stat.ephemeralOwner reads as 0, as Apache ZooKeeper 3.8 replies
    (DataNode.copyStat hides the container marker the tree stores; checked by
    sending these bytes to the Debian zookeeper server)."""
    import struct
    srv = ternlib.Ternd(TERND)
    try:
        srv.start()
        raw = ternlib.Raw(srv.port)
        raw.connect()
        acl = struct.pack(">ii", 1, 31) + ternlib.Raw.ustr("world") + ternlib.Raw.ustr("anyone")
        body = ternlib.Raw.ustr("/c") + struct.pack(">i", 0) + acl + struct.pack(">i", 4)
        err, _, rsp = raw.request(19, body)
        assert err == 0, err
        # Create2Response: path, then Stat; ephemeralOwner at Stat offset 44
        (plen,) = struct.unpack(">i", rsp[:4])
        (owner,) = struct.unpack(">Q", rsp[4 + plen + 44:4 + plen + 52])
        assert owner == 0, hex(owner)
        raw.close()
    finally:
        srv.cleanup()


if __name__ == "__main__":
    ternlib.run_tests([("snapshots_and_recovery", t_snapshots_and_recovery),
                       ("ttl_and_container_reaping", t_ttl_and_container_reaping),
                       ("container_stat_owner", t_container_stat_owner)])
