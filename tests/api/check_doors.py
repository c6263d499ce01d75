#!/usr/bin/env python3
"""Each dependency has one door, and each security rule one function
(docs/architecture.md, "Modules"): fails when a file outside a door
includes the dependency's header, when a private header names a
dependency's type or code, when the signature primitive is called
anywhere but the chain rule (event.c's mutual__chain_next), or when
libgit2's private file names are spelled outside git.c.

The tests and benchmarks that measure or tamper with SQLite or zlib
directly are exempt by name.

Usage: check_doors.py SOURCE_ROOT"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
SCANNED = ("libmutual/src", "libmutual/include", "cli", "examples", "bindings")
EXEMPT = {"tests/library/test_store.c", "bench/bench_sync.c", "bench/bench_util.h", "bench/bench_append.c",
          "bench/bench_rotation.c"}

# header -> the files allowed to include it
DOORS = {
    "sqlite3.h": lambda p: re.fullmatch(r"libmutual/src/db(_[a-z]+)?\.c", p) or p == "libmutual/src/db_sqlite.h",
    "db_sqlite.h": lambda p: re.fullmatch(r"libmutual/src/db(_[a-z]+)?\.c", p),
    "git2.h": lambda p: p == "libmutual/src/git.c",
    "sodium.h": lambda p: p == "libmutual/src/crypto.c",
    "zlib.h": lambda p: p == "libmutual/src/segment.c",
}
include_re = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def sources(where):
    for top in where:
        for path in sorted((root / top).rglob("*")):
            if path.suffix in (".c", ".h", ".cc") and path.is_file():
                yield path.relative_to(root).as_posix(), path.read_text(errors="replace")


def body_of(text, function):
    """The text of `function`'s definition in `text` (to its closing brace)."""
    m = re.search(r"^[a-z_ ]*\b" + function + r"\(.*?\n\{\n(.*?)^\}", text, re.M | re.S)
    return m.group(1) if m else ""


problems = []
files = 0
for rel, text in sources(SCANNED + ("tests", "bench")):
    files += 1
    if rel in EXEMPT:
        continue
    for header in include_re.findall(text):
        name = header.split("/")[0] if header.startswith("git2") else header
        door = DOORS.get(name)
        if door and not door(rel):
            problems.append(f"{rel} includes {header}, which only its door may")
    if not rel.startswith("libmutual/src/"):
        continue
    calls = len(re.findall(r"\bmutual__sign_verify\s*\(", text))
    if rel == "libmutual/src/event.c":
        inside = len(re.findall(r"\bmutual__sign_verify\s*\(", body_of(text, "mutual__chain_next")))
        if calls != 1 or inside != 1:
            problems.append(f"{rel} calls mutual__sign_verify {calls} times, {inside} in mutual__chain_next "
                            "(it must be once, there)")
    elif rel not in ("libmutual/src/crypto.c", "libmutual/src/crypto.h") and calls:
        problems.append(f"{rel} calls mutual__sign_verify: judge a chain through mutual__chain_next")
    if rel.endswith(".h") and rel != "libmutual/src/db_sqlite.h":
        code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        for m in re.finditer(r"\b(sqlite3\w*|SQLITE_\w+|git_\w+|GIT_\w+|crypto_\w+|z_stream\w*)\b", code):
            problems.append(f"{rel} names {m.group(1)}: no dependency's type or code outside its door")
    if rel != "libmutual/src/git.c" and re.search(r"pack_git2_|tmp_object_git2_", text):
        problems.append(f"{rel} names libgit2's private files: ask git.h (mutual__git_is_temp_file)")

for p in problems:
    print(p, file=sys.stderr)
print(f"{files} files, {len(problems)} problems")
sys.exit(1 if problems or files == 0 else 0)
