"""Black-box tests of `mutual sync`: scenarios between stores through a
folder (a stick), a bundle file and a file:// git URL.

Run from the source tree with the path of the built binary in MUTUAL_CLI:

    MUTUAL_CLI=build/cli/mutual python3 -m unittest -v tests/sync/test_sync.py

Only the Python standard library, the `mutual` binary and stock `git` are
used. Every test works in its own temporary folder; stores are read back
through the CLI (`log --json`, `verify`), sticks through stock git. The
damage tests rewrite a stick with git plumbing, on purpose. The read-only
test needs root, for a bind mount.
"""

import json
import os
import sys
import pty
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import tty
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402  (the shared helpers, tests/helpers)

CLI = None  # absolute path of the binary, set by setUpModule()
GIT = None

TIMEOUT = 120  # seconds: a hang guard for each child process, not a timing assertion

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNVERIFIED, EXIT_BUSY, EXIT_REFUSED = 0, 1, 2, 3, 4, 5

HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
REFUSAL_RE = re.compile(r"^mutual: refused device ([0-9a-f]{16}): (.+)$")
DEVICE_REF = "refs/mutual/v1/devices/"
AUTHOR = "mutual <mutual@invalid>"

# Strings that must never appear in plain text on a medium.
SECRET_PAYLOAD = "Ximena-Rent-Support-4471"
SECRET_TYPE = "rentfund.payment.sent"
SECRET_GROUP = "Eastside Rent Support Qzxw"
SECRET_DEVICES = ("laptop-of-Quillon", "office-pc-Brunhild")

JSON_KEYS = {"ok", "events_sent", "events_received", "segments_sent", "segments_received",
             "devices_updated", "refused", "newer_format", "objects_sent", "objects_received",
             "segments_opened", "segments_without_key", "own_events_waiting", "safe_to_remove", "error"}


def setUpModule():
    global CLI, GIT
    CLI = clitest.cli_path()
    GIT = shutil.which("git")
    if not GIT:
        raise RuntimeError("these tests need stock `git` on PATH")


def child_env(**extra):
    """The environment for children: ours without MUTUAL_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUAL_")}
    env.update(extra)
    return env


def git_env(home):
    env = child_env(HOME=home, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C", LANG="C",
                    GIT_AUTHOR_NAME="mutual", GIT_AUTHOR_EMAIL="mutual@invalid",
                    GIT_AUTHOR_DATE="@0 +0000", GIT_COMMITTER_NAME="mutual",
                    GIT_COMMITTER_EMAIL="mutual@invalid", GIT_COMMITTER_DATE="@0 +0000")
    for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
              "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG_GLOBAL"):
        env.pop(k, None)
    return env


def run(*args, store=None, env=None, stdin=None):
    """Run the CLI with argument list `args` (and --store STORE first if
    given). Returns a CompletedProcess whose stdout and stderr are str."""
    argv = [CLI]
    if store is not None:
        argv += ["--store", store]
    argv += list(args)
    r = subprocess.run(argv, input=stdin if stdin is not None else b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env if env is not None else child_env(), timeout=TIMEOUT)
    return subprocess.CompletedProcess(
        r.args, r.returncode,
        r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"))


def describe(r):
    out, err = r.stdout, r.stderr
    if isinstance(out, bytes):
        out = out.decode("utf-8", "replace")
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    return "command %r exited %d\nstdout: %r\nstderr: %r" % (
        [os.path.basename(str(a)) if i == 0 else a for i, a in enumerate(r.args)],
        r.returncode, out[:3000], err[:3000])


class SyncTestCase(unittest.TestCase):
    """Helpers shared by the tests."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="mutual-sync-test-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.home = os.path.join(self.tmp, ".home")
        os.mkdir(self.home)
        self.genv = git_env(self.home)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def mkdir(self, *parts):
        p = self.path(*parts)
        os.makedirs(p)
        return p

    # -- assertions

    def assertOk(self, r):
        self.assertEqual(r.returncode, 0, describe(r))
        return r

    def assertNotKilled(self, r):
        self.assertGreaterEqual(r.returncode, 0, "killed by signal %d\n%s" % (-r.returncode, describe(r)))

    # -- git

    def git(self, *args, cwd=None, input=None, check=True):
        r = subprocess.run([GIT] + list(args), cwd=cwd, input=input if input is not None else b"",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.genv, timeout=TIMEOUT)
        if check:
            self.assertEqual(r.returncode, 0, describe(r))
        return r

    def git_out(self, *args, cwd=None, input=None):
        return self.git(*args, cwd=cwd, input=input).stdout.decode("utf-8", "replace").strip()

    def refs(self, repo):
        """{refname: commit} of every ref under refs/ in `repo`."""
        out = self.git_out("for-each-ref", "--format=%(objectname) %(refname)", "refs/", cwd=repo)
        refs = {}
        for line in out.splitlines():
            oid, name = line.split(" ", 1)
            refs[name] = oid
        return refs

    def device_refs(self, repo):
        return {k: v for k, v in self.refs(repo).items() if k.startswith(DEVICE_REF)}

    def assertFsck(self, repo, strict=True):
        args = ["fsck", "--strict"] if strict else ["fsck"]
        r = self.git(*args, cwd=repo, check=False)
        self.assertEqual(r.returncode, 0, "git fsck failed on %s\n%s" % (repo, describe(r)))
        err = r.stderr.decode("utf-8", "replace") + r.stdout.decode("utf-8", "replace")
        for line in err.splitlines():
            low = line.lower()
            self.assertFalse(low.startswith("error") or low.startswith("fatal") or "missing" in low
                             or "broken" in low or "corrupt" in low,
                             "git fsck complained on %s: %r" % (repo, err))

    # -- CLI wrappers

    def init(self, name, group="Food pantry", device="laptop"):
        store = self.path(name)
        self.assertOk(run("init", "--group", group, "--device", device, store=store))
        return store

    def join(self, inviter, name, device):
        invite = self.path(name + ".invite")
        self.assertOk(run("invite", "--out", invite, store=inviter))
        store = self.path(name)
        self.assertOk(run("join", invite, "--device", device, store=store))
        os.unlink(invite)
        return store

    def group(self, n, group="Food pantry", names=None):
        """`n` stores of one group: the first made by init, the others by join."""
        names = names or ["laptop", "office", "volunteer", "phone", "tablet"][:n]
        stores = [self.init("s-" + names[0], group=group, device=names[0])]
        for name in names[1:n]:
            stores.append(self.join(stores[0], "s-" + name, name))
        return stores

    def append(self, store, type_="pantry.stock.in", payload=None, n=1):
        ids = []
        for i in range(n):
            p = payload if payload is not None else {"item": "rice", "i": i}
            r = self.assertOk(run("append", type_, json.dumps(p), store=store))
            ids.append(r.stdout.strip())
        return ids

    def append_many(self, store, n, tag="x"):
        """Append `n` events (one process each)."""
        for i in range(n):
            r = run("append", "pantry.bulk", '{"tag":"%s","i":%d}' % (tag, i), store=store)
            self.assertEqual(r.returncode, 0, describe(r))

    def log_raw(self, store):
        r = self.assertOk(run("log", "--json", store=store))
        self.assertTrue(r.stdout == "" or r.stdout.endswith("\n"), describe(r))
        return r.stdout

    def events(self, store, *filters):
        r = self.assertOk(run("log", "--json", *filters, store=store))
        return [json.loads(line) for line in r.stdout.splitlines()]

    def ids(self, store, device=None):
        """[(id, hash)] in the shared order; only `device`'s (64 hex) if given."""
        return [(e["id"], e["hash"]) for e in self.events(store) if device is None or e["device"] == device]

    def verify(self, store):
        self.assertOk(run("verify", store=store))

    def status(self, store):
        return json.loads(self.assertOk(run("status", "--json", store=store)).stdout)

    def device_id(self, store):
        return self.status(store)["device"]

    def group_id(self, store):
        return self.status(store)["group_id"]


    def stick_repo(self, stick, store):
        return os.path.join(stick, "mutual-%s.git" % self.group_id(store))

    def sync(self, store, target, status=EXIT_OK, env=None):
        """`mutual sync TARGET --json`, expecting exit `status`. Returns
        (figures, stderr)."""
        r = run("sync", target, "--json", store=store, env=env)
        self.assertEqual(r.returncode, status, describe(r))
        self.assertEqual(r.stdout.count("\n"), 1, describe(r))
        try:
            figures = json.loads(r.stdout)
        except ValueError as e:
            self.fail("sync --json did not print JSON (%s)\n%s" % (e, describe(r)))
        self.assertLessEqual(JSON_KEYS, set(figures), r.stdout)
        self.assertIs(figures["ok"], status == EXIT_OK, describe(r))
        if status == EXIT_OK:
            self.assertEqual(figures["error"], "", describe(r))
            self.assertEqual(figures["refused"], 0, describe(r))
            self.assertIs(figures["safe_to_remove"], True, describe(r))
            self.assertEqual(r.stderr, "", describe(r))
        if status == EXIT_REFUSED:
            self.assertGreater(figures["refused"], 0, describe(r))
            self.assertNotEqual(figures["error"], "", describe(r))
        return figures, r.stderr

    def refusals(self, stderr):
        """[(device 16 hex, reason)] from a refused sync's stderr; every line
        must be a refusal."""
        out = []
        for line in stderr.splitlines():
            m = REFUSAL_RE.match(line)
            self.assertTrue(m, "stderr line is not 'mutual: refused device <16 hex>: <reason>': %r\n%r"
                            % (line, stderr))
            self.assertNotRegex(m.group(2), r"\bseq\b(?!\s*\d)", "a refusal names a seq without its number")
            out.append((m.group(1), m.group(2)))
        self.assertTrue(out, "no refusal on stderr: %r" % stderr)
        return out

    def assertRefusedOnly(self, stderr, device, reason_re):
        """Every refusal names `device` (64 hex) with a reason matching `reason_re`."""
        got = self.refusals(stderr)
        for dev, reason in got:
            self.assertEqual(dev, device[:16], stderr)
            self.assertRegex(reason, reason_re, stderr)

    def sync_until_quiet(self, stores, target, max_rounds=4):
        """Round-robin sync of `stores` with `target` until a whole round moves
        nothing; fails if that takes more than `max_rounds` rounds."""
        for _ in range(max_rounds):
            moved = 0
            for s in stores:
                f, _ = self.sync(s, target)
                moved += f["events_sent"] + f["events_received"]
            if moved == 0:
                return
        self.fail("syncing %d stores with %s did not settle in %d rounds" % (len(stores), target, max_rounds))

    def assertAllEqual(self, stores):
        """Every store's `log --json` is identical, and every store verifies."""
        logs = [self.log_raw(s) for s in stores]
        for s, log in zip(stores[1:], logs[1:]):
            self.assertEqual(log.splitlines(), logs[0].splitlines(),
                             "%s and %s differ" % (os.path.basename(stores[0]), os.path.basename(s)))
        for s in stores:
            self.verify(s)
        return logs[0]

    def copy_store(self, src, dst):
        """A byte-for-byte copy, as `cp -a` makes it."""
        r = subprocess.run(["cp", "-a", src, dst], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, describe(r))
        return dst


# --------------------------------------------------------------------------
# 1. Convergence over folders


class TestConvergence(SyncTestCase):

    def test_two_stores_through_a_folder(self):
        a, b = self.group(2)
        a_ids = self.append(a, "pantry.stock.in", {"item": "rice", "qty": 40}, n=3)
        b_ids = self.append(b, "pantry.stock.out", {"item": "beans", "qty": 2}, n=2)
        stick = self.mkdir("stick")

        f, _ = self.sync(a, stick)
        self.assertEqual(f["events_sent"], 4)  # create + 3
        self.assertEqual(f["events_received"], 0)
        self.assertEqual(f["devices_updated"], 0)
        f, _ = self.sync(b, stick)
        self.assertEqual(f["events_received"], 4)
        self.assertEqual(f["events_sent"], 3)  # join + 2
        self.assertEqual(f["devices_updated"], 1)
        f, _ = self.sync(a, stick)
        self.assertEqual(f["events_received"], 3)
        self.assertEqual(f["events_sent"], 0)
        self.sync_until_quiet([a, b], stick)
        log = self.assertAllEqual([a, b])
        got = [e["id"] for e in map(json.loads, log.splitlines())]
        for i in a_ids + b_ids:
            self.assertIn(i, got)
        self.assertEqual(len(got), 4 + 3)
        # the stick holds exactly the two devices' logs, at the stores' tips
        repo = self.stick_repo(stick, a)
        self.assertEqual(set(self.device_refs(repo)),
                         {DEVICE_REF + self.device_id(a), DEVICE_REF + self.device_id(b)})
        self.assertEqual(self.device_refs(repo), self.device_refs(os.path.join(a, "sync.git")))
        self.assertEqual(self.device_refs(repo), self.device_refs(os.path.join(b, "sync.git")))

    def test_three_stores_through_a_folder(self):
        stores = self.group(3)
        for i, s in enumerate(stores):
            self.append(s, "pantry.visit", {"who": i}, n=i + 1)
        stick = self.mkdir("stick")
        self.sync_until_quiet(stores, stick)
        log = self.assertAllEqual(stores)
        self.assertEqual(len(log.splitlines()), 3 + 1 + 2 + 3)
        # later appends on one store reach both others
        self.append(stores[2], "pantry.visit", {"late": True}, n=2)
        self.sync_until_quiet(stores, stick)
        self.assertEqual(len(self.assertAllEqual(stores).splitlines()), 11)

    def test_store_and_forward(self):
        a, b, c = self.group(3)
        a_ids = self.append(a, "pantry.stock.in", {"from": "a"}, n=3)
        stick1, stick2 = self.mkdir("stick1"), self.mkdir("stick2")
        self.sync(a, stick1)
        f, _ = self.sync(b, stick1)
        self.assertEqual(f["events_received"], 4)
        f, _ = self.sync(b, stick2)
        self.assertEqual(f["events_sent"], 4 + 1)  # A's log and B's join
        f, _ = self.sync(c, stick2)
        self.assertEqual(f["events_received"], 4 + 1)
        self.assertEqual(f["devices_updated"], 2)
        self.assertEqual(self.ids(c, self.device_id(a)),
                         self.ids(a, self.device_id(a)))
        got = [e["id"] for e in self.events(c)]
        for i in a_ids:
            self.assertIn(i, got)
        self.verify(c)
        # and back: C's events reach A through B, over the same two sticks
        self.append(c, "pantry.stock.out", {"from": "c"}, n=1)
        self.sync(c, stick2)
        self.sync(b, stick2)
        self.sync(b, stick1)
        self.sync(a, stick1)
        self.assertAllEqual([a, b, c])

    def test_a_stale_stick_is_brought_up_to_date(self):
        a, b = self.group(2)
        self.append(a, n=2)
        old, new = self.mkdir("old-stick"), self.mkdir("new-stick")
        self.sync_until_quiet([a, b], old)
        old_repo = self.stick_repo(old, a)
        old_refs = self.device_refs(old_repo)
        # both devices move on through another stick
        for round_ in range(3):
            self.append(a, "pantry.stock.in", {"round": round_}, n=2)
            self.append(b, "pantry.stock.out", {"round": round_}, n=1)
            self.sync_until_quiet([a, b], new)
        new_refs = self.device_refs(self.stick_repo(new, a))
        self.assertNotEqual(old_refs, new_refs)
        before = self.assertAllEqual([a, b])

        f, _ = self.sync(b, old)
        self.assertEqual(f["events_received"], 0, f)
        self.assertEqual(f["segments_opened"], 0, f)
        self.assertEqual(f["devices_updated"], 0, f)
        self.assertGreater(f["events_sent"], 0, f)
        self.assertEqual(self.log_raw(b), before)  # lost nothing, gained nothing
        self.assertEqual(self.device_refs(old_repo), new_refs)
        self.assertEqual(self.device_refs(os.path.join(b, "sync.git")), new_refs)
        self.assertFsck(old_repo)
        # the other device finds nothing to do there either
        f, _ = self.sync(a, old)
        self.assertEqual((f["events_received"], f["events_sent"]), (0, 0), f)
        self.assertEqual(self.log_raw(a), before)
        self.assertEqual(self.device_refs(old_repo), new_refs)


# --------------------------------------------------------------------------
# 2-4. What stock git sees; bundles; file:// URLs


class TestStockGit(SyncTestCase):

    def secret_group(self):
        a = self.init("s-a", group=SECRET_GROUP, device=SECRET_DEVICES[0])
        b = self.join(a, "s-b", SECRET_DEVICES[1])
        self.append(a, SECRET_TYPE, {"note": SECRET_PAYLOAD, "amount": 950})
        self.append(b, SECRET_TYPE, {"note": SECRET_PAYLOAD + "-b"})
        return a, b

    def assertNoPlainText(self, repo, what):
        r = self.git("cat-file", "--batch-all-objects", "--batch", cwd=repo)
        dump = r.stdout
        self.assertIn(b" blob ", dump, "no blob in %s?" % what)
        self.assertIn(b" commit ", dump, "no commit in %s?" % what)
        for s in (SECRET_PAYLOAD, SECRET_TYPE, SECRET_GROUP) + SECRET_DEVICES + (
                "mutual.group.create", "mutual.device.join", "amount"):
            self.assertNotIn(s.encode(), dump, "%r is in plain text in %s" % (s, what))
        # every commit is anonymous and undated
        log = self.git_out("log", "--all", "--format=%an <%ae>|%cn <%ce>|%at|%ct", cwd=repo)
        lines = log.splitlines()
        self.assertTrue(lines, what)
        for line in lines:
            self.assertEqual(line, "%s|%s|0|0" % (AUTHOR, AUTHOR), what)

    def test_stick_repo_is_plain_git_and_holds_no_plain_text(self):
        a, b = self.secret_group()
        stick = self.mkdir("stick")
        self.sync_until_quiet([a, b], stick)
        repo = self.stick_repo(stick, a)
        self.assertTrue(os.path.isdir(repo), os.listdir(stick))
        self.assertFsck(repo)
        refs = self.device_refs(repo)
        self.assertEqual(set(refs), {DEVICE_REF + self.device_id(a), DEVICE_REF + self.device_id(b)})
        self.assertEqual(set(self.refs(repo)), set(refs), "refs outside %s" % DEVICE_REF)
        # each commit holds one blob, `segment`
        for tip in refs.values():
            for commit in self.git_out("rev-list", tip, cwd=repo).split():
                tree = self.git_out("ls-tree", commit, cwd=repo)
                self.assertRegex(tree, r"^100644 blob [0-9a-f]{40}\tsegment$")
        mirror = self.path("mirror.git")
        self.git("clone", "--mirror", "--quiet", repo, mirror)
        self.assertEqual(self.device_refs(mirror), refs)
        self.assertFsck(mirror)
        self.assertNoPlainText(repo, "the stick")
        # no file on the stick holds plain text either (packs are compressed,
        # but look anyway)
        for root, _, files in os.walk(stick):
            for name in files:
                with open(os.path.join(root, name), "rb") as fh:
                    data = fh.read()
                for s in (SECRET_PAYLOAD, SECRET_GROUP) + SECRET_DEVICES:
                    self.assertNotIn(s.encode(), data, os.path.join(root, name))

    def test_bundle_holds_no_plain_text(self):
        a, b = self.secret_group()
        bundle = self.path("media", "x.bundle")
        os.mkdir(self.path("media"))
        self.sync_until_quiet([a, b], bundle)
        with open(bundle, "rb") as fh:
            raw = fh.read()
        self.assertTrue(raw.startswith(b"# v2 git bundle\n"), raw[:40])
        for s in (SECRET_PAYLOAD, SECRET_GROUP) + SECRET_DEVICES:
            self.assertNotIn(s.encode(), raw)
        scratch = self.path("scratch")
        self.git("init", "--quiet", scratch)
        self.git("bundle", "verify", bundle, cwd=scratch)
        clone = self.path("bundle-clone.git")
        self.git("clone", "--mirror", "--quiet", bundle, clone)
        self.assertEqual(set(self.device_refs(clone)),
                         {DEVICE_REF + self.device_id(a), DEVICE_REF + self.device_id(b)})
        self.assertFsck(clone)
        self.assertNoPlainText(clone, "the bundle")

    def test_file_url_remote_holds_no_plain_text(self):
        a, b = self.secret_group()
        remote = self.path("remote.git")
        self.git("init", "--bare", "--quiet", remote)
        self.sync_until_quiet([a, b], "file://" + remote)
        self.assertFsck(remote)
        self.assertEqual(set(self.device_refs(remote)),
                         {DEVICE_REF + self.device_id(a), DEVICE_REF + self.device_id(b)})
        self.assertNoPlainText(remote, "the file:// remote")


class TestBundle(SyncTestCase):

    def test_bundle_round_trip(self):
        a, b = self.group(2)
        a_ids = self.append(a, "pantry.stock.in", {"from": "a"}, n=3)
        media = self.mkdir("media")
        bundle = os.path.join(media, "x.bundle")
        f, _ = self.sync(a, bundle)
        self.assertEqual(f["events_sent"], 4)
        self.assertEqual(sorted(os.listdir(media)), ["x.bundle"])
        scratch = self.path("scratch")
        self.git("init", "--quiet", scratch)
        r = self.git("bundle", "verify", bundle, cwd=scratch)
        self.assertIn(DEVICE_REF + self.device_id(a), r.stdout.decode() + r.stderr.decode())

        b_ids = self.append(b, "pantry.stock.out", {"from": "b"}, n=2)
        st = os.stat(bundle)
        with open(bundle, "rb") as old:
            old_bytes = old.read()
            old.seek(0)
            f, _ = self.sync(b, bundle)
            self.assertEqual(f["events_received"], 4)
            self.assertEqual(f["events_sent"], 3)
            # replaced by a rename, not rewritten in place: the old file,
            # still open, is whole
            self.assertEqual(old.read(), old_bytes)
        self.assertNotEqual(os.stat(bundle).st_ino, st.st_ino)
        self.assertEqual(sorted(os.listdir(media)), ["x.bundle"], "left behind next to the bundle")
        got_b = [e["id"] for e in self.events(b)]
        for i in a_ids:
            self.assertIn(i, got_b)
        self.git("bundle", "verify", bundle, cwd=scratch)

        f, _ = self.sync(a, bundle)
        self.assertEqual(f["events_received"], 3)
        got_a = [e["id"] for e in self.events(a)]
        for i in b_ids:
            self.assertIn(i, got_a)
        self.assertAllEqual([a, b])
        self.assertEqual(sorted(os.listdir(media)), ["x.bundle"])
        # quiet now
        self.sync_until_quiet([a, b], bundle, max_rounds=1)
        # the bundle carries the full history: a new device gets everything from it alone
        c = self.join(a, "s-c", "volunteer")
        f, _ = self.sync(c, bundle)
        self.assertEqual(f["events_received"], 7)
        self.sync_until_quiet([a, b, c], bundle)
        self.assertAllEqual([a, b, c])

    def test_bundle_syncs_back_and_forth_keep_each_store_able_to_forward(self):
        # Every store keeps the git objects of every log it holds, to pass
        # them on: after any number of bundle syncs, each can still fill an
        # empty stick from which a new device gets everything.
        a, b = self.group(2)
        self.append(a, "pantry.stock.in", {"from": "a"}, n=2)
        self.append(b, "pantry.stock.out", {"from": "b"}, n=2)
        bundle = os.path.join(self.mkdir("media"), "x.bundle")
        for i, s in enumerate((a, b, a, b, a, b, a)):
            self.sync(s, bundle)
            with self.subTest(sync=i, store=os.path.basename(s)):
                self.assertFsck(os.path.join(s, "sync.git"), strict=False)
        want = self.assertAllEqual([a, b])
        for s in (a, b):
            with self.subTest(store=os.path.basename(s)):
                stick = self.mkdir("fresh-" + os.path.basename(s))
                f, _ = self.sync(s, stick)
                self.assertEqual(f["events_sent"], 6, f)
                c = self.join(a, "s-new-" + os.path.basename(s), "new-" + os.path.basename(s))
                f, _ = self.sync(c, stick)
                self.assertEqual(f["events_received"], 6, f)
                self.assertEqual([line for line in self.log_raw(c).splitlines()
                                  if self.device_id(c) not in line], want.splitlines())


class TestFileUrl(SyncTestCase):

    def test_file_url_to_a_bare_repo(self):
        a, b = self.group(2)
        self.append(a, n=3)
        self.append(b, n=2)
        remote = self.path("remote.git")
        self.git("init", "--bare", "--quiet", remote)
        url = "file://" + remote
        f, _ = self.sync(a, url)
        self.assertEqual(f["events_sent"], 4)
        f, _ = self.sync(b, url)
        self.assertEqual((f["events_received"], f["events_sent"]), (4, 3))
        f, _ = self.sync(a, url)
        self.assertEqual(f["events_received"], 3)
        self.sync_until_quiet([a, b], url)
        self.assertAllEqual([a, b])
        self.assertFsck(remote)
        self.assertEqual(self.device_refs(remote), self.device_refs(os.path.join(a, "sync.git")))
        # no leftovers of the fetch in the store's repository
        self.assertEqual(set(self.refs(os.path.join(a, "sync.git"))),
                         set(self.device_refs(os.path.join(a, "sync.git"))))


# --------------------------------------------------------------------------
# 5. Incremental cost


class TestIncremental(SyncTestCase):

    # Events per store; two stores fill in parallel. 100 under the
    # sanitizers (1,000 took 56 s there, one `mutual append` each).
    BASE = 100 if clitest.sanitized_run() else 1000

    def test_ten_new_events_cost_one_segment(self):
        a, z, b = self.group(3)
        # Build 2 x BASE events through sync: A and Z append at once (each one
        # process per event), then their logs meet on the stick.
        errors = []

        def fill(store, tag):
            try:
                for i in range(self.BASE):
                    r = run("append", "pantry.bulk", '{"tag":"%s","i":%d}' % (tag, i), store=store)
                    if r.returncode != 0:
                        errors.append(describe(r))
                        return
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=fill, args=(a, "a")), threading.Thread(target=fill, args=(z, "z"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        stick = self.mkdir("stick")
        self.sync(z, stick)
        f, _ = self.sync(a, stick)
        self.assertEqual(f["events_received"], self.BASE + 1)
        total = 2 * (self.BASE + 1) + 1
        f, _ = self.sync(b, stick)
        self.assertEqual(f["events_received"], total - 1)
        self.assertEqual(len(self.events(b)), total)

        self.sync(a, stick)  # B's join, so that what follows is only the new events
        self.append(a, "pantry.stock.in", {"new": True}, n=10)
        f, _ = self.sync(a, stick)
        self.assertEqual(f["events_sent"], 10, f)
        self.assertEqual(f["segments_sent"], 1, f)
        self.assertEqual(f["objects_sent"], 3, f)
        self.assertEqual(f["segments_opened"], 0, f)
        f, _ = self.sync(b, stick)
        self.assertEqual(f["events_received"], 10, f)
        self.assertEqual(f["segments_received"], 1, f)
        self.assertEqual(f["segments_opened"], 1, f)
        self.assertEqual(f["objects_received"], 3, f)
        self.assertEqual(f["devices_updated"], 1, f)
        self.assertEqual(f["events_sent"], 0, f)
        self.assertEqual(f["objects_sent"], 0, f)
        self.assertEqual(self.log_raw(a), self.log_raw(b))
        # and a sync with nothing new opens nothing
        f, _ = self.sync(b, stick)
        self.assertEqual((f["segments_opened"], f["objects_received"], f["objects_sent"]), (0, 0, 0), f)


# --------------------------------------------------------------------------
# 6. Refusals


class TestRefusals(SyncTestCase):

    def a_log(self, store, a_dev):
        return self.ids(store, a_dev)

    def test_cloned_device_key_is_refused_both_ways(self):
        a, b, c1, c2 = self.group(4, names=["laptop", "office", "volunteer", "phone"])
        a_dev = self.device_id(a)
        self.append(a, "pantry.stock.in", {"common": 1}, n=3)
        s0 = self.mkdir("s0")
        self.sync_until_quiet([a, b, c1, c2], s0)
        common = self.a_log(a, a_dev)
        self.assertEqual(len(common), 4)

        # the same store restored on a second machine; both go on appending
        a2 = self.copy_store(a, self.path("s-laptop-restored"))
        self.append(a, "pantry.stock.in", {"branch": "A"}, n=2)
        self.append(a2, "pantry.stock.in", {"branch": "A2"}, n=3)
        branch_a, branch_a2 = self.a_log(a, a_dev), self.a_log(a2, a_dev)
        self.assertEqual(branch_a[:4], common)
        self.assertEqual(branch_a2[:4], common)
        self.assertNotEqual(branch_a[4:], branch_a2[4:])
        b_late = self.append(b, "pantry.stock.out", {"late": "b"}, n=2)
        # seal each one's new events once (private folders), so that the
        # copies made below for each order carry the very same commits
        self.sync(a, self.mkdir("private-a"))
        self.sync(a2, self.mkdir("private-a2"))
        self.sync(b, self.mkdir("private-b"))

        sticks = {}
        for name in ("a-first", "a2-first"):
            with self.subTest(order=name):
                aa = self.copy_store(a, self.path("s-laptop-" + name))
                aa2 = self.copy_store(a2, self.path("s-laptop-restored-" + name))
                bb = self.copy_store(b, self.path("s-office-" + name))
                first, second = (aa, aa2) if name == "a-first" else (aa2, aa)
                stick = sticks[name] = self.mkdir(name)
                self.sync(bb, stick)  # another device's news waits there
                self.sync(first, stick)
                repo = self.stick_repo(stick, a)
                tip = self.device_refs(repo)[DEVICE_REF + a_dev]
                before = self.a_log(second, a_dev)
                f, err = self.sync(second, stick, status=EXIT_REFUSED)
                self.assertEqual(f["refused"], 1, f)
                self.assertRefusedOnly(err, a_dev, r"(?i)key|copied|diverg|fork")
                self.assertEqual(self.a_log(second, a_dev), before, "the clone's log changed")
                got = [e["id"] for e in self.events(second)]
                for i in b_late:
                    self.assertIn(i, got, "another device's events did not sync past the refusal")
                self.assertEqual(self.device_refs(repo)[DEVICE_REF + a_dev], tip,
                                 "the refused sync overwrote the log on the stick")
                self.verify(second)
                self.assertFsck(repo)

        # A third device ends with the same state whichever branch it meets
        # first: A's common prefix, and nothing of either branch in force
        # (a branch's events may be held, but then quarantined: shown with
        # "quarantined": true in log --json). The two branches never mix.
        b_dev = self.device_id(b)
        for c, order in ((c1, ("a-first", "a2-first")), (c2, ("a2-first", "a-first"))):
            with self.subTest(third=os.path.basename(c), order=order[0]):
                for name in order:
                    r = run("sync", sticks[name], "--json", store=c)
                    self.assertIn(r.returncode, (EXIT_OK, EXIT_REFUSED), describe(r))
                    if r.stderr:
                        self.assertRefusedOnly(r.stderr, a_dev, r"(?i)key|copied|diverg|fork|two")
                held = set(self.ids(c, a_dev))
                self.assertFalse(set(branch_a[4:]) & held and set(branch_a2[4:]) & held,
                                 "%s holds events of both branches" % os.path.basename(c))
                live = [(e["id"], e["hash"]) for e in self.events(c)
                        if e["device"] == a_dev and e.get("quarantined") is not True]
                self.assertEqual(live, common, "%s does not end with A's common prefix in force "
                                 "(order %s first)" % (os.path.basename(c), order[0]))
                self.assertEqual(self.ids(c, b_dev), self.ids(b, b_dev))
                self.verify(c)

    def rewrite_ref(self, repo, ref, blob_bytes=None, message="segment rewritten\n"):
        """Point `ref` at a new commit with the same parent: the tree of the
        old tip (or a tree holding `blob_bytes` as `segment`)."""
        tip = self.git_out("rev-parse", ref, cwd=repo)
        parents = self.git_out("rev-list", "--parents", "-n", "1", tip, cwd=repo).split()[1:]
        if blob_bytes is None:
            tree = self.git_out("rev-parse", tip + "^{tree}", cwd=repo)
        else:
            blob = self.git_out("hash-object", "-w", "--stdin", cwd=repo, input=blob_bytes)
            tree = self.git_out("mktree", cwd=repo, input=("100644 blob %s\tsegment\n" % blob).encode())
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        new = self.git_out(*args, cwd=repo, input=message.encode())
        self.assertNotEqual(new, tip)
        self.git("update-ref", ref, new, tip, cwd=repo)
        return tip, new

    def test_rewritten_ref_is_refused_as_diverging(self):
        a, b, c = self.group(3)
        a_dev = self.device_id(a)
        stick = self.mkdir("stick")
        self.append(a, n=2)
        self.sync(a, stick)
        self.append(a, n=3)
        self.sync(a, stick)  # A's log: two segments
        self.sync(b, stick)  # B holds A's original
        b_before = self.a_log(b, a_dev)
        self.assertEqual(len(b_before), 6)
        c_ids = self.append(c, "pantry.visit", {"c": 1}, n=2)
        self.sync(c, stick)
        repo = self.stick_repo(stick, a)
        old, new = self.rewrite_ref(repo, DEVICE_REF + a_dev)
        self.assertEqual(self.git_out("rev-parse", new + "^{tree}", cwd=repo),
                         self.git_out("rev-parse", old + "^{tree}", cwd=repo))

        f, err = self.sync(b, stick, status=EXIT_REFUSED)
        self.assertEqual(f["refused"], 1, f)
        self.assertRefusedOnly(err, a_dev, r"(?i)diverg|fork|rewritten")
        self.assertEqual(self.a_log(b, a_dev), b_before)
        got = [e["id"] for e in self.events(b)]
        for i in c_ids:
            self.assertIn(i, got, "C's events did not sync past the refusal")
        self.verify(b)
        # A itself refuses the rewritten copy of its own log, and keeps its own
        a_before = self.log_raw(a)
        f, err = self.sync(a, stick, status=EXIT_REFUSED)
        self.assertRefusedOnly(err, a_dev, r".")
        self.assertEqual([e for e in self.log_raw(a).splitlines() if a_dev + ":" in e],
                         [e for e in a_before.splitlines() if a_dev + ":" in e])
        # put the original back: everything syncs
        self.git("update-ref", DEVICE_REF + a_dev, old, new, cwd=repo)
        self.sync_until_quiet([a, b, c], stick)
        self.assertAllEqual([a, b, c])

    def test_flipped_byte_in_a_segment_is_refused(self):
        a, b, c = self.group(3)
        a_dev = self.device_id(a)
        self.append(a, "pantry.stock.in", {"item": "flour"}, n=4)
        c_ids = self.append(c, "pantry.visit", {"c": 1}, n=2)
        stick = self.mkdir("stick")
        self.sync(c, stick)
        self.sync(a, stick)
        repo = self.stick_repo(stick, a)
        ref = DEVICE_REF + a_dev
        original = self.git_out("rev-parse", ref, cwd=repo)
        blob = self.git("cat-file", "blob", original + ":segment", cwd=repo).stdout
        self.assertTrue(blob.startswith(b"mseg"), blob[:8])
        n = len(blob)
        # magic, version, key id (held back, not refused), nonce, first
        # ciphertext byte, middle, tag
        positions = [0, 4, 6, 20, 33, n // 2, n - 17, n - 1]
        b_events = self.ids(b)
        for i, pos in enumerate(positions):
            with self.subTest(position=pos):
                damaged = bytearray(blob)
                damaged[pos] ^= 0x01
                tip = self.git_out("rev-parse", ref, cwd=repo)
                _, new = self.rewrite_ref(repo, ref, bytes(damaged), message="segment 1..5\n")
                if 5 <= pos <= 8:
                    # another key id: sealed, for all B can tell, with a key it has not
                    # received yet; held back (not refused), and nothing of it imported
                    r = run("sync", stick, "--json", store=b)
                    self.assertEqual(r.returncode, EXIT_OK, describe(r))
                    f = json.loads(r.stdout)
                    self.assertEqual((f["refused"], f["segments_without_key"], f["events_received"]), (0, 1, 0), f)
                    self.assertIn("has not received yet (key %d)" % (1 ^ (1 << (8 * (8 - pos)))), r.stderr)
                    self.assertEqual(self.a_log(b, a_dev), [], "B imported A's damaged log")
                    self.assertEqual(self.ids(b), b_events)
                    self.verify(b)
                    continue
                f, err = self.sync(b, stick, status=EXIT_REFUSED)
                self.assertEqual(f["refused"], 1, f)
                if i == 0:
                    # C's log (its join and two events) comes in past the refusal
                    self.assertEqual(f["events_received"], 3, f)
                    got = [e["id"] for e in self.events(b)]
                    for cid in c_ids:
                        self.assertIn(cid, got, "C's events did not sync past the refusal")
                    b_events = self.ids(b)
                else:
                    self.assertEqual(f["events_received"], 0, f)
                self.assertRefusedOnly(err, a_dev, r".")
                self.assertEqual(self.a_log(b, a_dev), [], "B imported A's damaged log")
                self.assertEqual(self.ids(b), b_events)
                self.verify(b)
        # the envelope refusal names the key
        damaged = bytearray(blob)
        damaged[n // 2] ^= 0x80
        self.rewrite_ref(repo, ref, bytes(damaged))
        f, err = self.sync(b, stick, status=EXIT_REFUSED)
        self.assertRefusedOnly(err, a_dev, r"(?i)group key|does not open|altered|authenticat")
        # the original back: B gets A's log
        self.git("update-ref", ref, original, cwd=repo)
        f, _ = self.sync(b, stick)
        self.assertEqual(f["events_received"], 5, f)
        self.assertEqual(self.a_log(b, a_dev), self.a_log(a, a_dev))

    def damaged_pack_case(self, damage):
        a, b, c = self.group(3)
        a_dev = self.device_id(a)
        self.append(a, "pantry.stock.in", {"item": "oil", "pad": "p" * 200}, n=30)
        self.append(c, "pantry.visit", {"c": 1}, n=2)
        stick = self.mkdir("stick")
        self.sync(c, stick)
        self.sync(a, stick)
        good = self.path("good-stick")
        shutil.copytree(stick, good, symlinks=True)
        repo = self.stick_repo(stick, a)
        packdir = os.path.join(repo, "objects", "pack")
        packs = [os.path.join(packdir, p) for p in os.listdir(packdir) if p.endswith(".pack")]
        self.assertTrue(packs, "no pack on the stick: %r" % os.listdir(packdir))
        for p in packs:
            os.chmod(p, 0o644)
            damage(p)
        b_before = self.log_raw(b)
        r = run("sync", stick, store=b)
        self.assertNotKilled(r)
        self.assertIn(r.returncode, (EXIT_FAIL, EXIT_REFUSED), describe(r))
        self.assertTrue(r.stderr.startswith("mutual: "), describe(r))
        self.assertGreater(len(r.stderr.strip()), len("mutual: ") + 5, describe(r))
        self.verify(b)
        after = self.log_raw(b)
        # whatever was imported is a prefix of the true logs, never garbage
        for line in after.splitlines():
            if line not in b_before:
                self.assertIn(line, self.log_raw(c) + self.log_raw(a))
        # a good stick again: the next sync completes
        shutil.rmtree(stick)
        shutil.copytree(good, stick, symlinks=True)
        self.sync(b, stick)
        self.sync_until_quiet([a, b, c], stick)
        self.assertAllEqual([a, b, c])
        self.assertEqual(len(self.a_log(b, a_dev)), 31)

    def test_truncated_pack(self):
        def truncate(p):
            size = os.path.getsize(p)
            with open(p, "r+b") as fh:
                fh.truncate(size // 2)
        self.damaged_pack_case(truncate)

    def test_pack_overwritten_in_the_middle(self):
        def scribble(p):
            size = os.path.getsize(p)
            with open(p, "r+b") as fh:
                fh.seek(size // 2 - 32)
                fh.write(b"\xa5" * 64)
        self.damaged_pack_case(scribble)

    def test_another_groups_stick(self):
        x1, x2 = self.group(2, group="Pantry X", names=["x-laptop", "x-office"])
        y1 = self.init("s-y1", group="Pantry Y", device="y-laptop")
        y2 = self.join(y1, "s-y2", "y-office")
        self.append(x1, "pantry.stock.in", {"group": "x"}, n=2)
        self.append(y1, "pantry.stock.in", {"group": "y"}, n=3)
        stick = self.mkdir("stick")
        for s in (x1, y1, x2, y2, x1, y1):
            self.sync(s, stick)
        repo_x, repo_y = self.stick_repo(stick, x1), self.stick_repo(stick, y1)
        self.assertNotEqual(repo_x, repo_y)
        self.assertEqual(sorted(n for n in os.listdir(stick) if n.endswith(".git")), sorted([os.path.basename(repo_x), os.path.basename(repo_y)]))
        self.assertAllEqual([x1, x2])
        self.assertAllEqual([y1, y2])
        x_devs = {self.device_id(x1), self.device_id(x2)}
        y_devs = {self.device_id(y1), self.device_id(y2)}
        self.assertEqual({e["device"] for e in self.events(x1)}, x_devs)
        self.assertEqual({e["device"] for e in self.events(y1)}, y_devs)
        self.assertEqual({r[len(DEVICE_REF):] for r in self.device_refs(repo_x)}, x_devs)
        self.assertEqual({r[len(DEVICE_REF):] for r in self.device_refs(repo_y)}, y_devs)

        # group X's repository under group Y's name: Y cannot open a thing
        self.append(x1, "pantry.stock.in", {"group": "x", "late": True}, n=1)
        self.sync(x1, stick)
        shutil.rmtree(repo_y)
        shutil.copytree(repo_x, repo_y, symlinks=True)
        y_before = self.log_raw(y1)
        f, err = self.sync(y1, stick, status=EXIT_REFUSED)
        self.assertEqual(f["refused"], 2, f)
        self.assertEqual(f["events_received"], 0, f)
        got = self.refusals(err)
        self.assertEqual({d for d, _ in got}, {d[:16] for d in x_devs}, err)
        for _, reason in got:
            self.assertRegex(reason, r"(?i)group key|another group|does not open")
        self.assertEqual(self.log_raw(y1), y_before)
        self.verify(y1)
        # X's own repository is untouched by all this
        f, _ = self.sync(x2, stick)
        self.assertEqual(f["events_received"], 1, f)
        self.assertAllEqual([x1, x2])

    def test_right_group_wrong_key(self):
        a, b, c = self.group(3)
        a_dev, b_dev = self.device_id(a), self.device_id(b)
        key = os.path.join(b, "group.key")
        with open(key) as fh:
            lines = fh.read().splitlines()
        self.assertEqual(lines[0], "mutual-group-key 1")
        self.assertRegex(lines[1], r"^1 [0-9a-f]{64}$")
        wrong = secrets.token_hex(32)
        with open(key, "w") as fh:
            fh.write("mutual-group-key 1\n1 %s\n" % wrong)
        os.chmod(key, 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)

        self.append(a, "pantry.stock.in", {"a": 1}, n=2)
        self.append(c, "pantry.visit", {"c": 1}, n=1)
        stick = self.mkdir("stick")
        self.sync(c, stick)
        self.sync(a, stick)
        b_before = self.log_raw(b)
        f, err = self.sync(b, stick, status=EXIT_REFUSED)
        self.assertEqual(f["events_received"], 0, f)
        self.assertEqual(f["refused"], 2, f)
        got = self.refusals(err)
        self.assertEqual({d for d, _ in got}, {a_dev[:16], self.device_id(c)[:16]}, err)
        for _, reason in got:
            self.assertRegex(reason, r"(?i)group key|does not open|wrong key")
        self.assertEqual(self.log_raw(b), b_before)
        self.verify(b)
        # B's log went out sealed with the wrong key: the others refuse it,
        # and still sync with each other
        self.append(c, "pantry.visit", {"c": 2}, n=1)
        self.sync(c, stick, status=EXIT_REFUSED)
        f, err = self.sync(a, stick, status=EXIT_REFUSED)
        self.assertRefusedOnly(err, b_dev, r"(?i)group key|does not open|wrong key")
        self.assertEqual(f["events_received"], 1, f)
        self.assertEqual(self.ids(a, b_dev), self.ids(c, b_dev))
        self.assertEqual(len(self.ids(a, self.device_id(c))), 3)


class TestGroupKeys(SyncTestCase):

    def test_a_key_not_received_yet_holds_back(self):
        """group.key with several keys (docs/format.md, "Key files"): B
        seals with a key A does not hold yet. A imports what came before,
        holds back the rest without refusing it, and imports it once the
        key is in its group.key (as an older key: A still seals with its
        current one)."""
        a, b = self.group(2)
        b_dev = self.device_id(b)
        stick = self.mkdir("stick")
        self.append(b, "pantry.visit", {"b": 1}, n=1)
        self.sync(b, stick)
        new_line = "4242 %s\n" % secrets.token_hex(32)
        key = os.path.join(b, "group.key")
        with open(key) as fh:
            text = fh.read()
        with open(key, "w") as fh:  # the new key first: B seals with it from now on
            fh.write(text.replace("mutual-group-key 1\n", "mutual-group-key 1\n" + new_line))
        self.append(b, "pantry.visit", {"b": 2}, n=2)
        self.sync(b, stick)

        r = run("sync", stick, "--json", store=a)
        self.assertEqual(r.returncode, EXIT_OK, describe(r))
        f = json.loads(r.stdout)
        self.assertEqual((f["refused"], f["segments_without_key"]), (0, 1), f)
        self.assertIn("warning: device %s: its log on the target from seq 3 is sealed with a group key this "
                      "device has not received yet (key 4242)" % b_dev[:16], r.stderr)
        self.assertEqual(len(self.ids(a, b_dev)), 2)  # the join and {"b": 1}
        r = run("sync", stick, store=a)
        self.assertEqual(r.returncode, EXIT_OK, describe(r))
        self.assertIn("1 segment(s) are sealed with a group key this device has not received yet", r.stdout)

        key = os.path.join(a, "group.key")
        with open(key, "a") as fh:
            fh.write(new_line)
        f, _ = self.sync(a, stick)
        self.assertEqual((f["segments_without_key"], f["events_received"]), (0, 2), f)
        self.assertEqual(self.ids(a, b_dev), self.ids(b, b_dev))
        self.verify(a)


# --------------------------------------------------------------------------
# 7. Durability under a killed sync


@clitest.needs_test_hooks("MUTUAL_FAULT_KILL_AT")
class TestKilledSync(SyncTestCase):
    """MUTUAL_FAULT_KILL_AT=N: the process SIGKILLs itself at its Nth write
    to a medium, as a pulled stick or a power cut would stop it (a test
    hook: only a -Dtest_hooks=true build has it)."""

    MAX_N = 60

    def kill_loop(self, name, prepare, after):
        """For N = 1, 2, ...: `prepare(work)` makes a fresh copy of the
        scenario and returns (store, target); the sync is killed at its Nth
        write; `after(work, store, target)` checks what is left and completes
        the sync. Stops at the first N where the sync completes by itself."""
        leftovers = []
        for n in range(1, self.MAX_N + 1):
            work = self.mkdir("%s-%d" % (name, n))
            store, target = prepare(work)
            r = run("sync", target, store=store, env=child_env(MUTUAL_FAULT_KILL_AT=str(n)))
            with self.subTest(scenario=name, kill_at=n):
                self.assertIn(r.returncode, (0, -signal.SIGKILL), describe(r))
                left = after(work, store, target)
                if left:
                    leftovers.append("killed at write %d: %s" % (n, ", ".join(sorted(left))))
            shutil.rmtree(work)
            if r.returncode == 0:
                self.assertGreater(n, 1, "%s: the fault point never fired" % name)
                # Nothing half-written may stay on the medium for good: the
                # syncs that follow a killed one hold the medium's lock, so
                # any temporary file they find there is stale.
                if leftovers:
                    self.fail("%s: temporary files of a killed sync were still on the medium after two "
                              "more syncs completed (a sync completes by itself from write %d on):\n%s"
                              % (name, n, "\n".join(leftovers)))
                return n
        self.fail("%s: the sync never completed with MUTUAL_FAULT_KILL_AT up to %d" % (name, self.MAX_N))

    def base(self):
        a, b = self.group(2)
        self.append(a, "pantry.stock.in", {"item": "rice", "pad": "r" * 100}, n=25)
        self.append(b, "pantry.stock.out", {"item": "oil"}, n=5)
        return a, b

    def everything(self, *stores):
        ids = set()
        for s in stores:
            ids.update(self.ids(s))
        return ids

    def temp_left_on_stick(self, repo):
        """Files in the stick's pack folder that are not finished packs."""
        packdir = os.path.join(repo, "objects", "pack")
        return [f for f in os.listdir(packdir) if not re.match(r"^pack-[0-9a-f]{40}\.(pack|idx|rev)$", f)]

    def test_killed_export_to_an_empty_stick(self):
        a0, b0 = self.base()
        want = self.everything(a0, b0)

        def prepare(work):
            os.mkdir(os.path.join(work, "stick"))
            return self.copy_store(a0, os.path.join(work, "a")), os.path.join(work, "stick")

        def after(work, a, stick):
            self.verify(a)
            repo = self.stick_repo(stick, a)
            if os.path.exists(repo):
                self.assertFsck(repo, strict=False)
            self.sync(a, stick)
            self.assertFsck(repo)
            b = self.copy_store(b0, os.path.join(work, "b"))
            self.sync(b, stick)
            self.assertEqual(self.everything(b), want, "events lost after a kill")
            return self.temp_left_on_stick(repo)

        self.kill_loop("export", prepare, after)

    def test_killed_import_from_a_full_stick(self):
        a0, b0 = self.base()
        want = self.everything(a0, b0)
        full = self.mkdir("full-stick")
        self.sync(a0, full)

        def prepare(work):
            stick = os.path.join(work, "stick")
            shutil.copytree(full, stick, symlinks=True)
            return self.copy_store(b0, os.path.join(work, "b")), stick

        def after(work, b, stick):
            self.verify(b)
            repo = self.stick_repo(stick, b)
            self.assertFsck(repo, strict=False)
            self.sync(b, stick)
            self.assertFsck(repo)
            self.assertEqual(self.everything(b), want, "events lost after a kill")
            a = self.copy_store(a0, os.path.join(work, "a"))
            self.sync(a, stick)
            self.assertEqual(self.everything(a), want, "events lost after a kill")
            return self.temp_left_on_stick(repo)

        self.kill_loop("import", prepare, after)

    def bundle_after(self, want, other0):
        def after(work, store, bundle):
            self.verify(store)
            if os.path.exists(bundle):
                scratch = os.path.join(work, "scratch")
                self.git("init", "--quiet", scratch)
                self.git("bundle", "verify", bundle, cwd=scratch)
            self.sync(store, bundle)
            other = self.copy_store(other0, os.path.join(work, "other"))
            self.sync(other, bundle)
            self.assertEqual(self.everything(other), want, "events lost after a kill")
            return [f for f in os.listdir(os.path.dirname(bundle)) if f != "x.bundle"]
        return after

    def test_killed_bundle_export(self):
        a0, b0 = self.base()
        want = self.everything(a0, b0)

        def prepare(work):
            os.mkdir(os.path.join(work, "media"))
            return self.copy_store(a0, os.path.join(work, "a")), os.path.join(work, "media", "x.bundle")

        self.kill_loop("bundle-export", prepare, self.bundle_after(want, b0))

    def test_killed_bundle_import(self):
        a0, b0 = self.base()
        want = self.everything(a0, b0)
        full = self.path("full.bundle")
        self.sync(a0, full)

        def prepare(work):
            os.mkdir(os.path.join(work, "media"))
            bundle = os.path.join(work, "media", "x.bundle")
            shutil.copyfile(full, bundle)
            return self.copy_store(b0, os.path.join(work, "b")), bundle

        self.kill_loop("bundle-import", prepare, self.bundle_after(want, a0))


# --------------------------------------------------------------------------
# 8. Progress


class TestProgress(SyncTestCase):

    def run_on_pty(self, argv):
        """Run `argv` with stderr on a pseudo-terminal (raw: no newline
        translation). Returns (exit status, stdout bytes, stderr bytes)."""
        master, slave = pty.openpty()
        try:
            tty.setraw(slave)
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                                 env=child_env())
        finally:
            os.close(slave)
        chunks = []
        try:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every copy of the slave is closed
                    break
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(master)
        out, _ = p.communicate(timeout=TIMEOUT)
        return p.returncode, out, b"".join(chunks)

    def test_progress_bar_only_on_a_terminal(self):
        a, b = self.group(2)
        self.append_many(a, 300)
        stick = self.mkdir("stick")
        self.sync(a, stick)
        b2 = self.copy_store(b, self.path("s-office-copy"))
        stick2 = self.path("stick-copy")
        shutil.copytree(stick, stick2, symlinks=True)

        rc, out, err = self.run_on_pty([CLI, "--store", b, "sync", stick])
        self.assertEqual(rc, 0, (out, err))
        self.assertIn(b"\r", err, err)
        self.assertRegex(err.decode("utf-8", "replace"), r"sealing|receiving|importing|sending")
        self.assertIn(b"received 301 events", out)

        r = run("sync", stick2, store=b2)
        self.assertOk(r)
        self.assertEqual(r.stderr, "", "progress text on a pipe: %r" % r.stderr)
        self.assertNotIn("\r", r.stdout)
        self.assertIn("received 301 events", r.stdout)
        self.assertEqual(self.log_raw(b), self.log_raw(b2))

        # --json on a terminal draws nothing either
        b3 = self.copy_store(b2, self.path("s-office-copy3"))
        rc, out, err = self.run_on_pty([CLI, "--store", b3, "sync", stick2, "--json"])
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(err, b"")
        json.loads(out)


# --------------------------------------------------------------------------
# 9. Two syncs at once


class TestConcurrentSyncs(SyncTestCase):

    def test_two_stores_sync_the_same_stick_at_once(self):
        a, b = self.group(2)
        self.append(a, "pantry.stock.in", {"a": 1}, n=20)
        self.append(b, "pantry.stock.out", {"b": 1}, n=20)
        # rounds 0-3: the stick's repository does not exist yet, both make
        # it at once; rounds 4-5: it exists and has A's log already
        for round_ in range(6):
            with self.subTest(round=round_):
                stick = self.mkdir("stick%d" % round_)
                if round_ >= 4:
                    self.sync(a, stick)
                    self.append(a, "pantry.stock.in", {"more": 1}, n=5)
                    self.append(b, "pantry.stock.out", {"more": 1}, n=5)
                procs = [subprocess.Popen([CLI, "--store", s, "sync", stick, "--json"],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=child_env()) for s in (a, b)]
                results = []
                for p in procs:
                    out, err = p.communicate(timeout=TIMEOUT)
                    results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
                for r in results:
                    self.assertEqual(r.returncode, 0, describe(r))
                    self.assertIs(json.loads(r.stdout)["ok"], True)
                repo = self.stick_repo(stick, a)
                self.assertFsck(repo)
                self.sync(a, stick)
                self.sync(b, stick)
                self.sync(a, stick)
                self.assertAllEqual([a, b])
                self.assertEqual(self.device_refs(repo), self.device_refs(os.path.join(a, "sync.git")))
                self.assertEqual(self.device_refs(repo), self.device_refs(os.path.join(b, "sync.git")))
                self.sync_until_quiet([a, b], stick, max_rounds=1)


# --------------------------------------------------------------------------
# 10. Targets that are not there, stores that cannot be written


class TestUnavailable(SyncTestCase):

    def test_missing_stick_folder(self):
        (a,) = self.group(1)
        missing = self.path("media", "STICK")
        r = run("sync", missing, store=a)
        self.assertEqual(r.returncode, EXIT_FAIL, describe(r))
        self.assertTrue(r.stderr.startswith("mutual: "), describe(r))
        self.assertIn("mounted", r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, describe(r))
        self.assertFalse(os.path.exists(missing))
        self.assertFalse(os.path.exists(self.path("media")))
        r = run("sync", missing, "--json", store=a)
        self.assertEqual(r.returncode, EXIT_FAIL, describe(r))
        f = json.loads(r.stdout)
        self.assertIs(f["ok"], False)
        self.assertIs(f["safe_to_remove"], False)
        self.assertIn("mounted", f["error"])
        # a file where the stick should be is not a stick either
        notdir = self.path("file")
        with open(notdir, "w") as fh:
            fh.write("x")
        r = run("sync", notdir, store=a)
        self.assertEqual(r.returncode, EXIT_FAIL, describe(r))
        self.verify(a)

    def mount_ro(self, src, dst):
        mount = shutil.which("mount") or "/bin/mount"
        umount = shutil.which("umount") or "/bin/umount"
        os.makedirs(dst)
        r = subprocess.run([mount, "--bind", src, dst], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
        if r.returncode != 0:
            self.fail("cannot bind-mount %s on %s (this test needs root and mount): %s"
                      % (src, dst, r.stderr.decode(errors="replace")))

        def unmount():
            u = subprocess.run([umount, dst], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
            if u.returncode != 0:
                subprocess.run([umount, "-l", dst], timeout=TIMEOUT)
        self.addCleanup(unmount)  # runs before the temporary folder is removed
        r = subprocess.run([mount, "-o", "remount,bind,ro", dst], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        if r.returncode != 0:
            self.fail("cannot remount %s read-only: %s" % (dst, r.stderr.decode(errors="replace")))
        try:
            with open(os.path.join(dst, ".probe"), "w"):
                pass
        except OSError:
            return
        self.fail("%s is still writable after the read-only remount" % dst)

    def test_read_only_store_cannot_sync(self):
        a, b = self.group(2)
        self.append(a, n=2)
        stick = self.mkdir("stick")
        self.sync(b, stick)
        ro = self.path("ro")
        self.mount_ro(a, ro)
        before = self.log_raw(ro)
        r = run("sync", stick, store=ro)
        self.assertEqual(r.returncode, EXIT_FAIL, describe(r))
        self.assertTrue(r.stderr.startswith("mutual: "), describe(r))
        self.assertIn("read-only", r.stderr)
        self.assertEqual(self.log_raw(ro), before)
        # the stick got nothing of the read-only store
        repo = self.stick_repo(stick, b)
        self.assertNotIn(DEVICE_REF + self.device_id(a), self.device_refs(repo))
        # the same store, writable, syncs
        self.sync(a, stick)


if __name__ == "__main__":
    unittest.main()
