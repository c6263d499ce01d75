"""`mutual sync` against real git servers on loopback.

Run from the source tree with the path of the built binary in MUTUAL_CLI:

    MUTUAL_CLI=build/cli/mutual python3 -m unittest -v tests/sync/test_sync_servers.py

Each test starts its own server on a free port of 127.0.0.1 and always stops
it: `git daemon` (git://) from Debian's git package, or OpenSSH's sshd
(ssh://, as root with a throw-away host key, client key and HOME). Nothing
is skipped: a server that cannot start fails the test with its output.

What is checked:
 - three stores of one group (init, invite, join) converge through the
   server to byte-identical `log --json`, twice (a second round of new
   events), and the sync figures (events sent and received) are exact;
 - a store of another group whose log lands on the same hub is refused
   (exit 5) while the group's own stores still sync with each other;
 - what reached the server is a valid repository for stock git (`git fsck`,
   one ref per device under refs/mutual/v1/devices/, a stock `git clone`
   works) and holds no plaintext payload;
 - ssh: the server's host key is checked against HOME/.ssh/known_hosts
   (a wrong or missing entry, plain or hashed, fails the sync: exit 1,
   nothing sent); a hashed entry for one of a server's several host keys is
   enough; a client key the server does not accept fails promptly, with a
   message that says so;
 - the sync figures count the git objects moved over a remote too.

Only the Python standard library is used. The sshd tests need root (the
server logs in as root) and /usr/sbin/sshd.
"""

import json
import os
import sys
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402  (the shared helpers, tests/helpers)

CLI = None  # absolute path of the binary, set by setUpModule()

TIMEOUT = 60          # seconds: a hang guard for each child process, not a timing assertion
SERVER_START = 10.0   # seconds to wait for a server to accept connections
SSHD = "/usr/sbin/sshd"
DEVICE_REFS = "refs/mutual/v1/devices/"

HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
ID_RE = re.compile(r"^([0-9a-f]{64}):([1-9][0-9]*)$")

EXIT_OK, EXIT_FAIL, EXIT_REFUSED = 0, 1, 5


def setUpModule():
    global CLI
    CLI = clitest.cli_path()


def describe(r):
    return "command %r exited %s\nstdout: %r\nstderr: %r" % (
        r.args, r.returncode, r.stdout[:3000], r.stderr[:3000])


def free_port():
    """A port of 127.0.0.1 free right now (bound to port 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_text(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


class ServerTestCase(unittest.TestCase):
    """A temporary folder, a server on loopback, and CLI helpers."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="mutual-server-test-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.env = dict(os.environ)
        for k in ("MUTUAL_STORE", "SSH_AUTH_SOCK", "GIT_DIR", "GIT_SSH", "GIT_SSH_COMMAND"):
            self.env.pop(k, None)
        # Stock git (the servers, fsck, clone) with no configuration of
        # this machine's or its user's: the same on a fresh machine.
        self.env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C.UTF-8")

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # -- processes

    def run_cmd(self, argv, env=None, timeout=TIMEOUT):
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env if env is not None else self.env,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail("command %r did not finish within %d s (a hang?)\nstdout: %r\nstderr: %r" % (
                argv, timeout, (e.stdout or b"")[:3000], (e.stderr or b"")[:3000]))
        return subprocess.CompletedProcess(
            r.args, r.returncode,
            r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"))

    def mutual(self, store, *args, env=None):
        return self.run_cmd([CLI, "--store", store] + list(args), env=env)

    def git(self, *args, ok=True):
        r = self.run_cmd(["git"] + list(args))
        if ok:
            self.assertEqual(r.returncode, 0, describe(r))
        return r

    def start_server(self, name, argv_for_port, log_path):
        """Start the server argv_for_port(port) on a free port and wait until
        it accepts connections; stop it at cleanup. A lost race for the port
        is retried on another; anything else fails the test with the
        server's output."""
        failures = []
        for _ in range(3):
            port = free_port()
            argv = argv_for_port(port)
            log = open(log_path, "ab")
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, env=self.env)
            except OSError as e:
                self.fail("cannot start %s (%r): %s" % (name, argv, e))
            finally:
                log.close()
            self.addCleanup(self.stop_server, proc)
            deadline = time.monotonic() + SERVER_START
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        return port
                except OSError:
                    time.sleep(0.05)
            output = read_text(log_path)
            if proc.poll() is None:
                self.fail("%s did not accept connections on 127.0.0.1:%d within %.0f s\n"
                          "command: %r\noutput:\n%s" % (name, port, SERVER_START, argv, output))
            failures.append("command %r exited %d" % (argv, proc.returncode))
            if "Address already in use" not in output:
                break
        self.fail("%s could not start:\n%s\noutput:\n%s" % (name, "\n".join(failures), read_text(log_path)))

    @staticmethod
    def stop_server(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    # -- stores

    def assertOk(self, r):
        self.assertEqual(r.returncode, EXIT_OK, describe(r))
        return r

    def init(self, name, group, device, env=None):
        store = self.path(name)
        self.assertOk(self.mutual(store, "init", "--group", group, "--device", device, env=env))
        return store

    def join(self, inviter, name, device, env=None):
        inv = self.path("invite-%s.txt" % name)
        self.assertOk(self.mutual(inviter, "invite", "--out", inv, env=env))
        store = self.path(name)
        self.assertOk(self.mutual(store, "join", inv, "--device", device, env=env))
        os.unlink(inv)
        return store

    def append(self, store, type_, payload, env=None):
        r = self.assertOk(self.mutual(store, "append", type_, json.dumps(payload), env=env))
        out = r.stdout.strip()
        self.assertRegex(out, ID_RE, describe(r))
        return out

    def log_raw(self, store, env=None):
        r = self.assertOk(self.mutual(store, "log", "--json", env=env))
        self.assertTrue(r.stdout == "" or r.stdout.endswith("\n"), describe(r))
        return r.stdout

    def log_json(self, store, env=None):
        events = []
        for line in self.log_raw(store, env=env).splitlines():
            try:
                events.append(json.loads(line))
            except ValueError as e:
                self.fail("log --json printed a line that is not JSON (%s): %r" % (e, line))
        return events

    def log_ids(self, store, env=None):
        return {e["id"] for e in self.log_json(store, env=env)}

    def status(self, store, env=None):
        r = self.assertOk(self.mutual(store, "status", "--json", env=env))
        try:
            return json.loads(r.stdout)
        except ValueError as e:
            self.fail("status --json is not JSON (%s): %r" % (e, r.stdout))

    def device_id(self, store, env=None):
        dev = self.status(store, env=env)["device"]
        self.assertRegex(dev, HEX64_RE)
        return dev

    def verify(self, store, env=None):
        self.assertOk(self.mutual(store, "verify", env=env))

    def sync(self, store, url, expect=EXIT_OK, env=None):
        """`mutual sync URL --json`: assert the exit status and the JSON's
        shape; return (parsed JSON, CompletedProcess)."""
        r = self.mutual(store, "sync", url, "--json", env=env)
        self.assertGreaterEqual(r.returncode, 0, "killed by signal %d\n%s" % (-r.returncode, describe(r)))
        self.assertEqual(r.returncode, expect, describe(r))
        self.assertEqual(r.stdout.count("\n"), 1, "expected one JSON line\n" + describe(r))
        try:
            st = json.loads(r.stdout)
        except ValueError as e:
            self.fail("sync --json is not JSON (%s)\n%s" % (e, describe(r)))
        for key in ("ok", "events_sent", "events_received", "segments_sent", "segments_received",
                    "devices_updated", "refused", "objects_sent", "objects_received",
                    "safe_to_remove", "error"):
            self.assertIn(key, st, describe(r))
        self.assertIs(st["ok"], expect == EXIT_OK, describe(r))
        if expect == EXIT_OK:
            self.assertEqual(st["error"], "", describe(r))
            self.assertEqual(st["refused"], 0, describe(r))
            self.assertIs(st["safe_to_remove"], True, describe(r))
        else:
            self.assertNotEqual(st["error"], "", describe(r))
        return st, r

    def sync_tracked(self, store, url, hub, env=None):
        """Sync with nothing refused and check the figures exactly. `hub` is
        the set of event ids the hub holds (the test's model of it), updated
        here: after a full sync the store holds all the hub held, and the
        hub all the store held."""
        before = self.log_ids(store, env=env)
        st, r = self.sync(store, url, env=env)
        after = self.log_ids(store, env=env)
        self.assertEqual(after, before | hub,
                         "the store did not end up with everything the hub held\n" + describe(r))
        self.assertEqual(st["events_received"], len(after - before), describe(r))
        self.assertEqual(st["events_sent"], len(before - hub), describe(r))
        if st["events_received"]:
            self.assertGreater(st["segments_received"], 0, describe(r))
            self.assertGreater(st["devices_updated"], 0, describe(r))
        else:
            self.assertEqual(st["segments_received"], 0, describe(r))
            self.assertEqual(st["devices_updated"], 0, describe(r))
        if st["events_sent"]:
            self.assertGreater(st["segments_sent"], 0, describe(r))
        hub.clear()
        hub.update(after)
        return st

    # -- the server's repository

    def hub_refs(self, bare):
        """{device hex: commit} of the device refs in the bare repository."""
        r = self.git("-C", bare, "for-each-ref", "--format=%(objectname) %(objecttype) %(refname)",
                     DEVICE_REFS)
        refs = {}
        for line in r.stdout.splitlines():
            oid, kind, name = line.split(" ", 2)
            self.assertTrue(name.startswith(DEVICE_REFS), line)
            dev = name[len(DEVICE_REFS):]
            self.assertRegex(dev, HEX64_RE, "a device ref that is not 64 hex: %r" % line)
            self.assertEqual(kind, "commit", line)
            self.assertNotIn(dev, refs, "two refs for one device: %r" % r.stdout)
            refs[dev] = oid
        return refs

    def check_hub(self, bare, devices, secrets=()):
        """Stock git finds a sound repository with exactly one ref per device
        under refs/mutual/v1/devices/, and none of `secrets` in any object."""
        r = self.git("-C", bare, "fsck", "--full", "--strict", "--no-dangling", ok=False)
        self.assertEqual(r.returncode, 0, "git fsck found problems on the server's repository\n" + describe(r))
        refs = self.hub_refs(bare)
        self.assertEqual(set(refs), set(devices), "expected one ref per device")
        for dev, oid in refs.items():
            # every commit of a device's log holds exactly one blob, "segment"
            commits = self.git("-C", bare, "rev-list", oid).stdout.split()
            self.assertGreater(len(commits), 0)
            for c in commits:
                tree = self.git("-C", bare, "ls-tree", c).stdout.splitlines()
                self.assertEqual(len(tree), 1, "commit %s of device %s: %r" % (c, dev, tree))
                self.assertRegex(tree[0], r"^100644 blob [0-9a-f]{40}\tsegment$")
        if secrets:
            dump = self.run_cmd(["git", "-C", bare, "cat-file", "--batch-all-objects", "--batch"])
            self.assertEqual(dump.returncode, 0, describe(dump))
            for s in secrets:
                self.assertNotIn(s, dump.stdout, "plaintext %r reached the server" % s)
        return refs

    # -- scenarios shared by the servers

    def scenario_three_stores_converge(self, url, bare, env=None, clone_url=None):
        a = self.init("a", "Food pantry", "pantry-laptop", env=env)
        b = self.join(a, "b", "office-pc", env=env)
        c = self.join(b, "c", "volunteer", env=env)  # a joined device invites too
        stores = [a, b, c]
        devs = [self.device_id(s, env=env) for s in stores]
        self.assertEqual(len(set(devs)), 3)
        secret = "rice-for-%s" % os.urandom(6).hex()
        self.append(a, "pantry.stock.in", {"item": secret, "qty": 40}, env=env)
        self.append(b, "pantry.stock.out", {"item": "beans", "qty": 3}, env=env)
        self.append(c, "pantry.delivery", {"to": "Maria Q.", "bags": 2}, env=env)
        self.append(c, "pantry.delivery", {"to": "J. Doe", "bags": 1}, env=env)
        hub = set()
        expected = set()
        for s in stores:
            expected |= self.log_ids(s, env=env)

        # round 1: a, b, c, then a and b again for what came after them
        for s in [a, b, c, a, b]:
            self.sync_tracked(s, url, hub, env=env)
        logs = [self.log_raw(s, env=env) for s in stores]
        self.assertEqual(logs[0], logs[1], "stores a and b differ after round 1")
        self.assertEqual(logs[0], logs[2], "stores a and c differ after round 1")
        self.assertEqual(self.log_ids(a, env=env), expected)
        for s in stores:
            st = self.sync_tracked(s, url, hub, env=env)
            self.assertEqual((st["events_sent"], st["events_received"]), (0, 0),
                             "a sync with nothing new moved events")
            self.verify(s, env=env)
            self.assertEqual(sorted(d["id"] for d in self.status(s, env=env)["devices"]), sorted(devs))
        refs1 = self.check_hub(bare, devs, secrets=[secret, "Maria Q.", "Food pantry", "office-pc"])

        # round 2: new events everywhere, then the same again
        for i, s in enumerate(stores):
            self.append(s, "pantry.round2", {"store": i, "n": 1}, env=env)
            self.append(s, "pantry.round2", {"store": i, "n": 2}, env=env)
            expected |= self.log_ids(s, env=env)
        for s in [c, b, a, c, b]:
            self.sync_tracked(s, url, hub, env=env)
        logs = [self.log_raw(s, env=env) for s in stores]
        self.assertEqual(logs[0], logs[1], "stores a and b differ after round 2")
        self.assertEqual(logs[0], logs[2], "stores a and c differ after round 2")
        self.assertEqual(self.log_ids(a, env=env), expected)
        self.assertEqual(len(expected), (2 + 2 + 3) + 6)  # incl. the create and join events
        for s in stores:
            self.verify(s, env=env)
        refs2 = self.check_hub(bare, devs, secrets=[secret, "Maria Q."])
        for d in devs:
            self.assertNotEqual(refs1[d], refs2[d], "device %s's ref did not move in round 2" % d[:16])
            # append-only: round 1's tip is an ancestor of round 2's
            r = self.git("-C", bare, "merge-base", "--is-ancestor", refs1[d], refs2[d], ok=False)
            self.assertEqual(r.returncode, 0, "device %s's log was rewritten on the server" % d[:16])

        if clone_url:
            # stock git reads the hub through the same server
            mirror = self.path("mirror.git")
            self.git("clone", "--quiet", "--mirror", clone_url, mirror)
            self.assertEqual(self.hub_refs(mirror), refs2)
            self.git("-C", mirror, "fsck", "--full", "--strict", "--no-dangling")


class TestGitDaemon(ServerTestCase):
    """git:// through `git daemon --enable=receive-pack`."""

    def setUp(self):
        super().setUp()
        self.base = self.path("base")
        self.bare = os.path.join(self.base, "hub.git")
        os.makedirs(self.base)
        self.git("init", "--quiet", "--bare", self.bare)
        self.port = self.start_server("git daemon", lambda port: [
            "git", "daemon", "--base-path=" + self.base, "--export-all", "--enable=receive-pack",
            "--listen=127.0.0.1", "--port=%d" % port, "--reuseaddr", "--informative-errors", self.base,
        ], self.path("git-daemon.log"))
        self.url = "git://127.0.0.1:%d/hub.git" % self.port

    def test_three_stores_converge_through_git_daemon(self):
        self.scenario_three_stores_converge(self.url, self.bare, clone_url=self.url)

    def test_another_groups_log_is_refused_but_the_group_still_syncs(self):
        a = self.init("a", "Food pantry", "pantry-laptop")
        b = self.join(a, "b", "office-pc")
        c = self.init("c", "Rent fund", "treasurer")  # another group, same hub
        da, db, dc = (self.device_id(s) for s in (a, b, c))
        secret = "rent-%s" % os.urandom(6).hex()
        self.append(c, "rent.paid", {"who": secret, "amount": 500})
        self.append(a, "pantry.stock.in", {"item": "rice", "qty": 40})
        self.append(b, "pantry.stock.in", {"item": "oil", "qty": 5})
        log_c = self.log_raw(c)

        st, _ = self.sync(c, self.url)  # the hub is empty: nothing to refuse
        self.assertEqual(st["events_sent"], len(log_c.splitlines()))
        ref_c = self.hub_refs(self.bare)[dc]

        ids_a = self.log_ids(a)
        st, r = self.sync(a, self.url, expect=EXIT_REFUSED)
        self.assertEqual(st["refused"], 1, describe(r))
        self.assertEqual(st["events_received"], 0, describe(r))
        self.assertEqual(st["events_sent"], len(ids_a), "a's own log must still be sent\n" + describe(r))
        self.assertIs(st["safe_to_remove"], True, describe(r))
        self.assertIn(dc[:16], r.stderr, "the refusal should name c's device\n" + describe(r))
        self.assertIn("refused", st["error"], describe(r))

        st, r = self.sync(b, self.url, expect=EXIT_REFUSED)
        self.assertEqual(st["refused"], 1, describe(r))
        self.assertEqual(st["events_received"], len(ids_a), describe(r))
        self.assertGreater(st["events_sent"], 0, describe(r))
        st, r = self.sync(a, self.url, expect=EXIT_REFUSED)
        self.assertEqual(st["refused"], 1, describe(r))
        self.assertGreater(st["events_received"], 0, describe(r))

        # a and b hold the same log, and nothing of c's
        self.assertEqual(self.log_raw(a), self.log_raw(b))
        for e in self.log_json(a):
            self.assertIn(e["device"], (da, db), "an event of another group was imported: %r" % e)
        for s in (a, b):
            self.assertEqual(sorted(d["id"] for d in self.status(s)["devices"]), sorted([da, db]))
            self.verify(s)

        # c refuses both of the first group's logs and keeps its own
        st, r = self.sync(c, self.url, expect=EXIT_REFUSED)
        self.assertEqual(st["refused"], 2, describe(r))
        self.assertEqual(st["events_received"], 0, describe(r))
        self.assertEqual(st["events_sent"], 0, describe(r))
        self.assertEqual(self.log_raw(c), log_c)
        self.verify(c)

        # the hub keeps all three logs, c's untouched
        refs = self.check_hub(self.bare, [da, db, dc], secrets=[secret, "Rent fund", "Food pantry"])
        self.assertEqual(refs[dc], ref_c, "c's log on the hub was changed by the other group's syncs")

    def test_sync_figures_count_the_git_objects_moved(self):
        # mutual.h: objects_sent = "git objects written to the target",
        # objects_received = "git objects read from the target into the store".
        a = self.init("a", "Food pantry", "pantry-laptop")
        b = self.join(a, "b", "office-pc")
        self.append(a, "pantry.stock.in", {"item": "rice", "qty": 40})
        st, r = self.sync(a, self.url)
        self.assertGreater(st["segments_sent"], 0, describe(r))
        self.assertGreater(st["objects_sent"], 0,
                           "segments were pushed to the server but objects_sent is 0\n" + describe(r))
        st, r = self.sync(b, self.url)
        self.assertGreater(st["segments_received"], 0, describe(r))
        self.assertGreater(st["objects_received"], 0,
                           "segments were fetched from the server but objects_received is 0\n" + describe(r))


class SshdTestCase(ServerTestCase):
    """ssh:// through OpenSSH's sshd, logging in as root with a throw-away
    key; mutual runs with HOME set to a temporary home whose .ssh holds the
    client key (id_ed25519) and known_hosts."""

    EXTRA_HOST_KEYS = ()  # key types the server offers besides ed25519

    def setUp(self):
        super().setUp()
        if not os.path.exists(SSHD):
            self.fail("%s is missing (Debian: apt-get install openssh-server)" % SSHD)
        if os.geteuid() != 0:
            self.fail("the sshd tests log in as root: run them as root")
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation folder
        self.home = self.path("home")
        self.ssh_dir = os.path.join(self.home, ".ssh")
        os.makedirs(self.ssh_dir, mode=0o700)
        self.host_key = self.path("ssh_host_ed25519_key")
        self.client_key = os.path.join(self.ssh_dir, "id_ed25519")
        self.keygen(self.host_key)
        self.keygen(self.client_key)
        self.extra_host_keys = []
        for kind in self.EXTRA_HOST_KEYS:
            self.extra_host_keys.append(self.path("ssh_host_%s_key" % kind))
            self.keygen(self.extra_host_keys[-1], kind)
        self.authorized = self.path("authorized_keys")
        shutil.copyfile(self.client_key + ".pub", self.authorized)
        self.bare = self.path("hub.git")
        self.git("init", "--quiet", "--bare", self.bare)
        self.config = self.path("sshd_config")
        self.port = self.start_server("sshd", self.sshd_argv, self.path("sshd.log"))
        self.url = "ssh://root@127.0.0.1:%d%s" % (self.port, self.bare)
        self.known_hosts = os.path.join(self.ssh_dir, "known_hosts")
        self.write_known_hosts(self.host_key + ".pub")
        self.env = dict(self.env, HOME=self.home)

    def keygen(self, path, kind="ed25519"):
        r = self.run_cmd(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "mutual-test", "-f", path])
        self.assertEqual(r.returncode, 0, describe(r))

    def sshd_argv(self, port):
        with open(self.config, "w") as f:
            f.write("\n".join(
                ["Port %d" % port, "ListenAddress 127.0.0.1", "HostKey %s" % self.host_key]
                + ["HostKey %s" % k for k in self.extra_host_keys]
                + ["AuthorizedKeysFile %s" % self.authorized,
                   "PidFile %s" % self.path("sshd.pid"),
                   "UsePAM no",
                   "PasswordAuthentication no",
                   "KbdInteractiveAuthentication no",
                   "PubkeyAuthentication yes",
                   "StrictModes no",
                   "PermitRootLogin prohibit-password",
                   ""]))
        return [SSHD, "-D", "-e", "-f", self.config]

    def write_known_hosts(self, pub_path):
        with open(pub_path) as f:
            kind, key = f.read().split()[:2]
        with open(self.known_hosts, "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (self.port, kind, key))

    def hash_known_hosts(self):
        """Hash the host names as `ssh-keygen -H` does (Debian's ssh writes
        hashed entries: HashKnownHosts yes in /etc/ssh/ssh_config)."""
        r = self.run_cmd(["ssh-keygen", "-H", "-f", self.known_hosts])
        self.assertEqual(r.returncode, 0, describe(r))
        os.unlink(self.known_hosts + ".old")
        with open(self.known_hosts) as f:
            text = f.read()
        self.assertTrue(text.startswith("|1|") and "127.0.0.1" not in text, text)

    def assertSshRefused(self, store, words):
        """The sync fails (exit 1) before anything moves, saying why."""
        before = self.log_raw(store, env=self.env)
        st, r = self.sync(store, self.url, expect=EXIT_FAIL, env=self.env)
        self.assertIs(st["safe_to_remove"], False, describe(r))
        self.assertEqual((st["events_sent"], st["events_received"]), (0, 0), describe(r))
        self.assertTrue(any(w in st["error"].lower() for w in words),
                        "the error should say what went wrong (%r)\n%s" % (words, describe(r)))
        self.assertEqual(self.hub_refs(self.bare), {}, "something reached the server\n" + describe(r))
        self.assertEqual(self.log_raw(store, env=self.env), before)
        # the human-readable form: exit 1, one line on stderr
        r = self.mutual(store, "sync", self.url, env=self.env)
        self.assertEqual(r.returncode, EXIT_FAIL, describe(r))
        self.assertTrue(r.stderr.startswith("mutual: ") and r.stderr.count("\n") == 1, describe(r))
        return st


class TestSshd(SshdTestCase):

    def test_three_stores_converge_through_sshd(self):
        self.scenario_three_stores_converge(self.url, self.bare, env=self.env)

    def test_a_wrong_host_key_in_known_hosts_fails_the_sync(self):
        a = self.init("a", "Food pantry", "pantry-laptop", env=self.env)
        self.append(a, "pantry.stock.in", {"item": "rice", "qty": 40}, env=self.env)
        other = self.path("other_host_key")
        self.keygen(other)
        self.write_known_hosts(other + ".pub")
        self.assertSshRefused(a, ("hostkey", "host key"))
        # with the right key the same store syncs, nothing lost
        self.write_known_hosts(self.host_key + ".pub")
        st, r = self.sync(a, self.url, env=self.env)
        self.assertEqual(st["events_sent"], len(self.log_json(a, env=self.env)), describe(r))
        self.check_hub(self.bare, [self.device_id(a, env=self.env)])

    def test_an_unknown_host_fails_the_sync(self):
        # no trust on first use: without a known_hosts entry, no sync
        a = self.init("a", "Food pantry", "pantry-laptop", env=self.env)
        os.unlink(self.known_hosts)
        self.assertSshRefused(a, ("hostkey", "host key"))
        with open(self.known_hosts, "w") as f:  # a known_hosts naming other hosts only
            with open(self.host_key + ".pub") as pub:
                f.write("[127.0.0.1]:%d %s\n" % (self.port + 1 if self.port < 65535 else 1,
                                                   " ".join(pub.read().split()[:2])))
        self.assertSshRefused(a, ("hostkey", "host key"))

    def test_a_client_key_the_server_refuses_fails_promptly(self):
        a = self.init("a", "Food pantry", "pantry-laptop", env=self.env)
        with open(self.authorized, "w") as f:
            f.write("")  # the server accepts no key at all
        t0 = time.monotonic()
        self.assertSshRefused(a, ("auth", "credential", "key"))
        self.assertLess(time.monotonic() - t0, 30, "authentication failures should not retry for long")
        # and with no key at all in HOME/.ssh
        os.unlink(self.client_key)
        self.assertSshRefused(a, ("auth", "credential", "key"))

    def test_a_refused_client_key_is_reported_as_such(self):
        # README: "one line on stderr says what and what to do". The keys
        # mutual offers come from ssh-agent and ~/.ssh; when the server
        # takes none of them, the message must say so, not blame a missing
        # libgit2 callback.
        a = self.init("a", "Food pantry", "pantry-laptop", env=self.env)
        with open(self.authorized, "w") as f:
            f.write("")
        st = self.assertSshRefused(a, ("auth",))
        self.assertNotIn("no callback set", st["error"], "a misleading message: %r" % st["error"])
        self.assertTrue("key" in st["error"].lower() or ".ssh" in st["error"],
                        "the message should name the key(s) refused: %r" % st["error"])

    def test_a_wrong_hashed_known_hosts_entry_fails_the_sync(self):
        a = self.init("a", "Food pantry", "pantry-laptop", env=self.env)
        other = self.path("other_host_key")
        self.keygen(other)
        self.write_known_hosts(other + ".pub")
        self.hash_known_hosts()
        self.assertSshRefused(a, ("hostkey", "host key"))


class TestSshdSeveralHostKeys(SshdTestCase):
    """A server offering ed25519, ecdsa and rsa host keys (as stock sshd
    does), the client knowing only one of them, by a hashed entry (what
    Debian's ssh writes)."""

    EXTRA_HOST_KEYS = ("ecdsa", "rsa")

    def check_two_stores_sync(self):
        a = self.init("a", "Food pantry", "pantry-laptop", env=self.env)
        b = self.join(a, "b", "office-pc", env=self.env)
        self.append(a, "pantry.stock.in", {"item": "rice", "qty": 40}, env=self.env)
        self.append(b, "pantry.stock.in", {"item": "oil", "qty": 5}, env=self.env)
        hub = set()
        for s in (a, b, a):
            self.sync_tracked(s, self.url, hub, env=self.env)
        self.assertEqual(self.log_raw(a, env=self.env), self.log_raw(b, env=self.env))
        self.check_hub(self.bare, [self.device_id(s, env=self.env) for s in (a, b)])

    def test_a_hashed_ed25519_entry_is_enough(self):
        self.hash_known_hosts()
        self.check_two_stores_sync()

    def test_a_hashed_ecdsa_entry_is_enough(self):
        self.write_known_hosts(self.extra_host_keys[0] + ".pub")
        self.hash_known_hosts()
        self.check_two_stores_sync()


if __name__ == "__main__":
    unittest.main()
