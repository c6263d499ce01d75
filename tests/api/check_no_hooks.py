#!/usr/bin/env python3
"""The shipped build holds no test hook: none of the binaries given names
a hook's environment variable, so none can read it, nor the fault
simulator's functions (fault.h), so no allocation can be made to fail
(-Dtest_hooks=true is what compiles them in). The behaviour is checked
too: the */hooks-compiled-out tests run with every variable set.

Usage: check_no_hooks.py BINARY..."""
import sys

HOOKS = (b"MUTUAL_TEST_LAST_ARRIVAL_WINS", b"MUTUAL_FAULT_KILL_AT", b"MUTUAL_TEST_IMPORT_SEGMENTS_MAX",
         b"MUTUAL_TEST_IMPORT_BYTES_MAX",
         b"MUTUAL_APPS_NOW_MS", b"MUTUAL_TEST_BREAK_INVARIANT", b"MUTUAL_TEST_ROLES_NO_ROUNDS",
         b"MUTUAL_TEST_REMOVAL_NO_REBUILD",
         b"MUTUAL_TEST_ROTATION_SEAL_TO_REMOVED",
         b"mutual__test_fault_", b"mutual__fault_alloc_")

problems = 0
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    for name in HOOKS:
        if name in data:
            print(f"{path} names {name.decode()}: a test hook in a shipped build", file=sys.stderr)
            problems += 1
print(f"{len(sys.argv) - 1} binaries, {problems} test hooks found")
sys.exit(1 if problems or len(sys.argv) < 2 else 0)
