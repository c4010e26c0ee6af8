#!/usr/bin/python3
"""Print, for every failed test in the given meson builds, its name and the
lines of its output that say why (FAIL lines, assertions, tracebacks' last
lines): CI shows only the tail of a run, and meson's error logs come early."""
import json
import re
import sys

WHY = re.compile(r"^(FAIL|AssertionError|.*Error:|.*Assertion|.*no leader within|ERROR|.*runtime error)")

for build in sys.argv[1:]:
    try:
        lines = open(build + "/meson-logs/testlog.json").read().splitlines()
    except OSError:
        continue
    for line in lines:
        t = json.loads(line)
        if t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
            continue
        print("== %s: %s %s" % (build, t.get("name"), t.get("result")))
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        why = [ln for ln in out.splitlines() if WHY.match(ln)]
        for ln in (why or out.splitlines())[-25:]:
            print("   " + ln[:300])
