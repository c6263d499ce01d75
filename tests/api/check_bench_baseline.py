#!/usr/bin/env python3
"""The benchmarks' raw-SQLite baseline keeps a fixed column set
(bench/bench_util.c, baseline_schema); this fails when a store made by
this build no longer holds every one of those columns, with the same
declared type and NOT NULL, in its events table, and the same index.

Usage: check_bench_baseline.py SOURCE_ROOT MUTUAL_CLI"""
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

root, cli = sys.argv[1], sys.argv[2]
source = open(os.path.join(root, "bench", "bench_util.c"), encoding="utf-8").read()
m = re.search(r"static const char baseline_schema\[\] =(.*?);\n", source, re.S)
if not m:
    sys.exit("check_bench_baseline: no baseline_schema in bench/bench_util.c")
sql = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))


def columns(db):
    return {row[1]: (row[2], row[3]) for row in db.execute("PRAGMA table_info(events)")}


def index(db, name):
    return [row[2] for row in db.execute(f"PRAGMA index_info({name})")]


baseline = sqlite3.connect(":memory:")
baseline.executescript(sql)
want = columns(baseline)
want_index = index(baseline, "events_order")

problems = []
if len(want) < 10:
    problems.append(f"the baseline has only {len(want)} columns")
with tempfile.TemporaryDirectory(prefix="mutual-bench-baseline-") as tmp:
    env = dict(os.environ, HOME=tmp)
    store = os.path.join(tmp, "store")
    subprocess.run([cli, "--store", store, "init", "--group", "Baseline", "--device", "laptop"],
                   check=True, capture_output=True, env=env)
    db = sqlite3.connect(f"file:{os.path.join(store, 'mutual.db')}?mode=ro", uri=True)
    have = columns(db)
    have_index = index(db, "events_order")
    db.close()
for name, (decl, notnull) in want.items():
    if name not in have:
        problems.append(f"the store's events table has no column {name}")
    elif have[name] != (decl, notnull):
        problems.append(f"events.{name}: {have[name]} in the store, {(decl, notnull)} in the baseline")
if have_index != want_index:
    problems.append(f"events_order indexes {have_index} in the store, {want_index} in the baseline")
for p in problems:
    print(p, file=sys.stderr)
if problems:
    print("the store left the benchmarks' fixed baseline behind: change the baseline on purpose "
          "and say so in bench/README.md", file=sys.stderr)
print(f"{len(want)} baseline columns; {len(problems)} problems")
sys.exit(1 if problems else 0)
