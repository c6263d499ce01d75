"""What the vector generators share (tools/make_vectors.py,
tools/make_envelope_vectors.py, tools/make_key_vectors.py): the text of a
file of "vector: N" blocks, and the command line: write the file, print it,
or check that the committed file is exactly what the generator makes."""

import os
import sys


def render_blocks(header_comment, fmt, vectors):
    """The text of a file of "vector: N" blocks: `header_comment`, a line
    "format: FMT", then each (comment, [(key, value)]) of `vectors` as its
    comment lines and its block. "key:" rather than "key: " when the value
    is empty: no trailing spaces."""
    lines = [header_comment.rstrip("\n"), "", "format: " + fmt]
    for n, (comment, fields) in enumerate(vectors, 1):
        lines += [""] + ["# " + line for line in comment.split("\n")]
        lines += ["vector: %d" % n] + ["%s: %s" % kv for kv in fields]
    return "".join(line.rstrip(" ") + "\n" for line in lines)


def main(argv, render, path, tool):
    """`render()` gives the file's text; `path` is where it is committed;
    `tool` names the generator in messages. Returns the exit status."""
    text = render().encode("utf-8")
    if argv[1:] == ["--stdout"]:
        sys.stdout.buffer.write(text)
        return 0
    if argv[1:] == ["--check"]:
        with open(path, "rb") as f:
            if f.read() != text:
                sys.stderr.write("%s differs from what %s generates\n" % (path, tool))
                return 1
        return 0
    if argv[1:]:
        sys.stderr.write("usage: %s [--stdout | --check]\n" % argv[0])
        return 2
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(text)
    print("wrote " + os.path.relpath(path))
    return 0
