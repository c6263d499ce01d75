"""What the black-box Python tests share: finding the `mutual` binary under
test (the MUTUAL_CLI environment variable, set by meson)."""
import os


def cli_path():
    """The absolute path of the `mutual` binary named by $MUTUAL_CLI, or a
    RuntimeError that says how to set it."""
    path = os.environ.get("MUTUAL_CLI")
    if not path:
        raise RuntimeError(
            "MUTUAL_CLI is not set: set it to the path of the built `mutual` binary, e.g. "
            "MUTUAL_CLI=build/cli/mutual python3 -m unittest -v tests/test_cli.py")
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError("MUTUAL_CLI=%r is not an executable file (build it with ninja -C build)" % path)
    return path
