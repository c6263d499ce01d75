#!/usr/bin/env python3
"""Sum meson's test results (meson-logs/testlog.json of each build) into the
one line CI reads: 'N passed, N failed'. A skipped test counts as failed:
every test must run for real."""
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
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        if t.get("result") == "OK" or t.get("result") == "EXPECTEDFAIL":
            passed += 1
        else:
            failed += 1
            print(f"results: {t.get('name')}: {t.get('result')}", file=sys.stderr)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
