#!/usr/bin/env python3
"""Every public function that returns a status lists its errors, and the
list is true to the code:

- each `MUTUAL_EXTERN int mutual_*` in mutual.h has a doc comment (the one
  just above it) with an `Errors:` line;
- every MUTUAL_E* code that line names is one of enum mutual_status;
- every status code the function's own body in libmutual/src returns or
  fails with is in its list, directly or through the named sets ("the
  store's read errors", "the store's write errors") or a function it says
  it fails "as".

Codes that reach a function through its callees are not followed: the
named sets cover the store's, and the header says which others apply."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
header = (root / "libmutual/include/mutual.h").read_text(encoding="utf-8")
sources = "\n".join(p.read_text(encoding="utf-8")
                    for p in sorted((root / "libmutual/src").glob("*.c")))

enum = re.search(r"enum mutual_status \{(.*?)\};", header, re.S)
codes = set(re.findall(r"\b(MUTUAL_E[A-Z]+|MUTUAL_ERROR)\b\s*=", enum.group(1)))
READ = {"MUTUAL_EBUSY", "MUTUAL_ECORRUPT", "MUTUAL_ERROR"}
SETS = {"the store's read errors": READ,
        "the store's write errors": READ | {"MUTUAL_EREADONLY"}}

problems = []
if len(codes) < 10:
    problems.append(f"found only {len(codes)} codes in enum mutual_status")

# Each public declaration with the comment that ends just before it.
decl = re.compile(r"(/\*\*?(?:(?!\*/).)*\*/)\s*MUTUAL_EXTERN\s+int\s+(mutual_\w+)\s*\(", re.S)
documented = {name: comment for comment, name in decl.findall(header)}
declared = re.findall(r"MUTUAL_EXTERN\s+int\s+(mutual_\w+)\s*\(", header)
if len(declared) < 30:
    problems.append(f"found only {len(declared)} int-returning public functions")


def listed(name, seen=()):
    """The codes `name`'s doc comment lists, with the sets it names."""
    text = documented.get(name, "")
    at = text.find("Errors:")
    if at < 0:
        return None
    errors = re.sub(r"\s*\*\s*", " ", text[at:])
    out = set(re.findall(r"\b(MUTUAL_E[A-Z]+|MUTUAL_ERROR)\b", errors))
    for phrase, members in SETS.items():
        if phrase in errors:
            out |= members
    for other in re.findall(r"\bas (mutual_\w+)\(\)", errors):
        if other != name and other not in seen:
            out |= listed(other, seen + (name,)) or set()
    return out


def body(name):
    """The text of `name`'s definition in libmutual/src, or None."""
    m = re.search(r"^int " + name + r"\([^)]*\)\s*\{(.*?)^\}", sources, re.S | re.M)
    return m.group(1) if m else None


for name in declared:
    errors = listed(name)
    if errors is None:
        problems.append(f"{name}: no `Errors:` in its doc comment")
        continue
    comment = documented[name]
    for code in set(re.findall(r"\b(MUTUAL_E[A-Z]+)\b", comment)) - codes:
        if not code.startswith("MUTUAL_EVENT_") and code != "MUTUAL_ENVELOPE":
            problems.append(f"{name}: lists {code}, which is not a status code")
    text = body(name)
    if text is None:
        problems.append(f"{name}: no definition found in libmutual/src")
        continue
    # A code compared against (rc == MUTUAL_ENOTFOUND) is handled, not returned.
    returned = re.findall(r"(?<![=!]=\s)(?<![=!]=)\b(MUTUAL_E[A-Z]+|MUTUAL_ERROR)\b", text)
    for code in sorted(set(returned) & codes):
        if code not in errors:
            problems.append(f"{name}: returns {code} but its `Errors:` does not list it")

for p in problems:
    print(p, file=sys.stderr)
print(f"{len(declared)} functions, {len(declared) - len(problems)} with true error lists"
      if not problems else f"{len(problems)} problems")
sys.exit(1 if problems else 0)
