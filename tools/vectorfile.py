"""The command line both vector generators share (tools/make_vectors.py,
tools/make_envelope_vectors.py): write the file, print it, or check that the
committed file is exactly what the generator makes."""

import os
import sys


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
