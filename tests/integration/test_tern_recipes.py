"""tests/integration/test_tern_recipes.py: the ternr recipes (tools/ternr.h)
and the `tern` recipe commands against real ternd processes.

usage: test_tern_recipes.py TERND TERNR_IT TERN

- ternr_it lock/rwlock/queue/barrier/expire/observe (see ternr_it.c): mutual
  exclusion and growing fencing tokens with 8 contending processes, no herd
  (wakeups counted), readers share, queue items taken exactly once and in
  priority order, double barrier, expiry hands the lock on and tells the old
  holder, leader/group/config observers
- protection: a proxy drops the connection after the server applied a
  lock-node create, a queue push and a pop's multi, before the reply: the
  lock adopts its node (no second node, which would deadlock), the push
  leaves one item, the pop proves its take by its claim
- tern lock: 8 processes x 4 sections of a shell command that appends start
  and end markers to one file (O_APPEND): no overlap, TERN_FENCING_TOKEN
  strictly grows in file order, at most one wakeup per acquisition; CMD's
  exit status and signal are passed on
- tern lock across session expiry: the holder is stopped (SIGSTOP) past its
  session timeout; a waiter gets the lock with a larger token; the holder,
  resumed, kills CMD with SIGTERM and exits 3
- tern lock across a server restart within the session timeout: the holder
  keeps the lock (a waiter times out meanwhile) and CMD finishes
- tern queue, barrier, members, elect: output and exit codes
"""
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternlib  # noqa: E402

TERND, TERNR_IT, TERN = sys.argv[1], sys.argv[2], sys.argv[3]
RUN_S = 120
SRV = None
CFG = "maxClientCnxns=0\n"  # 8 contending processes and more
TMP = tempfile.mkdtemp(prefix="tern-it-recipes-")
PROCS = []  # every Popen we start, killed by pid at the end


def tmpfile(name):
    p = os.path.join(TMP, name)
    open(p, "w").close()
    return p


def run_it(*args):
    p = subprocess.run([TERNR_IT, args[0], SRV.hosts()] + [str(a) for a in args[1:]],
                       capture_output=True, text=True, timeout=RUN_S)
    sys.stdout.write(p.stdout)
    assert p.returncode == 0, "ternr_it %s exited %d:\n%s" % (args[0], p.returncode, p.stderr)
    return p.stdout


def env():
    e = dict(os.environ)
    e["TERN_SERVER"] = SRV.hosts()
    return e


def tern(*args, rc=0, timeout=60):
    p = subprocess.run([TERN] + list(args), capture_output=True, text=True, env=env(),
                       timeout=timeout)
    assert p.returncode == rc, "tern %s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
        " ".join(args), p.returncode, rc, p.stdout, p.stderr)
    return p


def spawn(*args):
    p = subprocess.Popen([TERN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env())
    PROCS.append(p)
    return p


def read_line(p, want, timeout=30):
    """Read p's stdout lines until one contains @want (bounded by a timer that
    kills p if it never comes)."""
    t = threading.Timer(timeout, p.kill)
    t.start()
    try:
        for line in p.stdout:
            if want in line:
                return line
    finally:
        t.cancel()
    raise AssertionError("no %r from %s: %s" % (want, p.args, p.stderr.read()))


# ---- library ----

def test_library():
    out = run_it("lock", 8, 10, tmpfile("lock.log"))
    assert "ok lock" in out
    assert "ok rwlock" in run_it("rwlock", 8, 10, tmpfile("rw.log"))
    assert "ok queue" in run_it("queue", 3, 4, 20, tmpfile("q.log"))
    assert "ok barrier" in run_it("barrier", 6, tmpfile("bar.log"))
    out = run_it("observe")
    assert "ok leader" in out and "ok group" in out and "ok config" in out
    assert "ok expire" in run_it("expire")
    test_protect()


class CutProxy:
    """A TCP proxy in front of the server that, once each, forwards a client
    frame (a create of a lock node "_c_...", a create of a queue item "q-...",
    a multi) and then closes both sides before the reply can come back: the
    server applied the request, the client sees CONNECTIONLOSS."""

    OP_CREATES = (1, 15, 19, 21)
    OP_MULTI = 14

    def __init__(self, port):
        self.port = port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.todo = {"lock", "item", "multi"}
        self.cuts = []
        self.stop = False
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def hosts(self):
        return "127.0.0.1:%d" % self.lsock.getsockname()[1]

    def accept_loop(self):
        while not self.stop:
            r, _, _ = select.select([self.lsock], [], [], 0.2)
            if r:
                c, _ = self.lsock.accept()
                s = socket.create_connection(("127.0.0.1", self.port))
                threading.Thread(target=self.pump, args=(c, s), daemon=True).start()

    def which(self, frame):
        typ = struct.unpack(">i", frame[4:8])[0]
        if typ == self.OP_MULTI:
            return "multi"
        if typ in self.OP_CREATES:
            n = struct.unpack(">i", frame[8:12])[0]
            path = frame[12:12 + n].decode(errors="replace")
            name = path.rsplit("/", 1)[-1]
            return "lock" if name.startswith("_c_") else "item" if name.startswith("q-") else None
        return None

    def pump(self, c, s):
        buf, first, muted = b"", True, False
        socks = [c, s]
        try:
            while not self.stop:
                r, _, _ = select.select(socks, [], [], 0.2)
                if s in r:
                    d = s.recv(65536)
                    if not d:
                        return
                    if not muted:
                        c.sendall(d)
                if c in r:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                    while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">i", buf[:4])[0]:
                        n = 4 + struct.unpack(">i", buf[:4])[0]
                        frame, buf = buf[:n], buf[n:]
                        kind = None if first else self.which(frame[4:])
                        first = False
                        if kind in self.todo:
                            self.todo.discard(kind)
                            muted = True  # the reply must not reach the client
                            s.sendall(frame)
                            time.sleep(0.3)  # let the server apply it
                            self.cuts.append(kind)
                            return
                        s.sendall(frame)
        except OSError:
            pass
        finally:
            c.close()
            s.close()

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.lsock.close()


def test_protect():
    proxy = CutProxy(SRV.port)
    try:
        p = subprocess.run([TERNR_IT, "protect", proxy.hosts()], capture_output=True, text=True,
                           timeout=RUN_S)
        sys.stdout.write(p.stdout)
        assert p.returncode == 0, "ternr_it protect exited %d:\n%s" % (p.returncode, p.stderr)
        assert sorted(proxy.cuts) == ["item", "lock", "multi"], proxy.cuts
    finally:
        proxy.close()
    print("ok protect: %d replies lost after the server applied them" % len(proxy.cuts))


# ---- tern lock ----

SECTION = 'echo "S $$ $TERN_FENCING_TOKEN" >> %s; sleep 0.02; echo "E $$ $TERN_FENCING_TOKEN" >> %s'


def test_cli_lock_contention():
    log = tmpfile("cli-lock.log")
    errs, wakeups = [], []

    def worker():
        for _ in range(4):
            p = subprocess.run([TERN, "lock", "-v", "/cli/lk", "--", "sh", "-c",
                                SECTION % (log, log)], capture_output=True, text=True,
                               env=env(), timeout=RUN_S)
            if p.returncode != 0:
                errs.append(p.stderr)
                return
            w = [l for l in p.stderr.splitlines() if "acquired" in l]
            wakeups.append(int(w[0].split()[-1]))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_S)
    assert not errs, errs
    lines = open(log).read().split("\n")[:-1]
    assert len(lines) == 8 * 4 * 2, len(lines)
    last = 0
    for i in range(0, len(lines), 2):
        s, e = lines[i].split(), lines[i + 1].split()
        assert s[0] == "S" and e[0] == "E" and s[1:] == e[1:], (lines[i], lines[i + 1])
        tok = int(s[2])
        assert tok > last, "fencing token %d after %d" % (tok, last)
        last = tok
    assert len(wakeups) == 32 and max(wakeups) <= 1, wakeups
    print("tern lock: 32 sections by 8 processes, %d woken by their predecessor" % sum(wakeups))
    # exit status of CMD; a signal becomes 128+N; usage
    tern("lock", "/cli/st", "--", "sh", "-c", "exit 7", rc=7)
    tern("lock", "/cli/st", "--", "sh", "-c", "kill -USR1 $$", rc=128 + signal.SIGUSR1)
    tern("lock", "/cli/st", rc=2)
    assert tern("lock", "/cli/st", "--", "sh", "-c", "echo $TERN_LOCK_NODE").stdout.startswith(
        "/cli/st/_c_")
    assert tern("ls", "/cli/st").stdout == "", "lock nodes left behind"
    print("ok cli lock")


def test_cli_lock_expiry():
    holder = spawn("--timeout", "4000", "lock", "/cli/ex", "--", "sh", "-c",
                   'echo "started $$ $TERN_FENCING_TOKEN"; exec sleep 60')
    _, child_pid, tok = read_line(holder, "started").split()
    os.kill(holder.pid, signal.SIGSTOP)  # no pings: the server expires the session
    try:
        t0 = time.time()
        p = tern("lock", "-v", "/cli/ex", "--", "sh", "-c", 'echo "got $TERN_FENCING_TOKEN"',
                 timeout=60)
        assert int(p.stdout.split()[1]) > int(tok)
        assert "wakeups 1" in p.stderr, p.stderr
        print("tern lock: waiter got the lock %.1fs after the holder stopped" % (time.time() - t0))
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 3, (holder.returncode, err)
    assert "lost" in err, err
    try:
        os.kill(int(child_pid), 0)
        raise AssertionError("CMD still runs after the lock was lost")
    except ProcessLookupError:
        pass
    print("ok cli lock expiry")


def test_cli_lock_restart():
    global SRV
    go = os.path.join(TMP, "restart.go")
    holder = spawn("--timeout", "20000", "lock", "-v", "/cli/rs", "--", "sh", "-c",
                   "echo started; i=0; while [ ! -e %s ] && [ $i -lt 600 ]; do sleep 0.1; "
                   "i=$((i+1)); done; echo done" % go)
    read_line(holder, "started")
    t0 = time.time()
    assert SRV.stop() == 0
    SRV = ternlib.Ternd(TERND, datadir=SRV.dir, port=SRV.port, extra_cfg=CFG).start()
    print("tern lock: ternd restarted in %.1fs" % (time.time() - t0))
    p = tern("lock", "-w", "1500", "/cli/rs", "--", "true", rc=1)
    assert "OperationTimeout" in p.stderr, p.stderr
    open(go, "w").close()
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, (holder.returncode, err)
    assert "done" in out
    print("ok cli lock restart")


# ---- tern queue, barrier, members, elect ----

def test_cli_queue():
    pushers = [spawn("queue", "push", "/cli/q", "p%d" % i) for i in range(12)]
    for p in pushers:
        p.communicate(timeout=RUN_S)
        assert p.returncode == 0
    got, lock = [], threading.Lock()

    def consumer():
        for _ in range(20):
            p = subprocess.run([TERN, "queue", "pop", "/cli/q"], capture_output=True,
                               text=True, env=env(), timeout=RUN_S)
            if p.returncode == 1 and "empty" in p.stderr:
                return
            assert p.returncode == 0, p.stderr
            with lock:
                got.append(p.stdout.strip())

    threads = [threading.Thread(target=consumer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_S)
    assert sorted(got) == sorted("p%d" % i for i in range(12)), got
    for prio, d in ((2, "a"), (0, "b"), (1, "c"), (0, "d")):
        tern("queue", "push", "-p", str(prio), "/cli/pq", d)
    assert [tern("queue", "pop", "/cli/pq").stdout for _ in range(4)] == ["b\n", "d\n", "c\n",
                                                                          "a\n"]
    assert "OperationTimeout" in tern("queue", "pop", "--wait", "200", "/cli/pq", rc=1).stderr
    waiter = spawn("queue", "pop", "--wait", "/cli/pq")
    time.sleep(0.5)
    assert waiter.poll() is None
    tern("queue", "push", "/cli/pq", "late")
    out, _ = waiter.communicate(timeout=30)
    assert waiter.returncode == 0 and out == "late\n"
    j = json.loads((tern("queue", "push", "/cli/pq", "j") and
                    tern("--json", "queue", "pop", "/cli/pq")).stdout)
    assert j["data"] == "j" and j["item"].startswith("q-000-")
    tern("queue", "frob", "/cli/pq", rc=2)
    print("ok cli queue")


def test_cli_barrier():
    ps = [spawn("barrier", "--leave", "--name", "b%d" % i, "/cli/bar", "3") for i in range(2)]
    time.sleep(1.0)
    assert all(p.poll() is None for p in ps), "left the barrier before all 3 entered"
    ps.append(spawn("barrier", "--leave", "--name", "b2", "/cli/bar", "3"))
    for p in ps:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert out == "entered /cli/bar\nleft /cli/bar\n", out
    assert tern("ls", "/cli/bar").stdout == ""
    tern("barrier", "/cli/bar", rc=2)
    print("ok cli barrier")


def test_cli_members():
    a = spawn("members", "--join", "a", "--data", "10.0.0.1:80", "/cli/grp")
    read_line(a, "members: a")
    assert tern("members", "/cli/grp").stdout == "a 10.0.0.1:80\n"
    b = spawn("members", "--join", "b", "/cli/grp")
    read_line(a, "members: a b")
    j = json.loads(tern("--json", "members", "/cli/grp").stdout)
    assert [m["name"] for m in j["members"]] == ["a", "b"]
    assert "NodeExists" in tern("members", "--join", "a", "/cli/grp", rc=1).stderr
    a.send_signal(signal.SIGINT)
    a.communicate(timeout=30)
    assert a.returncode == 0
    assert tern("members", "/cli/grp").stdout == "b\n"
    b.send_signal(signal.SIGINT)
    b.communicate(timeout=30)
    assert tern("members", "/cli/grp").stdout == ""
    print("ok cli members")


def test_cli_elect():
    log = tmpfile("elect.log")
    n1 = spawn("elect", "--id", "n1", "/cli/el", "--", "sh", "-c",
               "echo leading; echo n1 >> %s; sleep 2; echo n1-end >> %s" % (log, log))
    read_line(n1, "leading")
    assert tern("elect", "/cli/el").stdout == "n1\n"
    assert json.loads(tern("--json", "elect", "/cli/el").stdout)["leader"] == "n1"
    n2 = subprocess.run([TERN, "elect", "--id", "n2", "/cli/el", "--", "sh", "-c",
                         "echo n2 >> %s" % log], capture_output=True, text=True, env=env(),
                        timeout=RUN_S)
    assert n2.returncode == 0, n2.stderr
    n1.communicate(timeout=30)
    assert n1.returncode == 0
    assert open(log).read() == "n1\nn1-end\nn2\n"  # n2 led only after n1 finished
    assert "NoNode" in tern("elect", "/cli/el", rc=1).stderr  # nobody leads now
    print("ok cli elect")


def main():
    global SRV
    if ternlib.is_zk(TERND):
        print("recipes against Apache ZooKeeper")
    os.mkdir(os.path.join(TMP, "srv"))  # our own dir: it outlives the restart
    SRV = ternlib.Ternd(TERND, datadir=os.path.join(TMP, "srv"), extra_cfg=CFG).start()
    try:
        test_library()
        test_cli_lock_contention()
        test_cli_queue()
        test_cli_barrier()
        test_cli_members()
        test_cli_elect()
        test_cli_lock_expiry()
        test_cli_lock_restart()
    finally:
        for p in PROCS:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except OSError:
                    pass
                p.kill()
                p.wait(10)
        SRV.stop()
        SRV.cleanup()
        shutil.rmtree(TMP, ignore_errors=True)
    print("all recipe tests passed")


if __name__ == "__main__":
    main()
