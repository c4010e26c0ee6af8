#!/usr/bin/python3
"""tests/integration/lincheck.py: a linearizability checker for ZooKeeper
register histories (Wing & Gong's search with Lowe's and Porcupine's
improvements), written for tests/integration/test_faults.py.

Model: one znode per key, a register whose state is None (absent) or
(version, data). Operations, each with an invocation time `call` and a
completion time `ret` (monotonic, comparable across processes):

  create(data)        -> "ok" | "exists"
  write(data)         -> ("ok", new_version) | "nonode"      setData version -1
  cas(ev, data)       -> ("ok", new_version) | "badversion" | "nonode"
  read()              -> ("ok", data, version) | "nonode"     after sync

An operation whose outcome is unknown (connection loss, timeout, session
expiry) has result None: it may or may not have taken effect, at any point
after its invocation (its completion is open-ended). Unknown reads say
nothing and are dropped.

The search:
  - P-compositionality: a history is linearizable iff each key's
    sub-history is, so every key is checked on its own.
  - Wing-Gong: walk the invocation/completion list; linearize a pending op
    whose invocation precedes every pending completion; backtrack when a
    completion is reached whose op is not yet linearized.
  - Lowe's memo: a (set of linearized ops, model state) pair seen once is
    never explored again. The set is kept as a 128-bit Zobrist hash (XOR of
    a random word per linearized op), so a memo entry stays small on
    histories of tens of thousands of ops; a collision (odds ~ entries^2 /
    2^128) could only prune a branch, i.e. never turn a bad history good.
  - Unknown ops complete at infinity and are optional: the search succeeds
    once every op with a known outcome is linearized.
  - Bounded: each search has a deadline and answers "undecided" past it.

Run `lincheck.py --self-test` for the checker's own tests, or
`lincheck.py HISTORY.jsonl [--budget S]` to check a recorded history
(one JSON op a line, the format test_faults.py writes).
"""
import json
import random
import sys
import time

INF = float("inf")
NOSTEP = object()  # the model refuses this op in this state
OK, FAIL, UNDECIDED = "linearizable", "not linearizable", "undecided"
DEADLINE_CHECK_EVERY = 2048  # search steps between clock reads
ZOBRIST_BITS = 128


class Op:
    __slots__ = ("id", "key", "kind", "arg", "result", "call", "ret", "client", "note")

    def __init__(self, key, kind, arg, result, call, ret, client=None, note=None, id=None):
        self.id = id
        self.key = key
        self.kind = kind
        self.arg = arg
        self.result = result
        self.call = call
        self.ret = INF if result is None or ret is None else ret
        self.client = client
        self.note = note

    @property
    def unknown(self):
        return self.result is None

    def __repr__(self):
        r = "?" if self.result is None else self.result
        return "#%s c%s %s(%s)->%s [%s, %s]" % (
            self.id, self.client, self.kind, _short(self.arg), _short(r), self.call, self.ret)

    def to_json(self):
        return json.dumps({"id": self.id, "key": self.key, "kind": self.kind,
                           "arg": self.arg, "result": self.result, "call": self.call,
                           "ret": None if self.ret == INF else self.ret,
                           "client": self.client, "note": self.note})

    @staticmethod
    def from_json(line):
        d = json.loads(line)
        res = d["result"]
        return Op(d["key"], d["kind"], _tup(d["arg"]), _tup(res), d["call"], d["ret"],
                  d.get("client"), d.get("note"), d.get("id"))


def _tup(x):
    return tuple(x) if isinstance(x, list) else x


def _short(x):
    s = repr(x)
    return s if len(s) < 60 else s[:57] + "..."


def step(state, op):
    """The register model: the state after @op in @state, or NOSTEP."""
    k, r = op.kind, op.result
    if k == "create":
        if r is None or r == "ok":
            return (0, op.arg) if state is None else NOSTEP
        if r == "exists":
            return state if state is not None else NOSTEP
    elif k == "write":
        if r is None:
            return NOSTEP if state is None else (state[0] + 1, op.arg)
        if r == "nonode":
            return state if state is None else NOSTEP
        if r[0] == "ok":
            return (r[1], op.arg) if state is not None and state[0] + 1 == r[1] else NOSTEP
    elif k == "cas":
        ev, data = op.arg
        if r is None:
            return (ev + 1, data) if state is not None and state[0] == ev else NOSTEP
        if r == "nonode":
            return state if state is None else NOSTEP
        if r == "badversion":
            return state if state is not None and state[0] != ev else NOSTEP
        if r[0] == "ok":
            return ((ev + 1, data) if state is not None and state[0] == ev and r[1] == ev + 1
                    else NOSTEP)
    elif k == "read":
        if r == "nonode":
            return state if state is None else NOSTEP
        if r[0] == "ok":
            return state if state is not None and state == (r[2], r[1]) else NOSTEP
    raise ValueError("bad op %r" % (op,))


class Verdict:
    def __init__(self, key, status, ops, steps, seconds, detail=""):
        self.key, self.status, self.ops = key, status, ops
        self.steps, self.seconds, self.detail = steps, seconds, detail

    def __repr__(self):
        return "%s: %s (%d ops, %d steps, %.2fs)%s" % (
            self.key, self.status, self.ops, self.steps, self.seconds,
            ("\n" + self.detail) if self.detail else "")


def check_key(key, ops, deadline, init=None):
    """Wing-Gong search over one key's ops; returns a Verdict."""
    t0 = time.monotonic()
    ops = [o for o in ops if not (o.kind == "read" and o.result is None)]
    n = len(ops)
    # nodes 0..n-1 are invocations, n..2n-1 completions; HEAD is the sentinel
    head = 2 * n
    events = sorted([(o.call, 0, i) for i, o in enumerate(ops)] +
                    [(o.ret, 1, i) for i, o in enumerate(ops)])
    nxt = [-1] * (2 * n + 1)
    prv = [-1] * (2 * n + 1)
    last = head
    for _, is_ret, i in events:
        node = i + n if is_ret else i
        nxt[last] = node
        prv[node] = last
        last = node
    nxt[last] = -1

    def unlink(node):
        p, q = prv[node], nxt[node]
        nxt[p] = q
        if q >= 0:
            prv[q] = p

    def relink(node):
        p, q = prv[node], nxt[node]
        nxt[p] = node
        if q >= 0:
            prv[q] = node

    known_left = sum(1 for o in ops if not o.unknown)
    zob = random.Random(0x7a6b).getrandbits
    word = [zob(ZOBRIST_BITS) for _ in range(n)]
    state, mask = init, 0
    stack, memo = [], set()
    steps = 0
    best = (-1, None, None)  # deepest linearization: (depth, state, blocking op)
    cur = nxt[head]
    while True:
        if known_left == 0:
            return Verdict(key, OK, n, steps, time.monotonic() - t0)
        steps += 1
        if steps % DEADLINE_CHECK_EVERY == 0 and time.monotonic() > deadline:
            return Verdict(key, UNDECIDED, n, steps, time.monotonic() - t0,
                           "search budget exhausted at depth %d of %d" % (len(stack), n))
        if cur < n:  # an invocation: try to linearize its op here
            op = ops[cur]
            ns = step(state, op)
            if ns is not NOSTEP:
                m2 = mask ^ word[cur]
                if (m2, ns) not in memo:
                    memo.add((m2, ns))
                    stack.append((cur, state))
                    state, mask = ns, m2
                    unlink(cur)
                    unlink(cur + n)
                    if not op.unknown:
                        known_left -= 1
                    cur = nxt[head]
                    continue
            cur = nxt[cur]
            continue
        # a completion whose op is not linearized: that op cannot go later
        i = cur - n
        if len(stack) > best[0]:
            best = (len(stack), state, ops[i])
        if not stack:
            break
        j, state = stack.pop()
        mask ^= word[j]
        relink(j + n)
        relink(j)
        if not ops[j].unknown:
            known_left += 1
        cur = nxt[j]
    depth, st, blocker = best
    detail = ("longest linearizable prefix: %d of %d ops; then no order fits\n"
              "  state there: %r\n  op that cannot be placed: %r\n  ops overlapping it:\n%s" % (
                  depth, n, st, blocker, "\n".join(
                      "    %r" % o for o in ops
                      if o.call <= blocker.ret and o.ret >= blocker.call
                      and o is not blocker)[:4000]))
    return Verdict(key, FAIL, n, steps, time.monotonic() - t0, detail)


def check(ops, budget=60.0, init=None):
    """Check a whole history (ops of many keys). Returns (status, verdicts):
    FAIL if any key fails, UNDECIDED if none fails but one ran out of time."""
    deadline = time.monotonic() + budget
    by_key = {}
    for o in ops:
        by_key.setdefault(o.key, []).append(o)
    verdicts = []
    for key in sorted(by_key):
        verdicts.append(check_key(key, by_key[key], deadline, (init or {}).get(key)))
    statuses = {v.status for v in verdicts}
    status = FAIL if FAIL in statuses else UNDECIDED if UNDECIDED in statuses else OK
    return status, verdicts


# --- self-test: small hand-made histories with known answers ---

def _h(spec):
    """Ops from (kind, arg, result, call, ret) tuples on key "k"."""
    return [Op("k", k, a, r, c, t, client=n, id=n) for n, (k, a, r, c, t) in enumerate(spec)]


def self_test():
    cases = [
        ("sequential create, write, read", OK, [
            ("create", "a", "ok", 0, 1), ("write", "b", ("ok", 1), 2, 3),
            ("read", None, ("ok", "b", 1), 4, 5)]),
        ("concurrent writes, reads see either order", OK, [
            ("create", "a", "ok", 0, 1),
            ("write", "x", ("ok", 2), 2, 10), ("write", "y", ("ok", 1), 3, 9),
            ("read", None, ("ok", "y", 1), 4, 5), ("read", None, ("ok", "x", 2), 6, 11)]),
        ("stale read rejected", FAIL, [
            ("create", "a", "ok", 0, 1), ("write", "b", ("ok", 1), 2, 3),
            ("read", None, ("ok", "a", 0), 4, 5)]),
        ("lost write rejected (acked write, later read misses it)", FAIL, [
            ("create", "a", "ok", 0, 1), ("write", "b", ("ok", 1), 2, 3),
            ("write", "c", ("ok", 2), 4, 5), ("read", None, ("ok", "b", 1), 6, 7)]),
        ("read that goes back in time rejected", FAIL, [
            ("create", "a", "ok", 0, 1), ("write", "b", ("ok", 1), 2, 20),
            ("read", None, ("ok", "b", 1), 3, 4), ("read", None, ("ok", "a", 0), 5, 6)]),
        ("unknown write that happened accepted", OK, [
            ("create", "a", "ok", 0, 1), ("write", "b", None, 2, None),
            ("read", None, ("ok", "b", 1), 10, 11)]),
        ("unknown write that did not happen accepted", OK, [
            ("create", "a", "ok", 0, 1), ("write", "b", None, 2, None),
            ("read", None, ("ok", "a", 0), 10, 11)]),
        ("unknown write may take effect long after a timeout", OK, [
            ("create", "a", "ok", 0, 1), ("write", "b", None, 2, 3),
            ("read", None, ("ok", "a", 0), 10, 11), ("read", None, ("ok", "b", 1), 20, 21)]),
        ("unknown write cannot take effect before its invocation", FAIL, [
            ("create", "a", "ok", 0, 1), ("read", None, ("ok", "b", 1), 2, 3),
            ("write", "b", None, 4, None)]),
        ("unknown write cannot happen twice", FAIL, [
            ("create", "a", "ok", 0, 1), ("write", "b", None, 2, None),
            ("read", None, ("ok", "b", 1), 10, 11), ("write", "c", ("ok", 2), 12, 13),
            ("read", None, ("ok", "b", 3), 14, 15)]),
        ("cas: success, then stale version refused", OK, [
            ("create", "a", "ok", 0, 1), ("cas", (0, "b"), ("ok", 1), 2, 3),
            ("cas", (0, "c"), "badversion", 4, 5), ("read", None, ("ok", "b", 1), 6, 7)]),
        ("cas: two concurrent cas on one version both succeed: rejected", FAIL, [
            ("create", "a", "ok", 0, 1), ("cas", (0, "b"), ("ok", 1), 2, 5),
            ("cas", (0, "c"), ("ok", 1), 3, 6)]),
        ("cas: badversion when the version matched: rejected", FAIL, [
            ("create", "a", "ok", 0, 1), ("cas", (0, "b"), "badversion", 2, 3)]),
        ("unknown cas that happened accepted", OK, [
            ("create", "a", "ok", 0, 1), ("cas", (0, "b"), None, 2, None),
            ("cas", (1, "c"), ("ok", 2), 5, 6), ("read", None, ("ok", "c", 2), 7, 8)]),
        ("create-once: one winner, the other sees exists", OK, [
            ("create", "a", "exists", 0, 5), ("create", "b", "ok", 1, 4),
            ("read", None, ("ok", "b", 0), 6, 7)]),
        ("create-once: two winners rejected", FAIL, [
            ("create", "a", "ok", 0, 5), ("create", "b", "ok", 1, 4)]),
        ("write before create sees nonode", OK, [
            ("write", "x", "nonode", 0, 1), ("read", None, "nonode", 2, 3),
            ("create", "a", "ok", 4, 5), ("write", "x", ("ok", 1), 6, 7)]),
        ("nonode after an acknowledged create rejected", FAIL, [
            ("create", "a", "ok", 0, 1), ("read", None, "nonode", 2, 3)]),
        ("write reports a version it cannot have: rejected", FAIL, [
            ("create", "a", "ok", 0, 1), ("write", "b", ("ok", 5), 2, 3)]),
    ]
    failed = 0
    for name, want, spec in cases:
        status, verdicts = check(_h(spec), budget=5.0)
        good = status == want
        failed += not good
        print("%s %s: %s" % ("PASS" if good else "FAIL", name, status))
        if not good:
            for v in verdicts:
                print("  %r" % v)
    # the per-key split: a bad key fails the history, good keys still pass
    ops = _h([("create", "a", "ok", 0, 1), ("read", None, "nonode", 2, 3)])
    ops += [Op("j", "create", "z", "ok", 0, 1, id=9)]
    status, verdicts = check(ops, budget=5.0)
    good = status == FAIL and [v.status for v in verdicts] == [OK, FAIL]
    failed += not good
    print("%s per-key partition: %s" % ("PASS" if good else "FAIL", [v.status for v in verdicts]))
    # bounded: a search that cannot end in its budget answers undecided
    n = 22  # many concurrent unknown writes and no read fixing their order
    ops = [Op("k", "create", "a", "ok", 0, 1, id=0)]
    ops += [Op("k", "write", "w%d" % i, None, 2 + i, None, id=1 + i) for i in range(n)]
    ops += [Op("k", "read", None, ("ok", "nope", 1000), 100, 101, id=99)]
    t0 = time.monotonic()
    status, _ = check(ops, budget=0.5)
    took = time.monotonic() - t0
    good = status == UNDECIDED and took < 5.0
    failed += not good
    print("%s bounded search answers undecided: %s in %.2fs" % ("PASS" if good else "FAIL",
                                                                status, took))
    # a larger random history produced by a sequential register is accepted
    rnd = random.Random(7)
    ops, st, t = [], None, 0
    for i in range(400):
        kind = rnd.choice(["create", "write", "cas", "read"])
        arg = "v%d" % i
        if kind == "create":
            res = "ok" if st is None else "exists"
            st = (0, arg) if st is None else st
        elif kind == "write":
            res = "nonode" if st is None else ("ok", st[0] + 1)
            st = None if st is None else (st[0] + 1, arg)
        elif kind == "cas":
            ev = rnd.choice([0, st[0] if st else 0, (st[0] - 1) if st else 0])
            arg = (ev, arg)
            if st is None:
                res = "nonode"
            elif st[0] == ev:
                res, st = ("ok", ev + 1), (ev + 1, arg[1])
            else:
                res = "badversion"
        else:
            arg, res = None, ("nonode" if st is None else ("ok", st[1], st[0]))
        # each op's interval overlaps its neighbours but contains its own point
        ops.append(Op("k", kind, arg, res, t - rnd.randint(0, 3), t + rnd.randint(0, 3), id=i))
        t += 2
    t0 = time.monotonic()
    status, verdicts = check(ops, budget=20.0)
    good = status == OK
    failed += not good
    print("%s 400-op overlapping sequential history accepted: %s in %.2fs" % (
        "PASS" if good else "FAIL", status, time.monotonic() - t0))
    print("%d passed, %d failed" % (len(cases) + 4 - failed, failed))
    return 1 if failed else 0


def main(argv):
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    if len(argv) < 2:
        print(__doc__)
        return 2
    budget = 60.0
    if "--budget" in argv:
        budget = float(argv[argv.index("--budget") + 1])
    with open(argv[1]) as f:
        ops = [Op.from_json(line) for line in f if line.strip()]
    status, verdicts = check(ops, budget)
    for v in verdicts:
        print(v)
    print(status)
    return 0 if status == OK else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
