#!/usr/bin/env python3
"""Sum meson's test results (meson-logs/testlog.json of each build: CI
passes the test build's, the sanitizer build's and the shipped build's) into
the one line CI reads: 'N passed, N failed', after one line per build on
stderr. A skipped test counts as failed: every test must run for real. (A
Python test case that needs a test hook skips itself on the shipped build;
its test still passes there, and the case runs in the test build.)"""
import json
import sys

passed = failed = 0
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        print(f"results: cannot read {path}: {e}", file=sys.stderr)
        failed += 1
        continue
    here_passed = here_failed = 0
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        if t.get("result") == "OK" or t.get("result") == "EXPECTEDFAIL":
            here_passed += 1
        else:
            here_failed += 1
            print(f"results: {t.get('name')}: {t.get('result')}", file=sys.stderr)
    print(f"results: {path}: {here_passed} passed, {here_failed} failed", file=sys.stderr)
    passed += here_passed
    failed += here_failed
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
