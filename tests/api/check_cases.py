#!/usr/bin/env python3
"""Each C test program's cases are written twice: in its cases[] table
(tests/PART/test_*.c) and in tests/PART/meson.build, which registers each case as a
test. This check fails when the two differ, so a case added to one and
forgotten in the other is caught instead of never running.

Usage: check_cases.py INTRO_TESTS_JSON [PROGRAM:CASE...]

INTRO_TESTS_JSON is meson's own list of this build's tests
(meson-info/intro-tests.json, written at every configure). A test whose
command is a program and one case name registers that case; for each such
program, `PROGRAM --list` (tests/helpers/check.c) names the cases this build
compiled in. Both sets must be equal. A PROGRAM:CASE argument is a case
tests/PART/meson.build leaves out of this build on purpose (it says why); exit
77 from --list (test_invariants with NDEBUG) leaves that program out."""
import json
import os
import re
import subprocess
import sys

CASE = re.compile(r"^[a-z][a-z0-9_]*$")

if len(sys.argv) < 2:
    sys.exit(__doc__)
with open(sys.argv[1], encoding="utf-8") as f:
    tests = json.load(f)
left_out = {tuple(a.split(":", 1)) for a in sys.argv[2:]}

registered = {}
for t in tests:
    cmd = t["cmd"]
    if len(cmd) == 2 and CASE.match(cmd[1]) and os.access(cmd[0], os.X_OK) \
            and not cmd[0].endswith(("python3", "python")):
        registered.setdefault(cmd[0], {})[cmd[1]] = t["name"]

problems = 0
checked = 0
for prog, cases in sorted(registered.items()):
    name = os.path.basename(prog)
    r = subprocess.run([prog, "--list"], capture_output=True, text=True, timeout=60)
    if r.returncode == 77:
        print(f"{name}: skipped (--list exits 77)")
        continue
    if r.returncode != 0:
        print(f"{name}: --list failed with status {r.returncode}:\n{r.stderr}")
        problems += 1
        continue
    listed = set(r.stdout.split())
    for case in sorted(set(cases) - listed):
        print(f"{name}: its meson.build (tests/PART) registers '{case}' ({cases[case]}), "
              f"but the program has no such case in this build")
        problems += 1
    for case in sorted(listed - set(cases)):
        if (name, case) in left_out:
            continue
        print(f"{name}: case '{case}' is in the program's cases[] but its meson.build (tests/PART) "
              f"never registers it: add it to the program's list there")
        problems += 1
    checked += 1
    print(f"{name}: {len(cases)} cases registered, {len(listed)} listed")

print(f"{checked} programs checked, {problems} differences")
sys.exit(1 if problems or not checked else 0)
