#!/usr/bin/env python3
"""The shared library exports exactly the functions mutual.h marks
MUTUAL_EXTERN: nothing private (mutual__*), no dependency's symbols, and
nothing declared that is missing."""
import re
import subprocess
import sys

lib, header = sys.argv[1], sys.argv[2]
out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                     capture_output=True, text=True).stdout
exported = {line.split()[-1] for line in out.splitlines() if line.split()[1:2] == ["T"]}
text = open(header, encoding="utf-8").read()
declared = set(re.findall(r"MUTUAL_EXTERN[^;(]*?\b(mutual_\w+)\s*\(", text, re.S))

problems = []
if not declared:
    problems.append("found no MUTUAL_EXTERN declarations in the header")
for name in sorted(exported - declared):
    problems.append(f"exported but not in mutual.h: {name}")
for name in sorted(declared - exported):
    problems.append(f"declared in mutual.h but not exported: {name}")
for p in problems:
    print(p, file=sys.stderr)
print(f"{len(exported)} exported, {len(declared)} declared")
sys.exit(1 if problems else 0)
