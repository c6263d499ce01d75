"""What the black-box Python tests share: finding the binaries under test
(named by environment variables that meson sets, like MUTUAL_CLI) and
making a group's stores with the `mutual` CLI."""
import os
import subprocess
import unittest

TIMEOUT = 120  # seconds: a hang guard for each child process, not a timing assertion


def binary_path(variable, example):
    """The absolute path of the binary named by $`variable`, or a
    RuntimeError that says how to set it (`example`: where meson builds it,
    like "build/cli/mutual")."""
    path = os.environ.get(variable)
    if not path:
        raise RuntimeError(
            "%s is not set: set it to the path of the built binary, e.g. %s=%s" % (variable, variable, example))
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError("%s=%r is not an executable file (build it with ninja -C build)" % (variable, path))
    return path


def built_with_test_hooks():
    """Whether the binaries under test were built with -Dtest_hooks=true:
    meson says so in $MUTUAL_TEST_HOOKS ("1" or "0"). Unset (a test run by
    hand) counts as a shipped build, whose binaries ignore the hooks."""
    return os.environ.get("MUTUAL_TEST_HOOKS") == "1"


def sanitized_run():
    """Whether the binaries under test run under ASan and UBSan: meson says
    so in $MUTUAL_TEST_SANITIZED ("1"). A test whose point there is memory
    repeats a long loop fewer times in that build (the same C paths, each
    several times slower); the other builds check the full figure."""
    return os.environ.get("MUTUAL_TEST_SANITIZED") == "1"


def needs_test_hooks(variable):
    """Skip a test (or a class) that switches a test-only hook on through
    $`variable`, unless the binaries were built with -Dtest_hooks=true: the
    shipped build never reads it."""
    return unittest.skipUnless(
        built_with_test_hooks(), "needs a -Dtest_hooks=true build: $%s is compiled out of this one "
        "(set MUTUAL_TEST_HOOKS=1 to run it against such a build by hand)" % variable)


def cli_path():
    """The absolute path of the `mutual` binary named by $MUTUAL_CLI, or a
    RuntimeError that says how to set it."""
    return binary_path("MUTUAL_CLI", "build/cli/mutual")


def mutual(store, *args):
    """Run `mutual --store STORE ARGS...` without any MUTUAL_* setting of
    ours; its stdout, or a RuntimeError with its message if it fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUAL_")}
    r = subprocess.run([cli_path(), "--store", store] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError("mutual %s exited %d: %s" % (" ".join(args), r.returncode,
                                                       r.stderr.decode("utf-8", "replace")))
    return r.stdout.decode("utf-8", "replace")


def new_group(store, group, device):
    """Make the folder `store` the first device, named `device`, of a new
    group called `group`; returns `store`."""
    mutual(store, "init", "--group", group, "--device", device)
    return store


def join_group(store, inviter, device):
    """Make the folder `store` a new device, named `device`, of the group of
    the store `inviter`: an invite written beside `store` (it is a secret, so
    it is deleted once used), then `mutual join`. Returns `store`."""
    invite = store + ".invite"
    mutual(inviter, "invite", "--out", invite)
    try:
        mutual(store, "join", invite, "--device", device)
    finally:
        os.unlink(invite)
    return store
