"""The DPDK port's exception path: a host whose NIC DPDK owns stays reachable.

deploy/rack.sh --mode dpdk gives each server a veth (dp0) that DPDK drives
through net_af_packet and that the namespace's kernel neither sees nor uses
(an nft ingress drop: as with a NIC bound to vfio-pci). Each ternd makes a
tap (tern.dpdk.exception, default on) with the port's MAC and DPDK address:
frames that are not tern's go to the kernel through it, and what the kernel
sends into it leaves through DPDK.

Checked from server 2's namespace against server 1's DPDK address, so every
packet crosses both exception paths (kernel 2 -> tap 2 -> ternd 2 -> DPDK ->
ternd 1 -> tap 1 -> kernel 1, and back):
  - ping gets its echo replies (ICMP and the kernels' ARP both ways);
  - a TCP connection to a server process listening in server 1's namespace
    on the DPDK address carries 256 KiB each way (full-size segments),
    while kazoo writes and reads go on through the ensemble (whose Zab
    traffic shares the DPDK ports);
  - the admin server's /metrics is scraped over the DPDK address;
  - mntr counts exc_to_kernel and exc_from_kernel on server 1, and server
    1's kernel never saw tern's own UDP (no UDP NoPorts, no ICMP
    destination unreachable sent): only frames that are not tern's reach it.

argv: ternd, "true"/"false" (meson found libdpdk). Exit 77 (skip) without
DPDK, root, ip/nft, or when the rack cannot be set up here."""
import os
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternlib  # noqa: E402
import test_dpdk as td  # noqa: E402  (rack helpers; reads the same argv)

PY = "/usr/bin/python3"
TCP_PORT = 4022
TCP_BYTES = 256 * 1024
ADMIN_PORT = 8080   # ternd's default admin server, on 0.0.0.0
SKIP = 77

# echo server: one connection, everything read is sent back, bounded in time
ECHO_SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(60)
print("ready", flush=True)
c, peer = s.accept()
c.settimeout(60)
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    c.sendall(b)
    n += len(b)
c.close()
print("echoed %d from %s" % (n, peer[0]), flush=True)
"""

# ping for hosts without iputils-ping: ICMP echo over a raw socket
PING = r"""
import os, select, socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident, got = os.getpid() & 0xffff, 0
for seq in range(1, int(sys.argv[2]) + 1):
    body = struct.pack("!HH", ident, seq) + b"tern-exc" * 7
    s.sendto(struct.pack("!BBH", 8, 0, csum(b"\x08\x00\x00\x00" + body)) + body, (sys.argv[1], 0))
    deadline = time.time() + 10
    while time.time() < deadline:
        if not select.select([s], [], [], deadline - time.time())[0]:
            break
        pkt = s.recv(2048)
        icmp = pkt[(pkt[0] & 15) * 4:]
        if icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
            got += 1
            break
    time.sleep(0.2)
print("%s packets transmitted, %d received" % (sys.argv[2], got))
sys.exit(0 if got else 1)
"""

# client: sends a pattern, reads it all back, checks it
ECHO_CLIENT = r"""
import socket, sys, threading
n = int(sys.argv[3])
data = bytes((i * 7 + i // 251) & 255 for i in range(n))
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
def send():
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while True:
    b = c.recv(65536)
    if not b:
        break
    got += b
t.join()
c.close()
assert bytes(got) == data, "echo differs: %d bytes back of %d" % (len(got), n)
print("tcp ok %d bytes each way" % n, flush=True)
"""


def nsx(ns, *cmd, timeout=60, check=True):
    r = subprocess.run(["ip", "netns", "exec", ns] + [str(c) for c in cmd], capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("%s: %s: rc %d\n%s%s" % (ns, " ".join(map(str, cmd)), r.returncode,
                                                    r.stdout, r.stderr))
    return r


def snmp(ns):
    """/proc/net/snmp of @ns as {"Udp.NoPorts": n, ...}."""
    lines = nsx(ns, "cat", "/proc/net/snmp").stdout.splitlines()
    out = {}
    for names, vals in zip(lines[0::2], lines[1::2]):
        proto = names.split(":")[0]
        for k, v in zip(names.split()[1:], vals.split()[1:]):
            out["%s.%s" % (proto, k)] = int(v)
    return out


def scenario(d):
    env = dict(line.split("=", 1) for line in td.rack(d, "env").stdout.splitlines() if "=" in line)
    ns1, ns2 = "tern-%s-1" % env["ID"], "tern-%s-2" % env["ID"]
    ip1 = env["DNET"] + ".1"
    for i in (1, 2, 3):
        log = td.rack(d, "logs", i).stdout
        assert "exception path: frames not tern's" in log, log[-2000:]
    lead = td.leader(d)
    print("leader %d elected over DPDK; taps up" % lead)
    base = snmp(ns1)

    # ping: ICMP and ARP through both exception paths
    if shutil.which("ping"):
        r = nsx(ns2, "ping", "-c", "3", "-i", "0.2", "-W", "10", ip1, check=False, timeout=60)
    else:   # no iputils-ping: the same echo requests from python
        r = nsx(ns2, PY, "-c", PING, ip1, 3, check=False, timeout=60)
    print("ping %s from server 2: %s" % (ip1, " / ".join(
        ln for ln in r.stdout.splitlines() if "received" in ln) or r.stderr.strip()))
    assert r.returncode == 0, "ping %s from %s failed:\n%s%s" % (ip1, ns2, r.stdout, r.stderr)

    # TCP both ways while the ensemble serves
    srv = subprocess.Popen(["ip", "netns", "exec", ns1, PY, "-c", ECHO_SERVER, ip1, str(TCP_PORT)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready", srv.stderr.read()
        result = {}

        def run_client():
            result["r"] = nsx(ns2, PY, "-c", ECHO_CLIENT, ip1, TCP_PORT, TCP_BYTES, check=False,
                              timeout=80)
        t = threading.Thread(target=run_client)
        t.start()
        zk = td.client(td.rack(d, "connect-string").stdout.strip())
        try:
            for k in range(20):
                zk.create("/exc-%d" % k, b"v%d" % k)
            zk.sync("/")
            for k in range(20):
                assert zk.get("/exc-%d" % k)[0] == b"v%d" % k
        finally:
            zk.stop()
            zk.close()
        t.join(90)
        assert not t.is_alive(), "tcp client hung"
        cr = result["r"]
        assert cr.returncode == 0, "tcp through the exception path failed:\n%s%s" % (cr.stdout,
                                                                                     cr.stderr)
        print(cr.stdout.strip() + "; 20 kazoo writes meanwhile")
        out, err = srv.communicate(timeout=30)
        assert srv.returncode == 0 and "echoed %d" % TCP_BYTES in out, out + err
    finally:
        if srv.poll() is None:
            srv.kill()   # by its pid: ip netns exec execs python in place
            srv.wait()

    # metrics scraped over the DPDK address
    r = nsx(ns2, "curl", "-sS", "--max-time", "30", "http://%s:%d/metrics" % (ip1, ADMIN_PORT),
            check=False, timeout=60)
    assert r.returncode == 0, "metrics over %s: %s" % (ip1, r.stderr)
    assert "tern_peer_port_exc_from_kernel" in r.stdout, r.stdout[-1500:]
    print("metrics scraped over the DPDK address: %d bytes" % len(r.stdout))

    # counted; and the kernel never saw tern's UDP
    m = td.mntr(td.addr(d, 1))
    exc = {k[len("zk_peer_port_"):]: int(v) for k, v in m.items()
           if k.startswith("zk_peer_port_exc")}
    print("server 1 mntr: " + " ".join("%s=%d" % kv for kv in sorted(exc.items())))
    assert exc.get("exc_tap") == 1, exc
    # 256 KiB each way are > 180 full-size segments through the tap
    assert exc.get("exc_to_kernel", 0) > 180 and exc.get("exc_from_kernel", 0) > 180, exc
    assert int(m.get("zk_peer_port_rx_packets", "0")) > 0
    now = snmp(ns1)
    for k in ("Udp.NoPorts", "Icmp.OutDestUnreachs"):
        assert now.get(k, 0) == base.get(k, 0), "server 1's kernel %s went %d -> %d" % (
            k, base.get(k, 0), now.get(k, 0))
    assert now["Icmp.InEchos"] > base["Icmp.InEchos"], "the kernel answered no ping"
    print("server 1's kernel: %d echo requests answered, Udp.NoPorts and "
          "Icmp.OutDestUnreachs unchanged" % (now["Icmp.InEchos"] - base["Icmp.InEchos"]))


def check_bad_config():
    """Bad tern.dpdk.exception/tap settings: ternd refuses to start and says
    why (runs with or without DPDK)."""
    cases = [("tern.dpdk.exception=kernel\n", "must be tap or none"),
             ("tern.dpdk.tap=a-name-far-too-long\n", "interface name"),
             ("tern.dpdk.tap=bad/name\n", "interface name")]
    td.refused_configs(cases, "tern-dpdk-exc-cfg-")
    print("PASS bad_config")


def main():
    check_bad_config()
    if not td.DPDK_BUILT:
        print("SKIP: tern was built without DPDK (libdpdk not found)")
        return SKIP
    if os.geteuid() != 0 or not all(shutil.which(x) for x in ("ip", "nft", "curl")):
        print("SKIP: needs root, ip, nft and curl")
        return SKIP
    if not os.path.exists("/dev/net/tun"):
        print("SKIP: no /dev/net/tun")
        return SKIP
    ternlib.need_kazoo()
    return td.in_dpdk_rack("tern-dpdk-exc-", scenario, "dpdk_exception_path", 2)

if __name__ == "__main__":
    sys.exit(main())
