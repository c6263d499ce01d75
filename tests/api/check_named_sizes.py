#!/usr/bin/env python3
"""Report lines of libmutual/src/*.[ch] with a bare size literal.

A bare literal is the integer token 32 or 64 (also 65 and 128, which in this
code are derived sizes: hex of a key plus NUL, hex of a signature) outside
comments, string literals (adjacent SQL strings included) and character
constants.  Sizes must be named (MUTUAL_KEY_SIZE, MUTUAL_HASH_SIZE, the
private names in common.h).  A literal that is not a size (a shift, a mask)
is accepted when its line carries the comment `/* not a size: WHY */`.
A `#define NAME <constant>` line (a literal, or literals joined by *, +,
-, <<, as in `64ull * 1024 * 1024`) is the one place a size is named, so
it is accepted too.

Usage: check_named_sizes.py DIR   (exit 1 and file:line list if any found)
"""
import re
import sys
from pathlib import Path

BARE = re.compile(r'(?<![\w.])(32|64|65|128)(?:[uUlL]*)(?![\w.])')
MARK = 'not a size:'
DEFINE = re.compile(r'^\s*#\s*define\s+\w+\s+[\d\suUlL()*+<-]+$')


def strip(text):
    """Blank comments, strings and char constants, keeping line breaks.
    Returns (code, marked_lines)."""
    out = []
    marked = set()
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            body = text[i:j]
            if MARK in body:
                marked.add(line)
            out.append(re.sub(r'[^\n]', ' ', body))
            line += body.count('\n')
            i = j
        elif text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            if MARK in text[i:j]:
                marked.add(line)
            out.append(' ' * (j - i))
            i = j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c:
                if text[j] == '\\':
                    j += 1
                j += 1
            j = min(j + 1, n)
            body = text[i:j]
            out.append(re.sub(r'[^\n]', ' ', body))
            line += body.count('\n')
            i = j
        else:
            if c == '\n':
                line += 1
            out.append(c)
            i += 1
    return ''.join(out), marked


def scan(path):
    code, marked = strip(path.read_text(encoding='utf-8'))
    hits = []
    for no, text in enumerate(code.split('\n'), 1):
        if no in marked:
            continue
        if BARE.search(text) and not DEFINE.match(text):
            hits.append(no)
    return hits


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(sys.argv[1])
    files = sorted(list(root.glob('*.c')) + list(root.glob('*.h')))
    if not files:
        print(f'no sources under {root}', file=sys.stderr)
        return 2
    total = 0
    src = {}
    for f in files:
        lines = None
        for no in scan(f):
            if lines is None:
                lines = f.read_text(encoding='utf-8').split('\n')
            print(f'{f.name}:{no}: {lines[no - 1].strip()}')
            total += 1
    print(f'{total} line(s) with a bare size literal (32, 64, 65, 128) in {len(files)} files')
    return 1 if total else 0


if __name__ == '__main__':
    sys.exit(main())
