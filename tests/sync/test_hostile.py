"""Hostile media: a generator of sticks and bundles written by hand, with
stock git and plain file calls, as a stranger would, each trying to make
`mutual sync` touch a file outside the medium, keep or spread data it has
not verified, hang, crash, or cut a device off.

Every variant starts from an honest stick (or bundle) and a copy of one
victim store, plants links, special files and forged objects, and places
canary files (a copy of a store's database, `*.lock` files, a repository)
wherever its links point. After the victim syncs it, with a time bound:

 - no canary changed: hash, size, mtime, inode and link count;
 - no dangling link's target was created;
 - the sync exited with a status, not a signal, and printed no sanitizer
   report;
 - the store's sync.git holds only objects reachable from libmutual's
   refs, none larger than an envelope may be, no ref outside
   refs/mutual/v1/, and no quarantine is left;
 - `mutual verify` passes, and the next sync with an honest stick
   completes and brings every event of the honest device.

Run by hand:

    MUTUAL_CLI=build/cli/mutual python3 -m unittest -v test_hostile
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402

SYNC_TIMEOUT = 60  # seconds: a hang guard, not a timing assertion
ENVELOPE_MAX = 16 * 1024 * 1024
A_EVENTS = 6  # the honest device's events: its join and five appends

GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG_GLOBAL")


def child_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUAL_") and k not in GIT_ENV_DROP}
    # Stock git as on a fresh machine: an identity of its own, no system or
    # user config, and never a pager or an fsmonitor taken from a stick.
    env.update(GIT_AUTHOR_NAME="stranger", GIT_AUTHOR_EMAIL="stranger@invalid",
               GIT_COMMITTER_NAME="stranger", GIT_COMMITTER_EMAIL="stranger@invalid",
               GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", LC_ALL="C")
    return env


def git(repo, *args, data=None):
    """Stock git on `repo`, which may be hostile: no pager, no fsmonitor."""
    r = subprocess.run(["git", "-c", "core.pager=cat", "-c", "core.fsmonitor=", "--git-dir=" + repo] + list(args),
                       input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), timeout=120)
    if r.returncode != 0:
        raise RuntimeError("git %s: %s" % (" ".join(args), r.stderr.decode("utf-8", "replace")))
    return r.stdout.decode("utf-8", "replace").strip()


def mutual(store, *args, timeout=SYNC_TIMEOUT):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUAL_")}
    return subprocess.run([clitest.cli_path(), "--store", store] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout)


def snapshot(root):
    """Everything under `root`, links not followed: what must not change."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [""] + dirnames + filenames:
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            seen[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino,
                                                 st.st_nlink, digest)
    return seen


class Variant:
    """One hostile medium in the making: where things are, for a mutator."""

    def __init__(self, case, work, kind):
        self.case, self.work, self.kind = case, work, kind
        self.canary = os.path.join(work, "canary")
        self.dangling = []  # link targets that must still not exist afterwards
        if kind in ("folder", "url"):
            self.target = os.path.join(work, "stick")
            shutil.copytree(case.honest_stick, self.target, symlinks=True)
            self.repo = os.path.join(self.target, "mutual-%s.git" % case.gid)
        else:
            os.mkdir(os.path.join(work, "bundles"))
            self.target = os.path.join(work, "bundles", "pantry.bundle")
            shutil.copy(case.honest_bundle, self.target)
            self.repo = None
        self.make_canaries()

    def make_canaries(self):
        c = self.canary
        os.makedirs(os.path.join(c, "project"))
        shutil.copy(self.case.db_copy, os.path.join(c, "mutual.db"))
        for name, text in (("victim.txt", "a volunteer's notes\n"), ("project/Cargo.lock", "# cargo\n"),
                           ("project/yarn.lock", "# yarn\n"), ("project/HEAD", "ref: refs/heads/main\n"),
                           ("project/config", "[core]\n"), ("project/pack_git2_keep", "x\n")):
            with open(os.path.join(c, name), "w") as f:
                f.write(text)
        shutil.copytree(self.case.honest_repo, os.path.join(c, "repo.git"))

    def path(self, rel):
        return os.path.join(self.target if self.kind != "bundle" else os.path.dirname(self.target), rel)

    def sync_target(self):
        """What `mutual sync` is given: a file:// remote is the stick's repository."""
        return "file://" + self.repo if self.kind == "url" else self.target

    def replace(self, rel, how, what="file"):
        """Put at `rel` (relative to the stick, or the bundle's folder) a link
        or special file of kind `how`, replacing what is there."""
        p = self.path(rel)
        if os.path.lexists(p):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        target_file = os.path.join(self.canary, "mutual.db")
        target_dir = os.path.join(self.canary, "project" if what == "dir" else "repo.git")
        if how == "symlink":
            os.symlink(target_dir if what in ("dir", "repo") else target_file, p)
        elif how == "dangling":
            missing = os.path.join(self.canary, "created-by-sync-" + os.path.basename(rel))
            self.dangling.append(missing)
            os.symlink(missing, p)
        elif how == "hardlink":
            os.link(target_file if what == "file" else os.path.join(self.canary, "victim.txt"), p)
        elif how == "fifo":
            os.mkfifo(p)
        elif how == "device":
            os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        elif how == "socketish":  # a folder where a file should be
            os.mkdir(p)
        else:
            raise ValueError(how)

    def write(self, rel, data):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    # -- stock git on the stick's repository

    def blob(self, data):
        return git(self.repo, "hash-object", "-w", "--stdin", data=data)

    def commit(self, tree, parent=None, message="segment 1..1\n"):
        args = ["commit-tree", tree, "-m", message]
        if parent:
            args += ["-p", parent]
        return git(self.repo, *args)

    def segment_commit(self, blob_id, parent=None):
        tree = git(self.repo, "mktree", data=("100644 blob %s\tsegment\n" % blob_id).encode())
        return self.commit(tree, parent)

    def set_ref(self, name, oid):
        git(self.repo, "update-ref", name, oid)


class HostileMedia(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory(prefix="mutual-hostile-")
        t = cls.tmpdir.name
        cls.a = clitest.new_group(os.path.join(t, "a"), "Pantry", "laptop")
        for i in range(A_EVENTS - 1):
            clitest.mutual(cls.a, "append", "pantry.note", json.dumps({"n": i}))
        cls.b_template = clitest.join_group(os.path.join(t, "b"), cls.a, "office")
        status = json.loads(clitest.mutual(cls.a, "status", "--json"))
        cls.gid, cls.dev_a = status["group_id"], status["device"]
        cls.dev_b = json.loads(clitest.mutual(cls.b_template, "status", "--json"))["device"]
        cls.honest_stick = os.path.join(t, "honest")
        os.mkdir(cls.honest_stick)
        clitest.mutual(cls.a, "sync", cls.honest_stick)
        cls.honest_repo = os.path.join(cls.honest_stick, "mutual-%s.git" % cls.gid)
        cls.a_tip = git(cls.honest_repo, "rev-parse", "refs/mutual/v1/devices/" + cls.dev_a)
        cls.pack = [n[:-5] for n in os.listdir(os.path.join(cls.honest_repo, "objects", "pack"))
                    if n.endswith(".pack")][0]
        cls.honest_bundle = os.path.join(t, "honest.bundle")
        clitest.mutual(cls.a, "sync", cls.honest_bundle)
        with open(os.path.join(cls.a, "group.key")) as f:
            cls.key_id = int(f.read().splitlines()[1].split()[0])
        cls.db_copy = os.path.join(t, "store-copy.db")
        shutil.copy(os.path.join(cls.a, "mutual.db"), cls.db_copy)
        # Another group's stick, for segments sealed with another key.
        x = clitest.new_group(os.path.join(t, "x"), "Other", "other")
        cls.other_stick = os.path.join(t, "other")
        os.mkdir(cls.other_stick)
        clitest.mutual(x, "sync", cls.other_stick)
        xs = json.loads(clitest.mutual(x, "status", "--json"))
        cls.other_repo = os.path.join(cls.other_stick, "mutual-%s.git" % xs["group_id"])
        cls.other_tip = git(cls.other_repo, "rev-parse", "refs/mutual/v1/devices/" + xs["device"])
        cls.results = []

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()

    # ------------------------------------------------------------ the check

    def check_variant(self, name, kind, mutate, expect=None):
        work = tempfile.mkdtemp(prefix=name.replace("/", "_")[:40] + "-", dir=self.tmpdir.name)
        try:
            store = os.path.join(work, "store")
            shutil.copytree(self.b_template, store, symlinks=True)
            v = Variant(self, work, kind)
            mutate(v)
            before = snapshot(v.canary)
            try:
                r = mutual(store, "sync", v.sync_target(), "--json")
            except subprocess.TimeoutExpired:
                self.fail("%s: the sync hung (more than %d s)" % (name, SYNC_TIMEOUT))
            err = r.stderr.decode("utf-8", "replace")
            self.assertGreaterEqual(r.returncode, 0, "%s: killed by signal %d: %s" % (name, -r.returncode, err))
            self.assertIn(r.returncode, (0, 1, 4, 5), "%s: exit %d: %s" % (name, r.returncode, err))
            self.assertNotIn("Sanitizer", err, name)
            self.assertNotIn("runtime error", err, name)
            self.assertEqual(snapshot(v.canary), before, "%s: a canary outside the medium changed" % name)
            for missing in v.dangling:
                self.assertFalse(os.path.lexists(missing), "%s: the sync created %s" % (name, missing))
            self.check_store_clean(name, store)
            if expect:
                expect(self, v, r, err)
            self.check_honest_sync_after(name, store, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def check_store_clean(self, name, store):
        repo = os.path.join(store, "sync.git")
        self.assertFalse(os.path.lexists(os.path.join(store, "incoming.git")), "%s: quarantine left" % name)
        objects = {}
        for line in git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objectsize)").splitlines():
            oid, size = line.split()
            objects[oid] = int(size)
        reachable = set(line.split()[0] for line in git(repo, "rev-list", "--objects", "--all").splitlines() if line)
        self.assertEqual(set(objects) - reachable, set(), "%s: unreferenced objects kept in sync.git" % name)
        self.assertFalse([o for o, s in objects.items() if s > ENVELOPE_MAX], "%s: an oversized object kept" % name)
        refs = git(repo, "for-each-ref", "--format=%(refname)").split()
        self.assertFalse([r for r in refs if not r.startswith("refs/mutual/v1/")],
                         "%s: a ref outside refs/mutual/v1/ kept: %r" % (name, refs))
        r = mutual(store, "verify")
        self.assertEqual(r.returncode, 0, "%s: verify: %s" % (name, r.stderr.decode("utf-8", "replace")))

    def check_honest_sync_after(self, name, store, work):
        honest = os.path.join(work, "honest-again")
        shutil.copytree(self.honest_stick, honest)
        r = mutual(store, "sync", honest, "--json")
        self.assertEqual(r.returncode, 0, "%s: the next honest sync: %s" % (name, r.stderr.decode("utf-8", "replace")))
        devices = json.loads(clitest.mutual(store, "status", "--json"))["devices"]
        a = [d for d in devices if d["id"] == self.dev_a]
        self.assertTrue(a and a[0]["events"] == A_EVENTS, "%s: the honest device's log did not arrive" % name)

    # ---------------------------------------------------------- the variants

    def folder_paths(self):
        """Every path of a stick the sync opens, with what it normally is."""
        repo = "mutual-%s.git" % self.gid
        ref = repo + "/refs/mutual/v1/devices/" + self.dev_a
        files = ["mutual-%s.lock" % self.gid, repo + "/HEAD", repo + "/config", ref,
                 repo + "/objects/pack/%s.pack" % self.pack, repo + "/objects/pack/%s.idx" % self.pack,
                 repo + "/packed-refs", ref + ".lock", repo + "/config.lock", repo + "/HEAD.lock",
                 repo + "/packed-refs.lock", repo + "/objects/pack/pack_git2_0123abcd",
                 repo + "/objects/info/packs", repo + "/refs/mutual/v1/devices/" + self.dev_b,
                 repo + "/config.tmp-mutual"]
        dirs = [repo, repo + "/refs", repo + "/refs/mutual", repo + "/refs/mutual/v1",
                repo + "/refs/mutual/v1/devices", repo + "/objects", repo + "/objects/pack", repo + "/objects/info"]
        return files, dirs

    def test_links_and_special_files_on_a_stick(self):
        files, dirs = self.folder_paths()
        n = 0
        for rel in files:
            for how in ("symlink", "dangling", "hardlink", "fifo", "device"):
                with self.subTest(path=rel, how=how):
                    self.check_variant("folder:%s:%s" % (how, rel), "folder",
                                       lambda v, rel=rel, how=how: v.replace(rel, how))
                n += 1
        for rel in dirs:
            for what in ("dir", "repo"):
                with self.subTest(path=rel, how="symlink-" + what):
                    self.check_variant("folder:symlink-%s:%s" % (what, rel), "folder",
                                       lambda v, rel=rel, what=what: v.replace(rel, "symlink", what))
                n += 1
        type(self).results.append(("links and special files on a stick", n))

    def test_lock_link_is_refused_and_untouched(self):
        # The hole as reported: `ln -s ~/pantry/mutual.db s/mutual-<gid>.lock`.
        def expect(case, v, r, err):
            out = json.loads(r.stdout)
            case.assertEqual(r.returncode, 1, err)
            case.assertIn("refusing", out["error"])
            case.assertFalse(out["safe_to_remove"])
        for how in ("symlink", "hardlink"):
            self.check_variant("lock-" + how, "folder",
                               lambda v, how=how: v.replace("mutual-%s.lock" % self.gid, how), expect)

    def test_repository_pointing_elsewhere(self):
        repo = "mutual-%s.git" % self.gid
        outside = lambda v: os.path.join(v.canary, "repo.git")  # noqa: E731
        cases = {
            "alternates": lambda v: v.write(repo + "/objects/info/alternates", (outside(v) + "/objects\n").encode()),
            "http-alternates": lambda v: v.write(repo + "/objects/info/http-alternates", b"http://127.0.0.1:9/x\n"),
            "commondir": lambda v: v.write(repo + "/commondir", outside(v).encode() + b"\n"),
            "gitdir-file": lambda v: (shutil.rmtree(v.path(repo)), v.write(repo, b"gitdir: " + outside(v).encode())),
            "gitdir-inside": lambda v: v.write(repo + "/gitdir", outside(v).encode() + b"\n"),
            "worktrees": lambda v: os.makedirs(v.path(repo + "/worktrees/w")),
            "grafts": lambda v: v.write(repo + "/info/grafts", (self.a_tip + "\n").encode()),
            "shallow": lambda v: v.write(repo + "/shallow", (self.a_tip + "\n").encode()),
            "huge-packed-refs": lambda v: v.write(repo + "/packed-refs", b"# pack-refs with: peeled\n" * (3 << 20)),
            "unreadable-head": lambda v: os.chmod(v.path(repo + "/HEAD"), 0),
            "unreadable-pack": lambda v: os.chmod(v.path(repo + "/objects/pack/%s.pack" % self.pack), 0),
            "unreadable-ref-folder": lambda v: os.chmod(v.path(repo + "/refs/mutual/v1/devices"), 0),
            "config-pager": lambda v: v.write(repo + "/config", b"[core]\n\tbare = true\n\tfsmonitor = touch "
                                              + os.path.join(v.canary, "ran").encode() + b"\n"),
        }
        for name, mutate in cases.items():
            with self.subTest(name=name):
                self.check_variant("redirect:" + name, "folder", mutate)
        type(self).results.append(("repositories pointing elsewhere", len(cases)))

    def forged_refs(self):
        """Device refs of the stick, forged with stock git."""
        ref_a = "refs/mutual/v1/devices/" + self.dev_a
        ref_c = "refs/mutual/v1/devices/" + "c" * 64
        other = self.other_repo

        def copy_other(v):
            pack = [n for n in os.listdir(os.path.join(other, "objects", "pack")) if n.endswith(".pack")][0]
            with open(os.path.join(other, "objects", "pack", pack), "rb") as f:
                git(v.repo, "index-pack", "--stdin", data=f.read())

        def junk_chain(v, n, ref):
            # Segment-shaped commits of junk, in one stock git process.
            stream = []
            for i in range(n):
                blob = b"junk %d" % i
                stream.append(b"commit %s\ncommitter m <m@invalid> 0 +0000\ndata 0\n"
                              b"M 100644 inline segment\ndata %d\n%s\n" % (ref.encode(), len(blob), blob))
            git(v.repo, "fast-import", "--quiet", data=b"".join(stream))

        def missing_parent(v):
            tree = git(v.repo, "mktree", data=("100644 blob %s\tsegment\n" % v.blob(b"junk")).encode())
            body = "tree %s\nparent %s\nauthor m <m@invalid> 0 +0000\ncommitter m <m@invalid> 0 +0000\n\nx\n" % (
                tree, "1" * 40)
            c = git(v.repo, "hash-object", "-t", "commit", "-w", "--stdin", "--literally", data=body.encode())
            v.set_ref(ref_c, c)

        def two_entries(v):
            b = v.blob(b"junk")
            tree = git(v.repo, "mktree", data=("100644 blob %s\tsegment\n100644 blob %s\tz\n" % (b, b)).encode())
            v.set_ref(ref_c, v.commit(tree))

        def annotated_tag(v):
            body = "object %s\ntype commit\ntag t\ntagger m <m@invalid> 0 +0000\n\nx\n" % self.a_tip
            v.set_ref(ref_c, git(v.repo, "hash-object", "-t", "tag", "-w", "--stdin", data=body.encode()))

        big = os.urandom(ENVELOPE_MAX + 4096)
        return {
            "a-ref-to-blob": lambda v: v.set_ref(ref_a, v.blob(b"vandalised")),
            "a-ref-to-tree": lambda v: v.set_ref(ref_a, git(v.repo, "mktree", data=b"")),
            "a-ref-to-junk-segment": lambda v: v.set_ref(ref_a, v.segment_commit(v.blob(
                b"mseg\x01" + self.key_id.to_bytes(4, "big") + os.urandom(200)))),
            "a-ref-to-other-key-id": lambda v: v.set_ref(ref_a, v.segment_commit(v.blob(
                b"mseg\x01" + (self.key_id + 1).to_bytes(4, "big") + os.urandom(200)))),
            "a-ref-to-newer-envelope": lambda v: v.set_ref(ref_a, v.segment_commit(v.blob(b"mseg\x07" + os.urandom(200)))),
            "c-ref-to-blob": lambda v: v.set_ref(ref_c, v.blob(b"x")),
            "c-ref-to-tag": annotated_tag,
            "c-ref-two-entries": two_entries,
            "c-ref-missing-parent": missing_parent,
            "c-ref-oversized-blob": lambda v: v.set_ref(ref_c, v.segment_commit(v.blob(big))),
            "c-ref-junk-chain": lambda v: junk_chain(v, 3000, ref_c),
            "c-ref-a-segment": lambda v: v.set_ref(ref_c, self.a_tip),
            "a-ref-other-groups-segment": lambda v: (copy_other(v), v.set_ref(ref_a, self.other_tip)),
            "c-ref-other-groups-segment": lambda v: (copy_other(v), v.set_ref(ref_c, self.other_tip)),
            "newer-format-oversized": lambda v: v.set_ref("refs/mutual/v2/devices/x", v.segment_commit(v.blob(big))),
            "newer-format-junk-chain": lambda v: junk_chain(v, 500, "refs/mutual/v2/devices/y"),
            "newer-format-a-segment": lambda v: v.set_ref("refs/mutual/v3/x", self.a_tip),
            "outside-namespace": lambda v: v.set_ref("refs/heads/junk", v.segment_commit(v.blob(os.urandom(5 << 20)))),
            "bad-ref-names": lambda v: (v.set_ref("refs/mutual/v1/devices/" + self.dev_a.upper(), self.a_tip),
                                        v.set_ref("refs/mutual/v1/devices/short", self.a_tip),
                                        v.set_ref("refs/mutual/v1/elsewhere/x", self.a_tip)),
        }

    def test_forged_objects_and_refs_on_a_stick(self):
        cases = self.forged_refs()
        for name, mutate in cases.items():
            with self.subTest(name=name):
                self.check_variant("forged:" + name, "folder", mutate)
        type(self).results.append(("forged objects and refs on a stick", len(cases)))

    def test_file_url_remote(self):
        # A file:// remote is a folder on this machine too: the same walk.
        files, dirs = self.folder_paths()
        cases = {}
        for rel in files[1:7]:
            for how in ("symlink", "hardlink", "fifo"):
                cases["%s:%s" % (how, rel)] = lambda v, rel=rel, how=how: v.replace(rel, how)
        for rel in dirs[1:]:
            cases["symlink-dir:" + rel] = lambda v, rel=rel: v.replace(rel, "symlink", "dir")
        for name, mutate in self.forged_refs().items():
            cases["forged:" + name] = mutate
        for name, mutate in cases.items():
            with self.subTest(name=name):
                self.check_variant("url:" + name, "url", mutate)
        type(self).results.append(("file:// remotes", len(cases)))

    def test_vandalised_ref_is_repaired(self):
        ref_a = "refs/mutual/v1/devices/" + self.dev_a

        def expect(case, v, r, err):
            case.assertEqual(r.returncode, 5, err)
            case.assertIn("not a libmutual log", err)
            case.assertEqual(git(v.repo, "rev-parse", ref_a), case.a_tip, "the vandalised ref was not repaired")

        for name in ("a-ref-to-blob", "a-ref-to-junk-segment", "a-ref-other-groups-segment"):
            # The victim holds A's log: it puts it back on the stick.
            def mutate(v, name=name):
                self.forged_refs()[name](v)
            with self.subTest(name=name):
                store_with_a = os.path.join(self.tmpdir.name, "b-with-a")
                if not os.path.exists(store_with_a):
                    shutil.copytree(self.b_template, store_with_a, symlinks=True)
                    clitest.mutual(store_with_a, "sync", self.honest_stick)
                saved, type(self).b_template = self.b_template, store_with_a
                try:
                    self.check_variant("repair:" + name, "folder", mutate, expect)
                finally:
                    type(self).b_template = saved

    def test_bundles(self):
        cases = {}
        for rel in ("pantry.bundle", "pantry.bundle.lock", "pantry.bundle.tmp-1", "pantry.bundle.tmp-99999"):
            for how in ("symlink", "dangling", "hardlink", "fifo", "device"):
                if rel.startswith("pantry.bundle.tmp") and how in ("fifo", "device"):
                    continue
                cases["%s:%s" % (how, rel)] = lambda v, rel=rel, how=how: v.replace(rel, how)
        ref_a = "refs/mutual/v1/devices/" + self.dev_a
        head = ("# v2 git bundle\n%s %s\n\n" % (self.a_tip, ref_a)).encode()
        cases["junk-pack"] = lambda v: v.write("pantry.bundle", head + b"PACK\0\0\0\2\0\0\0\5" + os.urandom(20 << 20))
        cases["claims-2^31-objects"] = lambda v: v.write("pantry.bundle", head + b"PACK\0\0\0\2\x80\0\0\0" + os.urandom(4096))
        with open(self.honest_bundle, "rb") as f:
            honest = f.read()
        cases["truncated"] = lambda v: v.write("pantry.bundle", honest[:300])
        cases["not-a-bundle"] = lambda v: v.write("pantry.bundle", b"SQLite format 3\0" + os.urandom(1000))
        cases["header-only"] = lambda v: v.write("pantry.bundle", head)
        cases["refs-outside"] = lambda v: self.stock_bundle(v, {"refs/heads/junk": os.urandom(1 << 20)})
        cases["blob-under-device-ref"] = lambda v: self.stock_bundle(v, {ref_a: b"vandalised"})
        cases["newer-format-junk"] = lambda v: self.stock_bundle(v, {"refs/mutual/v2/devices/x": os.urandom(1 << 20)})
        for name, mutate in cases.items():
            with self.subTest(name=name):
                self.check_variant("bundle:" + name, "bundle", mutate)
        type(self).results.append(("bundles", len(cases)))

    def stock_bundle(self, v, refs):
        """A bundle written by stock git holding the honest refs plus `refs`
        (name -> blob data, each under a segment-shaped commit)."""
        scratch = os.path.join(v.work, "scratch.git")
        shutil.copytree(self.honest_repo, scratch)
        inner = Variant.__new__(Variant)
        inner.repo = scratch
        for name, data in refs.items():
            blob = git(scratch, "hash-object", "-w", "--stdin", data=data)
            oid = blob if data == b"vandalised" else inner.segment_commit(blob)
            git(scratch, "update-ref", name, oid)
        os.unlink(v.target)
        git(scratch, "bundle", "create", v.target, "--all")

    # ------------------------------------------- the holes, one test each

    def test_hole1_lock_linked_to_the_stores_own_database(self):
        # `ln -s ~/pantry/mutual.db s/mutual-<gid>.lock; mutual sync s` truncated it.
        def mutate(v):
            os.unlink(v.path("mutual-%s.lock" % self.gid))
            os.symlink(os.path.join(v.work, "store", "mutual.db"), v.path("mutual-%s.lock" % self.gid))

        def expect(case, v, r, err):
            case.assertEqual(r.returncode, 1)
            with open(os.path.join(v.work, "store", "mutual.db"), "rb") as f:
                case.assertEqual(f.read(16), b"SQLite format 3\0")
        self.check_variant("hole1", "folder", mutate, expect)

    def test_hole1_bundle_lock_linked(self):
        self.check_variant("hole1-bundle", "bundle", lambda v: v.replace("pantry.bundle.lock", "symlink"))
        self.check_variant("hole1-bundle-hard", "bundle", lambda v: v.replace("pantry.bundle.lock", "hardlink"))

    def test_hole2_linked_repository_keeps_other_lock_files(self):
        def expect(case, v, r, err):
            for name in ("Cargo.lock", "yarn.lock"):
                case.assertTrue(os.path.exists(os.path.join(v.canary, "project", name)))
            case.assertFalse(os.path.exists(os.path.join(v.canary, "project", "objects")))
        self.check_variant("hole2", "folder", lambda v: v.replace("mutual-%s.git" % self.gid, "symlink", "dir"),
                           expect)

    def test_hole3_links_inside_the_repository(self):
        repo = "mutual-%s.git" % self.gid
        self.check_variant("hole3-dangling-ref", "folder", lambda v: v.replace(
            repo + "/refs/mutual/v1/devices/" + self.dev_b, "dangling"))
        self.check_variant("hole3-devices-folder", "folder", lambda v: v.replace(
            repo + "/refs/mutual/v1/devices", "symlink", "dir"))

        def expect_config(case, v, r, err):
            with open(os.path.join(v.canary, "project", "config")) as f:
                case.assertNotIn("deltaCacheSize", f.read())
        self.check_variant("hole3-config", "folder", lambda v: (os.unlink(v.path(repo + "/config")), os.symlink(
            os.path.join(v.canary, "project", "config"), v.path(repo + "/config"))), expect_config)
        self.check_variant("hole3-alternates", "folder", lambda v: v.write(
            repo + "/objects/info/alternates", (os.path.join(v.canary, "repo.git", "objects") + "\n").encode()))

    def test_hole4_nothing_unverified_is_kept(self):
        def expect_small(case, v, r, err):
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(v.work, "store"))
                       for f in fs)
            case.assertLess(size, 4 << 20, "the store kept what the medium brought")
        forged = self.forged_refs()
        self.check_variant("hole4-big-blob", "folder", forged["c-ref-oversized-blob"], expect_small)
        self.check_variant("hole4-long-chain", "folder", forged["c-ref-junk-chain"], expect_small)
        junk = ("# v2 git bundle\n%s refs/mutual/v1/devices/%s\n\n" % (self.a_tip, self.dev_a)).encode()
        self.check_variant("hole4-junk-bundle", "bundle", lambda v: v.write(
            "pantry.bundle", junk + b"PACK\0\0\0\2\0\0\0\5" + os.urandom(20 << 20)), expect_small)

        def expect_not_forwarded(case, v, r, err):
            expect_small(case, v, r, err)
            again = os.path.join(v.work, "second")
            os.mkdir(again)
            mutual(os.path.join(v.work, "store"), "sync", again)
            refs = git(os.path.join(again, "mutual-%s.git" % case.gid), "for-each-ref", "--format=%(refname)")
            case.assertNotIn("refs/heads/junk", refs)
        self.check_variant("hole4-outside-refs", "folder", forged["outside-namespace"], expect_not_forwarded)

    def test_zz_count(self):
        """The generator's size, as the issue asks: at least 100 variants."""
        total = sum(n for _, n in type(self).results)
        print("\nhostile media variants: %d (%s)" % (total, ", ".join("%s: %d" % r for r in type(self).results)))
        self.assertGreaterEqual(total, 100)


class NewerFormat(unittest.TestCase):
    """A ref of a later medium version, sealed as docs/format.md fixes for
    every later version (here by PyNaCl, not libmutual): this version keeps
    and forwards it byte for byte, and only it."""

    def test_authenticated_newer_ref_is_kept_and_forwarded(self):
        from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt as seal
        with tempfile.TemporaryDirectory(prefix="mutual-newer-") as t:
            a = clitest.new_group(os.path.join(t, "a"), "Pantry", "laptop")
            b = clitest.join_group(os.path.join(t, "b"), a, "office")
            gid = json.loads(clitest.mutual(a, "status", "--json"))["group_id"]
            with open(os.path.join(a, "group.key")) as f:
                key_id, key_hex = f.read().splitlines()[1].split()
            stick = os.path.join(t, "stick")
            os.mkdir(stick)
            clitest.mutual(a, "sync", stick)
            repo = os.path.join(stick, "mutual-%s.git" % gid)
            ref = "refs/mutual/v2/devices/" + "e" * 64
            parent = None
            for i in range(3):
                header = b"mseg" + bytes([2]) + int(key_id).to_bytes(4, "big") + os.urandom(24)
                sealed = header + seal(b"a later version's segment %d" % i,
                                       header + bytes.fromhex(gid) + ref.encode(), header[9:], bytes.fromhex(key_hex))
                blob = git(repo, "hash-object", "-w", "--stdin", data=sealed)
                tree = git(repo, "mktree", data=("100644 blob %s\tsegment\n" % blob).encode())
                parent = git(repo, *(["commit-tree", tree, "-m", "segment\n"] + (["-p", parent] if parent else [])))
            git(repo, "update-ref", ref, parent)
            # The same, but under another ref name than it was sealed for.
            git(repo, "update-ref", "refs/mutual/v2/devices/" + "f" * 64, parent)
            r = mutual(b, "sync", stick, "--json")
            out = json.loads(r.stdout)
            self.assertEqual(r.returncode, 5, r.stderr)
            self.assertEqual((out["newer_format"], out["refused"]), (1, 1), out)
            store_repo = os.path.join(b, "sync.git")
            self.assertEqual(git(store_repo, "rev-parse", ref), parent)
            self.assertNotIn("f" * 64, git(store_repo, "for-each-ref"))
            # Passed on byte for byte, to a folder and in a bundle.
            second = os.path.join(t, "second")
            os.mkdir(second)
            clitest.mutual(b, "sync", second)
            self.assertEqual(git(os.path.join(second, "mutual-%s.git" % gid), "rev-parse", ref), parent)
            bundle = os.path.join(t, "out.bundle")
            clitest.mutual(b, "sync", bundle)
            self.assertIn("%s %s" % (parent, ref), git(store_repo, "bundle", "list-heads", bundle))


if __name__ == "__main__":
    unittest.main()
