"""Black-box tests of the `mutual` command line tool.

Run from the source tree with the path of the built binary in MUTUAL_CLI:

    MUTUAL_CLI=build/cli/mutual python3 -m unittest -v tests/cli/test_cli.py

Only the Python standard library is used. Every test works in its own
temporary folder and reads the state back through the CLI (the corruption
tests also reach into the SQLite file with Python's sqlite3 module, on
purpose, to damage it). The read-only test needs root, for a bind mount.
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402  (the shared helpers, tests/helpers)

CLI = None  # absolute path of the binary, set by setUpModule()

TIMEOUT = 120  # seconds: a hang guard for each child process, not a timing assertion

ID_RE = re.compile(r"^([0-9a-f]{64}):([1-9][0-9]*)$")
HEX32_RE = re.compile(r"^[0-9a-f]{32}$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")

PAYLOAD_MAX = 1048576  # MUTUAL_PAYLOAD_MAX


def setUpModule():
    global CLI
    CLI = clitest.cli_path()


def child_env(**extra):
    """The environment for the CLI: ours without MUTUAL_STORE, plus `extra`."""
    env = dict(os.environ)
    env.pop("MUTUAL_STORE", None)
    env.update(extra)
    return env


def run(*args, store=None, stdin=None, env=None, umask=-1):
    """Run the CLI with argument list `args` (and --store STORE first if
    given). `stdin` is bytes or str. Returns a CompletedProcess whose stdout
    and stderr are str (UTF-8, undecodable bytes replaced)."""
    argv = [CLI]
    if store is not None:
        argv += ["--store", store]
    argv += list(args)
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    r = subprocess.run(argv, input=stdin if stdin is not None else b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env if env is not None else child_env(),
                       timeout=TIMEOUT, umask=umask)
    return subprocess.CompletedProcess(
        r.args, r.returncode,
        r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"))


def describe(r):
    return "command %r exited %d\nstdout: %r\nstderr: %r" % (
        r.args[1:], r.returncode, r.stdout[:2000], r.stderr[:2000])


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree_snapshot(folder):
    """{name: (mode, sha256)} of every file in `folder`."""
    snap = {}
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name)
        st = os.lstat(p)
        snap[name] = (stat.S_IMODE(st.st_mode), file_digest(p) if stat.S_ISREG(st.st_mode) else None)
    return snap


class CliTestCase(unittest.TestCase):
    """Helpers shared by the tests."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="mutual-cli-test-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # -- assertions

    def assertOk(self, r):
        self.assertEqual(r.returncode, 0, describe(r))
        return r

    def assertOneLineError(self, r, status=1):
        """Exit `status`, and stderr is exactly one line starting "mutual: "."""
        self.assertEqual(r.returncode, status, describe(r))
        self.assertTrue(r.stderr.startswith("mutual: "), describe(r))
        self.assertTrue(r.stderr.endswith("\n"), describe(r))
        self.assertEqual(r.stderr.count("\n"), 1, "expected a one-line error\n" + describe(r))
        self.assertGreater(len(r.stderr.strip()), len("mutual:"), describe(r))

    def assertFailedCleanly(self, r):
        """Non-zero exit (1 or 3), not killed by a signal, one line on stderr."""
        self.assertGreaterEqual(r.returncode, 0, "killed by signal %d\n%s" % (-r.returncode, describe(r)))
        self.assertIn(r.returncode, (1, 3), describe(r))
        self.assertTrue(r.stderr.startswith("mutual: "), describe(r))
        self.assertEqual(r.stderr.count("\n"), 1, "expected a one-line error\n" + describe(r))

    # -- CLI wrappers

    def init(self, store, group="Food pantry", device="laptop", **kw):
        return self.assertOk(run("init", "--group", group, "--device", device, store=store, **kw))

    def append(self, store, type_, payload):
        """Append (payload: a JSON text), return the printed id."""
        r = self.assertOk(run("append", type_, payload, store=store))
        out = r.stdout.strip()
        self.assertRegex(out, ID_RE, describe(r))
        self.assertEqual(r.stdout.count("\n"), 1, describe(r))
        return out

    def log_json(self, store, *filters):
        r = self.assertOk(run("log", "--json", *filters, store=store))
        events = []
        for line in r.stdout.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError as e:
                self.fail("log --json printed a line that is not JSON (%s): %r" % (e, line))
        self.assertTrue(r.stdout == "" or r.stdout.endswith("\n"), describe(r))
        return events

    def log_raw(self, store):
        return self.assertOk(run("log", "--json", store=store)).stdout

    def status_json(self, store):
        r = self.assertOk(run("status", "--json", store=store))
        try:
            return json.loads(r.stdout)
        except ValueError as e:
            self.fail("status --json is not JSON (%s): %r" % (e, r.stdout))

    def make_store(self, name="store", n_events=3, group="Food pantry", device="laptop"):
        store = self.path(name)
        self.init(store, group=group, device=device)
        for i in range(n_events):
            self.append(store, "pantry.stock.in", json.dumps({"item": "item%d" % i, "qty": i}))
        return store


class TestRoundTrip(CliTestCase):

    def test_init_append_log_show_status_round_trip(self):
        store = self.path("pantry")
        r = self.init(store)
        self.assertIn("Food pantry", r.stdout)

        appended = [
            ("pantry.stock.in", {"item": "rice", "qty": 3}),
            ("pantry.stock.out", {"note": "caf\u00e9 \u2603 \"quoted\" back\\slash",
                                  "tags": ["a", "b"], "nested": {"x": None, "y": True, "z": -1.5e3}}),
            ("pantry.visit_2-x", {}),
        ]
        ids = []
        for type_, payload in appended:
            ids.append(self.append(store, type_, json.dumps(payload, ensure_ascii=False)))

        st = self.status_json(store)
        self.assertEqual(st["group"], "Food pantry")
        self.assertRegex(st["group_id"], HEX32_RE)
        self.assertRegex(st["device"], HEX64_RE)
        self.assertEqual(st["device_name"], "laptop")
        self.assertIs(st["readonly"], False)
        self.assertEqual(len(st["devices"]), 1, st)
        me = st["devices"][0]
        self.assertEqual(me["id"], st["device"])
        self.assertEqual(me["name"], "laptop")
        self.assertEqual(me["events"], 4)
        self.assertIs(me["self"], True)

        # append printed "<this device>:<seq>" with seqs 2, 3, 4
        for seq, eid in zip((2, 3, 4), ids):
            m = ID_RE.match(eid)
            self.assertEqual(m.group(1), st["device"])
            self.assertEqual(int(m.group(2)), seq)

        events = self.log_json(store)
        self.assertEqual([e["seq"] for e in events], [1, 2, 3, 4])
        for e in events:
            self.assertEqual(e["device"], st["device"])
            self.assertEqual(e["device_name"], "laptop")
            self.assertEqual(e["id"], "%s:%d" % (st["device"], e["seq"]))
            self.assertRegex(e["hash"], HEX64_RE)
            self.assertIsInstance(e["hlc"], int)
        hlcs = [e["hlc"] for e in events]
        for a, b in zip(hlcs, hlcs[1:]):
            self.assertLess(a, b, "hlc not strictly increasing: %r" % hlcs)
        self.assertEqual(len({e["hash"] for e in events}), 4)
        self.assertEqual(events[0]["type"], "mutual.group.create")
        for e, (type_, payload), eid in zip(events[1:], appended, ids):
            self.assertEqual(e["type"], type_)
            self.assertEqual(e["payload"], payload)
            self.assertEqual(e["id"], eid)

        r = self.assertOk(run("log", store=store))
        self.assertEqual(len(r.stdout.splitlines()), 4, describe(r))
        for type_ in ["mutual.group.create"] + [t for t, _ in appended]:
            self.assertIn(type_, r.stdout)
        self.assertIn("laptop", r.stdout)

        r = self.assertOk(run("status", store=store))
        self.assertIn("Food pantry", r.stdout)
        self.assertIn(st["group_id"], r.stdout)
        self.assertIn("laptop", r.stdout)

        # show ID --json returns exactly that event, as log --json does
        for eid, logged in zip(ids, events[1:]):
            r = self.assertOk(run("show", eid, "--json", store=store))
            self.assertEqual(len(r.stdout.splitlines()), 1, describe(r))
            self.assertEqual(json.loads(r.stdout), logged)
        r = self.assertOk(run("show", ids[0], store=store))
        self.assertIn("pantry.stock.in", r.stdout)
        self.assertIn("rice", r.stdout)

        r = self.assertOk(run("verify", store=store))
        self.assertIn("4 events", r.stdout)

    def test_names_with_quotes_and_unicode_survive_json_output(self):
        store = self.path("s")
        group = 'Kids "club" \u2014 Z\u00fcrich \\ back'
        device = "t\u00e9l\u00e9phone \"2\""
        self.init(store, group=group, device=device)
        st = self.status_json(store)
        self.assertEqual(st["group"], group)
        self.assertEqual(st["device_name"], device)
        self.assertEqual(st["devices"][0]["name"], device)
        ev = self.log_json(store)
        self.assertEqual(ev[0]["device_name"], device)

    def test_show_refuses_unknown_and_malformed_ids(self):
        store = self.make_store(n_events=1)
        dev = self.status_json(store)["device"]
        self.assertOneLineError(run("show", "%s:99" % dev, store=store))
        self.assertOneLineError(run("show", "not-an-id", store=store))
        self.assertEqual(run("show", store=store).returncode, 2)

    def test_append_accepts_payload_of_exactly_the_limit_on_stdin(self):
        store = self.make_store(n_events=0)
        payload = '{"a":"' + "x" * (PAYLOAD_MAX - 8) + '"}'
        self.assertEqual(len(payload.encode()), PAYLOAD_MAX)
        r = self.assertOk(run("append", "big.one", "-", store=store, stdin=payload + "\n"))
        self.assertRegex(r.stdout.strip(), ID_RE)
        events = self.log_json(store, "--type", "big.one")
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["payload"], {"a": "x" * (PAYLOAD_MAX - 8)})


class TestLogFilters(CliTestCase):

    def setUp(self):
        super().setUp()
        self.store = self.path("s")
        self.init(self.store)
        self.ids = {}
        for i, t in enumerate(["a.in", "b.out", "a.in", "b.out", "a.in"]):
            self.ids[i + 2] = self.append(self.store, t, json.dumps({"n": i}))
        self.dev = self.status_json(self.store)["device"]

    def seqs(self, *filters):
        return [e["seq"] for e in self.log_json(self.store, *filters)]

    def test_type(self):
        self.assertEqual(self.seqs("--type", "a.in"), [2, 4, 6])
        self.assertEqual(self.seqs("--type", "b.out"), [3, 5])
        self.assertEqual(self.seqs("--type", "mutual.group.create"), [1])
        self.assertEqual(self.seqs("--type", "no.such.type"), [])
        r = self.assertOk(run("log", "--type", "b.out", store=self.store))
        self.assertEqual(len(r.stdout.splitlines()), 2)
        self.assertNotIn("a.in", r.stdout)

    def test_device_by_name_and_hex_prefix(self):
        everything = self.seqs()
        self.assertEqual(everything, [1, 2, 3, 4, 5, 6])
        self.assertEqual(self.seqs("--device", "laptop"), everything)
        self.assertEqual(self.seqs("--device", self.dev[:8]), everything)
        self.assertEqual(self.seqs("--device", self.dev[:4]), everything)
        self.assertEqual(self.seqs("--device", self.dev), everything)
        self.assertEqual(self.seqs("--device", "laptop", "--type", "b.out"), [3, 5])
        for unknown in ("nobody", "ffff" if not self.dev.startswith("ffff") else "0000"):
            with self.subTest(device=unknown):
                self.assertOneLineError(run("log", "--device", unknown, store=self.store))

    def test_after(self):
        self.assertEqual(self.seqs("--after", self.ids[3]), [4, 5, 6])
        self.assertEqual(self.seqs("--after", "%s:1" % self.dev), [2, 3, 4, 5, 6])
        self.assertEqual(self.seqs("--after", self.ids[6]), [])
        self.assertEqual(self.seqs("--after", self.ids[2], "--type", "a.in"), [4, 6])
        self.assertOneLineError(run("log", "--after", "%s:99" % self.dev, store=self.store))
        self.assertOneLineError(run("log", "--after", "garbage", store=self.store))

    def test_limit(self):
        self.assertEqual(self.seqs("--limit", "2"), [1, 2])
        self.assertEqual(self.seqs("--limit", "1", "--type", "b.out"), [3])
        self.assertEqual(self.seqs("--limit", "100"), [1, 2, 3, 4, 5, 6])
        self.assertEqual(self.seqs("--after", self.ids[3], "--limit", "2"), [4, 5])
        for bad in ("abc", "-1", "", "2x"):
            with self.subTest(limit=bad):
                self.assertEqual(run("log", "--limit", bad, store=self.store).returncode, 2)
        self.assertEqual(run("log", "--limit", store=self.store).returncode, 2)


class TestStoreOption(CliTestCase):

    def test_mutual_store_env_is_the_default(self):
        store = self.path("envstore")
        env = child_env(MUTUAL_STORE=store)
        self.assertOk(run("init", "--group", "Env group", "--device", "envdev", env=env))
        self.assertTrue(os.path.isfile(os.path.join(store, "mutual.db")))
        r = self.assertOk(run("append", "env.test", '{"via":"env"}', env=env))
        eid = r.stdout.strip()
        st = self.status_json(store)
        self.assertEqual(st["group"], "Env group")
        self.assertEqual(st["devices"][0]["events"], 2)
        r = self.assertOk(run("log", "--json", env=env))
        self.assertEqual(r.stdout, self.log_raw(store))
        self.assertEqual(json.loads(r.stdout.splitlines()[-1])["id"], eid)
        # --store wins over MUTUAL_STORE, in both spellings
        other = self.make_store("other", n_events=1)
        r = self.assertOk(run("--store", other, "status", "--json", env=env))
        self.assertEqual(json.loads(r.stdout)["devices"][0]["events"], 2)
        self.assertEqual(json.loads(r.stdout)["group_id"], self.status_json(other)["group_id"])
        r = self.assertOk(run("--store=" + other, "log", "--json", env=env))
        self.assertEqual(r.stdout, self.log_raw(other))
        self.assertEqual(self.status_json(store)["devices"][0]["events"], 2)


class TestInvites(CliTestCase):

    def setUp(self):
        super().setUp()
        self.store = self.make_store("laptop", n_events=2)
        self.st = self.status_json(self.store)

    def check_joined(self, joined, name):
        st = self.status_json(joined)
        self.assertEqual(st["group_id"], self.st["group_id"])
        self.assertEqual(st["group"], self.st["group"])
        self.assertNotEqual(st["device"], self.st["device"])
        self.assertEqual(st["device_name"], name)
        events = self.log_json(joined)
        self.assertGreaterEqual(len(events), 1)
        first = events[0]
        self.assertEqual(first["type"], "mutual.device.join")
        self.assertEqual(first["device"], st["device"])
        self.assertEqual(first["seq"], 1)
        self.assertEqual(first["payload"].get("name"), name)
        self.assertEqual(first["payload"].get("invited_by"), self.st["device"])
        self.assertOk(run("verify", store=joined))
        mode = stat.S_IMODE(os.stat(joined).st_mode)
        self.assertEqual(mode, 0o700, oct(mode))
        for f in ("device.key", "group.key", "mutual.db"):
            mode = stat.S_IMODE(os.stat(os.path.join(joined, f)).st_mode)
            self.assertEqual(mode, 0o600, "%s has mode %o" % (f, mode))

    def test_invite_file_is_0600_and_warned_secret_then_join(self):
        inv = self.path("invite.txt")
        r = self.assertOk(run("invite", "--out", inv, store=self.store))
        self.assertEqual(stat.S_IMODE(os.stat(inv).st_mode), 0o600)
        self.assertIn("SECRET", r.stderr)
        self.assertEqual(r.stdout, "")

        phone = self.path("phone")
        r = self.assertOk(run("join", inv, "--device", "phone", store=phone))
        self.check_joined(phone, "phone")
        # the inviter's store did not change
        self.assertEqual(self.status_json(self.store), self.st)

    def test_invite_file_is_0600_even_with_a_permissive_umask(self):
        inv = self.path("invite.txt")
        self.assertOk(run("invite", "--out", inv, store=self.store, umask=0))
        self.assertEqual(stat.S_IMODE(os.stat(inv).st_mode), 0o600)

    def test_invite_out_refuses_an_existing_file(self):
        inv = self.path("precious.txt")
        with open(inv, "w") as f:
            f.write("do not overwrite me\n")
        os.chmod(inv, 0o644)
        before = file_digest(inv)
        r = run("invite", "--out", inv, store=self.store)
        self.assertOneLineError(r, 1)
        self.assertEqual(file_digest(inv), before)
        self.assertEqual(stat.S_IMODE(os.stat(inv).st_mode), 0o644)

    def test_invite_text_then_join_from_stdin(self):
        r = self.assertOk(run("invite", "--text", store=self.store))
        self.assertEqual(len(r.stdout.splitlines()), 1, describe(r))
        self.assertIn("SECRET", r.stderr)
        token = r.stdout.strip()
        phone = self.path("phone")
        self.assertOk(run("join", "-", "--device", "phone", store=phone, stdin=token + "\n"))
        self.check_joined(phone, "phone")
        # a second device from the same text gets yet another id
        tablet = self.path("tablet")
        self.assertOk(run("join", "-", "--device", "tablet", store=tablet, stdin=token))
        self.check_joined(tablet, "tablet")
        self.assertNotEqual(self.status_json(tablet)["device"], self.status_json(phone)["device"])

    def test_join_refuses_a_folder_that_holds_a_store(self):
        inv = self.path("invite.txt")
        self.assertOk(run("invite", "--out", inv, store=self.store))
        before = self.log_raw(self.store)
        r = run("join", inv, "--device", "again", store=self.store)
        self.assertOneLineError(r)
        self.assertEqual(self.log_raw(self.store), before)

    def invite_parts(self):
        inv = self.path("good-invite.txt")
        self.assertOk(run("invite", "--out", inv, store=self.store))
        with open(inv) as f:
            text = f.read()
        tokens = [l for l in text.splitlines() if l.startswith("MUTUAL-INVITE-")]
        self.assertEqual(len(tokens), 1, text)
        return text, tokens[0]

    def assertJoinRefused(self, name, content, via_stdin=False):
        target = self.path("join-" + name)
        if via_stdin:
            r = run("join", "-", "--device", "phone", store=target, stdin=content)
        else:
            inv = self.path("invite-" + name)
            with open(inv, "wb") as f:
                f.write(content if isinstance(content, bytes) else content.encode())
            r = run("join", inv, "--device", "phone", store=target)
        self.assertOneLineError(r)
        self.assertFalse(os.path.exists(target), "a refused join left %s behind" % target)

    def test_damaged_invites_are_refused(self):
        text, token = self.invite_parts()
        head, body = token.split(":", 1)
        mid = len(head) + 1 + len(body) // 2
        swapped = token[:mid] + ("A" if token[mid] != "A" else "B") + token[mid + 1:]
        cases = {
            "one-char-changed": text.replace(token, swapped),
            "prefix-char-changed": text.replace(token, "X" + token[1:]),
            "truncated-token": text.replace(token, token[: len(token) * 2 // 3]),
            "token-minus-one-char": text.replace(token, token[:-1]),
            "truncated-file": text[: text.index(token) + len(head) + 10],
            "garbage": os.urandom(500),
            "garbage-text": "hello, this is not an invite at all\n",
            "empty": b"",
        }
        for name, content in cases.items():
            with self.subTest(case=name):
                self.assertJoinRefused(name, content)
        for name, content in {"stdin-one-char": swapped, "stdin-truncated": token[:40],
                              "stdin-garbage": os.urandom(200)}.items():
            with self.subTest(case=name):
                self.assertJoinRefused(name, content, via_stdin=True)
        self.assertJoinRefused("missing-file-check", b"MUTUAL-INVITE-1:")
        r = run("join", self.path("no-such-invite"), store=self.path("j-missing"))
        self.assertOneLineError(r)
        self.assertFalse(os.path.exists(self.path("j-missing")))

    def test_every_single_character_change_in_the_token_is_refused(self):
        # Changing any one character of the token must be caught: for base64
        # characters the replacement flips the lowest bit of the 6-bit value.
        b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        _, token = self.invite_parts()
        head_len = token.index(":") + 1
        accepted = []
        for i in range(len(token)):
            c = token[i]
            if i >= head_len and c in b64:
                new = b64[b64.index(c) ^ 1]
            else:
                new = "Z" if c != "Z" else "Y"
            damaged = token[:i] + new + token[i + 1:]
            target = self.path("j%d" % i)
            r = run("join", "-", "--device", "phone", store=target, stdin=damaged)
            if r.returncode == 0 or os.path.exists(target):
                accepted.append("position %d of %d: %r -> %r (exit %d)" % (i + 1, len(token), c, new, r.returncode))
            else:
                self.assertOneLineError(r)
        self.assertEqual(accepted, [], "damaged invites were accepted:\n" + "\n".join(accepted))


class TestRefusals(CliTestCase):

    def test_bad_appends_are_refused_and_leave_the_log_unchanged(self):
        store = self.make_store(n_events=2)
        before = self.log_raw(store)
        over = '{"a":"' + "x" * (PAYLOAD_MAX + 1 - 8) + '"}'
        self.assertEqual(len(over), PAYLOAD_MAX + 1)
        cases = [
            ("invalid JSON", ["t.x", '{"a":'], None),
            ("invalid JSON (trailing comma)", ["t.x", '{"a":1,}'], None),
            ("invalid JSON (text after)", ["t.x", '{"a":1} {"b":2}'], None),
            ("JSON array", ["t.x", "[1,2,3]"], None),
            ("JSON string", ["t.x", '"hello"'], None),
            ("empty payload", ["t.x", ""], None),
            ("empty stdin", ["t.x", "-"], b""),
            ("empty type", ["", "{}"], None),
            ("uppercase type", ["Pantry.stock", "{}"], None),
            ("uppercase inside type", ["pantry.Stock", "{}"], None),
            ("type with a space", ["pantry stock", "{}"], None),
            ("type with a leading digit", ["1pantry", "{}"], None),
            ("type too long", ["a" * 129, "{}"], None),
            ("reserved type", ["mutual.anything", "{}"], None),
            ("reserved create type", ["mutual.group.create", '{"group":"x","name":"y"}'], None),
            ("payload over 1 MiB on stdin", ["t.x", "-"], over.encode()),
            ("payload of 3 MiB on stdin", ["t.x", "-"], over.encode() * 3),
            ("invalid UTF-8 on stdin", ["t.x", "-"], b'{"a":"\xff\xfe"}'),
            ("overlong UTF-8 on stdin", ["t.x", "-"], b'{"a":"\xc0\xaf"}'),
            ("truncated UTF-8 on stdin", ["t.x", "-"], b'{"a":"\xe2\x82"}'),
        ]
        for name, args, stdin in cases:
            with self.subTest(case=name):
                r = run("append", *args, store=store, stdin=stdin)
                self.assertOneLineError(r, 1)
                self.assertEqual(r.stdout, "", describe(r))
                self.assertEqual(self.log_raw(store), before, "the log changed after: " + name)
        self.assertOk(run("verify", store=store))

    def test_append_refuses_a_payload_with_a_nul_byte_on_stdin(self):
        # The bytes after the NUL must not be silently dropped: the input as
        # a whole is not a JSON object, so it must be refused.
        store = self.make_store(n_events=0)
        before = self.log_raw(store)
        r = run("append", "t.x", "-", store=store, stdin=b'{"a":1}\x00{"b":2}')
        self.assertOneLineError(r, 1)
        self.assertEqual(self.log_raw(store), before)

    def test_append_usage_errors(self):
        store = self.make_store(n_events=0)
        before = self.log_raw(store)
        for args in (["append"], ["append", "t.x"], ["append", "t.x", "{}", "extra"]):
            with self.subTest(args=args):
                r = run(*args, store=store)
                self.assertEqual(r.returncode, 2, describe(r))
                self.assertTrue(r.stderr.startswith("mutual: "), describe(r))
        self.assertEqual(self.log_raw(store), before)


class TestStoreErrors(CliTestCase):

    def test_init_into_a_non_empty_folder_fails(self):
        folder = self.path("busy")
        os.mkdir(folder)
        with open(os.path.join(folder, "notes.txt"), "w") as f:
            f.write("mine\n")
        r = run("init", "--group", "g", "--device", "d", store=folder)
        self.assertOneLineError(r, 1)
        self.assertEqual(os.listdir(folder), ["notes.txt"])
        with open(os.path.join(folder, "notes.txt")) as f:
            self.assertEqual(f.read(), "mine\n")

    def test_init_over_an_existing_store_fails_and_keeps_it(self):
        store = self.make_store(n_events=1)
        before_status = self.status_json(store)
        before_log = self.log_raw(store)
        before_files = tree_snapshot(store)
        r = run("init", "--group", "Other", "--device", "d", store=store)
        self.assertOneLineError(r, 1)
        self.assertEqual(self.status_json(store), before_status)
        self.assertEqual(self.log_raw(store), before_log)
        self.assertEqual(tree_snapshot(store), before_files)

    def test_init_into_an_empty_folder_works(self):
        folder = self.path("empty")
        os.mkdir(folder)
        self.init(folder)
        self.assertEqual(self.status_json(folder)["group"], "Food pantry")

    def test_commands_on_a_missing_store_fail(self):
        missing = self.path("nothing-here")
        empty = self.path("empty")
        os.mkdir(empty)
        dev = "ab" * 32
        commands = [
            ["log"], ["log", "--json"], ["status"], ["status", "--json"], ["verify"],
            ["append", "t.x", "{}"], ["show", dev + ":1"], ["invite", "--text"],
            ["invite", "--out", self.path("inv")],
        ]
        for folder in (missing, empty):
            for cmd in commands:
                with self.subTest(store=os.path.basename(folder), cmd=cmd):
                    r = run(*cmd, store=folder)
                    self.assertOneLineError(r, 1)
                    self.assertIn("no store", r.stderr)
                    self.assertEqual(r.stdout, "")
        self.assertFalse(os.path.exists(missing), "a command on a missing store created it")
        self.assertEqual(os.listdir(empty), [])
        self.assertFalse(os.path.exists(self.path("inv")))

    def test_usage_errors_exit_2(self):
        store = self.make_store(n_events=0)
        cases = [
            ("unknown command", ["--store", store, "frobnicate"]),
            ("unknown option", ["--frob", "log"]),
            ("no command", []),
            ("no command after --store", ["--store", store]),
            ("--store without value", ["--store"]),
            ("log without a store", ["log"]),
            ("status without a store", ["status"]),
            ("append without a store", ["append", "t.x", "{}"]),
            ("init without a store", ["init", "--group", "g"]),
            ("init without --group", ["--store", self.path("new"), "init"]),
            ("log with an unknown flag", ["--store", store, "log", "--bogus"]),
            ("status with an extra arg", ["--store", store, "status", "extra"]),
            ("verify with an extra arg", ["--store", store, "verify", "extra"]),
            ("invite with neither flag", ["--store", store, "invite"]),
            ("invite with both flags", ["--store", store, "invite", "--text", "--out", self.path("x")]),
        ]
        for name, args in cases:
            with self.subTest(case=name):
                r = run(*args)
                self.assertEqual(r.returncode, 2, describe(r))
                self.assertNotEqual(r.stderr.strip(), "", describe(r))
                self.assertEqual(r.stdout, "", describe(r))
        r = run("log", env=child_env(MUTUAL_STORE=""))
        self.assertEqual(r.returncode, 2, describe(r))
        self.assertFalse(os.path.exists(self.path("new")))
        self.assertFalse(os.path.exists(self.path("x")))


class TestSecrets(CliTestCase):

    def check_modes(self, store):
        mode = stat.S_IMODE(os.stat(store).st_mode)
        self.assertEqual(mode, 0o700, "store folder has mode %o" % mode)
        for f in ("device.key", "group.key", "mutual.db"):
            p = os.path.join(store, f)
            self.assertTrue(os.path.isfile(p), "%s missing" % f)
            mode = stat.S_IMODE(os.stat(p).st_mode)
            self.assertEqual(mode, 0o600, "%s has mode %o" % (f, mode))
        # and whatever else SQLite keeps next to the database
        for f in os.listdir(store):
            mode = stat.S_IMODE(os.stat(os.path.join(store, f)).st_mode)
            self.assertEqual(mode & 0o077, 0, "%s is open to others (mode %o)" % (f, mode))

    def test_store_files_are_private(self):
        for umask in (0o022, 0o000):
            with self.subTest(umask=oct(umask)):
                store = self.path("s%o" % umask)
                self.init(store, umask=umask)
                self.assertOk(run("append", "t.x", '{"a":1}', store=store, umask=umask))
                self.check_modes(store)

    def test_append_refuses_a_world_readable_device_key(self):
        store = self.make_store(n_events=1)
        before = self.log_raw(store)
        key = os.path.join(store, "device.key")
        os.chmod(key, 0o644)
        r = run("append", "t.x", '{"a":1}', store=store)
        self.assertOneLineError(r, 1)
        self.assertIn("chmod 600", r.stderr)
        self.assertIn("device.key", r.stderr)
        # reading still works, and nothing was appended
        self.assertEqual(self.log_raw(store), before)
        self.assertOk(run("status", store=store))
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o644)
        # once fixed as told, append works again
        os.chmod(key, 0o600)
        self.append(store, "t.x", '{"a":1}')
        self.assertEqual(len(self.log_json(store)), 3)


class TestReadOnlyMount(CliTestCase):

    def mount_ro(self, src, dst):
        mount = shutil.which("mount") or "/bin/mount"
        umount = shutil.which("umount") or "/bin/umount"
        os.mkdir(dst)
        r = subprocess.run([mount, "--bind", src, dst], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        if r.returncode != 0:
            self.fail("cannot bind-mount %s on %s (this test needs root and mount): exit %d: %s"
                      % (src, dst, r.returncode, r.stderr.decode(errors="replace").strip()))

        def unmount():
            u = subprocess.run([umount, dst], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=TIMEOUT)
            if u.returncode != 0:
                subprocess.run([umount, "-l", dst], timeout=TIMEOUT)
        self.addCleanup(unmount)  # runs before the temporary folder is removed
        r = subprocess.run([mount, "-o", "remount,bind,ro", dst], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        if r.returncode != 0:
            self.fail("cannot remount %s read-only: exit %d: %s"
                      % (dst, r.returncode, r.stderr.decode(errors="replace").strip()))
        # make sure it really is read-only, even for root
        try:
            with open(os.path.join(dst, "probe"), "w"):
                pass
        except OSError:
            pass
        else:
            self.fail("%s is still writable after the read-only remount" % dst)

    def test_read_only_store(self):
        src = self.make_store("src", n_events=4)
        before_log = self.log_raw(src)
        before_files = tree_snapshot(src)
        dst = self.path("ro")
        self.mount_ro(src, dst)

        r = self.assertOk(run("log", "--json", store=dst))
        self.assertEqual(r.stdout, before_log)
        self.assertOk(run("log", store=dst))
        self.assertOk(run("log", "--type", "pantry.stock.in", "--limit", "2", store=dst))
        st = self.status_json(dst)
        self.assertIs(st["readonly"], True)
        self.assertEqual(st["devices"][0]["events"], 5)
        r = self.assertOk(run("status", store=dst))
        self.assertIn("read-only", r.stdout)
        r = self.assertOk(run("verify", store=dst))
        self.assertIn("5 events", r.stdout)
        eid = json.loads(before_log.splitlines()[2])["id"]
        self.assertOk(run("show", eid, "--json", store=dst))

        r = run("append", "t.x", '{"a":1}', store=dst)
        self.assertOneLineError(r, 1)
        self.assertIn("read-only", r.stderr)
        self.assertEqual(r.stdout, "")

        self.assertEqual(self.log_raw(dst), before_log)
        self.assertEqual(self.log_raw(src), before_log)
        self.assertEqual(tree_snapshot(src), before_files)


def blake2b_256(data):
    return hashlib.blake2b(data, digest_size=32).digest()


class TestCorruption(CliTestCase):

    def tamper(self, store, sql, params=()):
        con = sqlite3.connect(os.path.join(store, "mutual.db"))
        try:
            con.execute("DROP TRIGGER events_no_update")
            con.execute(sql, params)
            con.commit()
        finally:
            con.close()

    def make_tamper_store(self):
        store = self.path("s")
        self.init(store)
        for i in range(1, 5):
            self.append(store, "pantry.stock.in", json.dumps({"i": i}))
        self.assertOk(run("verify", store=store))
        return store

    def assertVerifyNames(self, store, seq, *words):
        r = run("verify", store=store)
        self.assertOneLineError(r, 3)
        self.assertRegex(r.stderr, r"[0-9a-f]{64}:%d(?![0-9])" % seq)
        for w in words:
            self.assertIn(w, r.stderr)
        return r

    def test_verify_catches_an_altered_payload(self):
        store = self.make_tamper_store()
        self.tamper(store, "UPDATE events SET payload = ? WHERE seq = 3", (b'{"i":999}',))
        self.assertEqual(self.log_json(store)[2]["payload"], {"i": 999})  # the tampering took
        self.assertVerifyNames(store, 3, "payload", "altered")

    def test_verify_catches_an_altered_payload_with_its_digest(self):
        store = self.make_tamper_store()
        new = b'{"i":999}'
        self.tamper(store, "UPDATE events SET payload = ?, digest = ? WHERE seq = 3", (new, blake2b_256(new)))
        self.assertVerifyNames(store, 3, "altered")

    def test_verify_catches_an_altered_payload_digest_and_random_hash(self):
        store = self.make_tamper_store()
        new = b'{"i":999}'
        self.tamper(store, "UPDATE events SET payload = ?, digest = ?, hash = ? WHERE seq = 3",
                    (new, blake2b_256(new), os.urandom(32)))
        self.assertVerifyNames(store, 3)

    def test_verify_catches_a_rehashed_event_by_its_signature(self):
        # Rewrite seq 3 consistently (payload, digest and hash recomputed as
        # in docs/format.md): only the signature can tell.
        store = self.make_tamper_store()
        con = sqlite3.connect(os.path.join(store, "mutual.db"))
        try:
            device, seq, hlc, type_, prev, frontier = con.execute(
                "SELECT device, seq, hlc, type, prev, frontier FROM events WHERE seq = 3").fetchone()
        finally:
            con.close()
        new = b'{"i":999}'
        digest = blake2b_256(new)
        type_b = type_.encode() if isinstance(type_, str) else bytes(type_)
        frontier = bytes(frontier)
        header = (b"mutual.event.v1\n" + bytes(device) + seq.to_bytes(8, "big") + hlc.to_bytes(8, "big")
                  + bytes([len(type_b)]) + type_b + digest + bytes(prev)
                  + (len(frontier) // 40).to_bytes(4, "big") + frontier)
        self.tamper(store, "UPDATE events SET payload = ?, digest = ?, hash = ? WHERE seq = 3",
                    (new, digest, blake2b_256(header)))
        r = self.assertVerifyNames(store, 3)
        self.assertTrue("signature" in r.stderr or "chain" in r.stderr, describe(r))

    def test_verify_catches_a_broken_chain(self):
        store = self.make_tamper_store()
        self.tamper(store, "UPDATE events SET prev = ? WHERE seq = 4", (os.urandom(32),))
        self.assertVerifyNames(store, 4, "chain")

    def test_verify_catches_a_removed_signature(self):
        store = self.make_tamper_store()
        self.tamper(store, "UPDATE events SET sig = NULL WHERE seq = 5")
        self.assertVerifyNames(store, 5, "signature")

    def test_truncated_database(self):
        store = self.path("big")
        self.init(store)
        pad = "p" * 1000
        for i in range(300):
            self.append(store, "pantry.bulk", '{"i":%d,"pad":"%s"}' % (i, pad))
        self.assertOk(run("verify", store=store))
        db = os.path.join(store, "mutual.db")
        wal = db + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            con = sqlite3.connect(db)
            try:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                con.close()
        self.assertFalse(os.path.exists(wal) and os.path.getsize(wal) > 0, "the WAL was not checkpointed")
        size = os.path.getsize(db)
        self.assertGreater(size, 300 * 1000)
        copy = self.path("copy")
        shutil.copytree(store, copy)
        with open(os.path.join(copy, "mutual.db"), "r+b") as f:
            f.truncate(size // 2)
        for cmd in (["log"], ["log", "--json"], ["status"], ["status", "--json"], ["verify"]):
            with self.subTest(cmd=cmd):
                self.assertFailedCleanly(run(*cmd, store=copy))
        r = run("append", "t.x", "{}", store=copy)
        self.assertFailedCleanly(r)
        # the original is untouched
        self.assertOk(run("verify", store=store))

    def test_garbage_in_place_of_the_database(self):
        store = self.make_store(n_events=1)
        with open(os.path.join(store, "mutual.db"), "wb") as f:
            f.write(os.urandom(64 * 1024))
        for cmd in (["status"], ["status", "--json"], ["log"], ["verify"], ["append", "t.x", "{}"]):
            with self.subTest(cmd=cmd):
                r = run(*cmd, store=store)
                self.assertFailedCleanly(r)
                self.assertTrue(re.search(r"damaged|not a libmutual store", r.stderr), describe(r))

    def test_a_foreign_sqlite_database_is_not_a_store(self):
        store = self.make_store(n_events=1)
        db = os.path.join(store, "mutual.db")
        os.remove(db)
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE recipes(name TEXT)")
        con.execute("INSERT INTO recipes VALUES ('soup')")
        con.commit()
        con.close()
        for cmd in (["status"], ["log"], ["verify"], ["append", "t.x", "{}"]):
            with self.subTest(cmd=cmd):
                r = run(*cmd, store=store)
                self.assertFailedCleanly(r)
                self.assertTrue(re.search(r"damaged|not a libmutual store", r.stderr), describe(r))
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("SELECT name FROM sqlite_master").fetchall(), [("recipes",)])
        con.close()


CHILD = r"""
import json, subprocess, sys
cli, store, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.stdin.read(1)  # the start gate: returns (at EOF) once the parent has started every child
for n in range(count):
    payload = json.dumps({"writer": writer, "n": n})
    r = subprocess.run([cli, "--store", store, "append", "conc.test", payload],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.stderr.write("writer %d append %d exited %d: %s" % (writer, n, r.returncode,
                         r.stderr.decode("utf-8", "replace")))
        sys.exit(1)
    sys.stdout.write(r.stdout.decode())
"""


class TestConcurrency(CliTestCase):

    def test_four_processes_appending_at_once(self):
        writers, count = 4, 25
        store = self.path("s")
        self.init(store)
        procs = []
        # One pipe is every child's stdin: closing its write end lets them all go.
        gate_r, gate_w = os.pipe()
        try:
            for w in range(writers):
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", CHILD, CLI, store, str(w), str(count)],
                    stdin=gate_r, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    env=child_env()))
            os.close(gate_r)
            gate_r = None
            os.close(gate_w)
            gate_w = None
            outs = []
            for w, p in enumerate(procs):
                out, err = p.communicate(timeout=TIMEOUT)
                self.assertEqual(p.returncode, 0, "writer %d failed: %s" % (w, err.decode(errors="replace")))
                outs.append(out.decode())
        finally:
            for fd in (gate_r, gate_w):
                if fd is not None:
                    os.close(fd)
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                for f in (p.stdout, p.stderr):
                    if f and not f.closed:
                        f.close()
        ids = [line for out in outs for line in out.splitlines()]
        self.assertEqual(len(ids), writers * count)
        self.assertEqual(len(set(ids)), writers * count, "append printed duplicate ids")

        events = self.log_json(store)
        self.assertEqual(len(events), 1 + writers * count)
        self.assertEqual(sorted(e["seq"] for e in events), list(range(1, 2 + writers * count)))
        self.assertEqual(sorted(e["id"] for e in events if e["seq"] > 1), sorted(ids))
        got = sorted((e["payload"]["writer"], e["payload"]["n"]) for e in events if e["type"] == "conc.test")
        self.assertEqual(got, [(w, n) for w in range(writers) for n in range(count)])
        # one device: its hlc grows with its seq, so the shared order is seq order
        self.assertEqual([e["seq"] for e in events], list(range(1, 2 + writers * count)))
        hlcs = [e["hlc"] for e in events]
        for a, b in zip(hlcs, hlcs[1:]):
            self.assertLess(a, b, "hlc does not grow with seq")
        self.assertEqual(self.status_json(store)["devices"][0]["events"], 1 + writers * count)
        r = self.assertOk(run("verify", store=store))
        self.assertIn("%d events" % (1 + writers * count), r.stdout)


class TestCoordinators(CliTestCase):
    """The group's coordinators from the command line: the founder, a grant
    carried by a stick, a refusal with exit 6, stepping down, --json."""

    def sync(self, store, stick):
        self.assertOk(run("sync", stick, store=store))

    def test_grant_revoke_and_status(self):
        office, laptop, stick = self.path("office"), self.path("laptop"), self.path("stick")
        os.mkdir(stick)
        self.init(office, device="office")
        invite = self.path("invite")
        self.assertOk(run("invite", "--out", invite, store=office))
        self.assertOk(run("join", invite, "--device", "laptop", store=laptop))
        for s in (office, laptop, office):
            self.sync(s, stick)
        r = self.assertOk(run("status", store=office))
        self.assertIn("single coordinator", r.stdout)
        st = self.status_json(laptop)
        self.assertEqual([c["shown"] for c in st["coordinators"]], ["office"])
        self.assertTrue(st["single_coordinator"])

        r = run("coordinator", "grant", "office", store=laptop)
        self.assertOneLineError(r, status=6)
        self.assertIn("not a coordinator", r.stderr)
        r = self.assertOk(run("coordinator", "grant", "laptop", store=office))
        self.assertIn("laptop is now a coordinator", r.stdout)
        for s in (office, laptop):
            self.sync(s, stick)
        st = self.status_json(laptop)
        self.assertEqual(sorted(c["shown"] for c in st["coordinators"]), ["laptop", "office"])
        self.assertFalse(st["single_coordinator"])
        self.assertNotIn("single coordinator", self.assertOk(run("status", store=laptop)).stdout)

        # The office PC steps down; its later grants would not count.
        self.assertOneLineError(run("coordinator", "revoke", "laptop", "--after", "99", store=office))
        self.assertOk(run("coordinator", "revoke", "office", store=office))
        for s in (office, laptop):
            self.sync(s, stick)
        out = json.loads(self.assertOk(run("coordinators", "--all", "--json", store=laptop)).stdout)
        self.assertEqual([c["shown"] for c in out["coordinators"]], ["laptop"])
        self.assertEqual([e["action"] for e in out["role_events"]].count("revoke"), 1)
        self.assertTrue(all(e["in_force"] and e["refused"] is None for e in out["role_events"]))
        text = self.assertOk(run("coordinators", "--all", store=laptop)).stdout
        self.assertIn("founded  office", text)
        self.assertIn("revoke   office -> office after seq", text)
        self.assertOneLineError(run("coordinator", "revoke", "laptop", store=laptop))  # the last one
        self.assertEqual(run("coordinator", "frobnicate", "x", store=laptop).returncode, 2)


class TestRemoval(CliTestCase):
    """A stolen laptop removed from the office PC: its work before the cut
    stays, what the thief writes after is refused everywhere and shown as
    refused, the laptop itself can write no more once it learns, an
    ambiguous name is refused with the candidates listed, and a device that
    is not a coordinator gets exit 6."""

    def sync(self, store, stick):
        self.assertOk(run("sync", stick, store=store))

    def items(self, store):
        out = json.loads(self.assertOk(run("state", "item", "--json", store=store)).stdout)
        return sorted(e["id"] for e in out["entities"])

    def test_stolen_laptop(self):
        office, laptop, phone = self.path("office"), self.path("laptop"), self.path("phone")
        stick, side = self.path("stick"), self.path("side")
        os.mkdir(stick)
        os.mkdir(side)
        self.init(office, device="office")
        invite = self.path("invite")
        self.assertOk(run("invite", "--out", invite, store=office))
        self.assertOk(run("join", invite, "--device", "laptop", store=laptop))
        self.assertOk(run("join", invite, "--device", "phone", store=phone))
        self.assertOk(run("put", "item", "rice", '{"kg":5}', store=laptop))
        for s in (laptop, phone, office, laptop, phone):
            self.sync(s, stick)

        r = run("remove", "office", store=phone)
        self.assertOneLineError(r, status=6)
        self.assertIn("not a coordinator", r.stderr)
        # The thief writes on; the phone meets the laptop first.
        self.assertOk(run("put", "item", "forged", '{"kg":99}', store=laptop))
        self.sync(laptop, side)
        self.sync(phone, side)
        self.assertIn("forged", self.items(phone))

        r = self.assertOk(run("remove", "laptop", "--json", store=office))
        out = json.loads(r.stdout)
        self.assertEqual(out["shown"], "laptop")
        self.assertEqual(out["cut"], 2)  # its announcement and the rice
        self.assertTrue(out["key_rotated"])
        self.sync(office, stick)
        self.sync(phone, stick)
        self.assertEqual(self.items(phone), ["rice"])  # undone on the phone
        self.sync(phone, stick)
        self.sync(office, stick)
        self.assertEqual(self.items(office), ["rice"])
        log = self.assertOk(run("log", store=office)).stdout
        self.assertIn("[REFUSED: its device was removed before it]", log)
        refused = [json.loads(line) for line in self.assertOk(run("log", "--json", store=office)).stdout.splitlines()
                   if '"refused":true' in line]
        self.assertEqual(len(refused), 1)
        st = self.status_json(office)
        gone = [d for d in st["devices"] if d["shown"] == "laptop"]
        self.assertEqual(gone[0]["removed_after"], 2)
        self.assertIn("REMOVED by a coordinator", self.assertOk(run("status", store=office)).stdout)

        # The laptop learns: nothing more it writes would count.
        self.sync(laptop, stick)
        r = run("put", "item", "more", '{"kg":1}', store=laptop)
        self.assertOneLineError(r, status=6)
        self.assertIn("removed this device", r.stderr)
        # The key rotated with the removal: what the office writes now is
        # sealed with a key the laptop never receives.
        self.assertOk(run("put", "item", "beans", '{"kg":2}', store=office))
        self.sync(office, stick)
        self.sync(phone, stick)
        self.assertIn("beans", self.items(phone))
        r = self.assertOk(run("sync", stick, "--json", store=laptop))
        out = json.loads(r.stdout)
        self.assertGreaterEqual(out["segments_without_key"], 1)
        self.assertNotIn("beans", self.items(laptop))
        # Again with the same cut: refused; --after past what is held: refused.
        self.assertOneLineError(run("remove", "laptop", store=office))
        self.assertOneLineError(run("remove", "laptop", "--after", "99", store=office))
        # After review the coordinator lets the thief's one event in after all.
        self.assertOk(run("remove", "laptop", "--after", "3", store=office))
        self.assertEqual(self.items(office), ["beans", "forged", "rice"])
        self.assertEqual(run("remove", store=office).returncode, 2)
        self.assertEqual(run("remove", "laptop", "--after", "x", store=office).returncode, 2)

    def test_rotate(self):
        office, phone, stick = self.path("office"), self.path("phone"), self.path("stick")
        os.mkdir(stick)
        self.init(office, device="office")
        invite = self.path("invite")
        self.assertOk(run("invite", "--out", invite, store=office))
        self.assertOk(run("join", invite, "--device", "phone", store=phone))
        for s in (phone, office, phone):
            self.sync(s, stick)
        r = run("rotate", store=phone)
        self.assertOneLineError(r, status=6)
        self.assertIn("not a coordinator", r.stderr)
        self.assertEqual(run("rotate", "--all", store=office).returncode, 2)
        r = self.assertOk(run("rotate", store=office))
        self.assertIn("the group key rotated", r.stdout)
        event = json.loads(self.assertOk(run("rotate", "--json", store=office)).stdout)["event"]
        self.assertIn("mutual.key.rotate", self.assertOk(run("show", event, store=office)).stdout)
        # The phone takes the key and seals with it from its next sync on;
        # the office opens it. An invite made now carries every key.
        for s in (office, phone):
            self.sync(s, stick)
        self.assertOk(run("put", "item", "rice", '{"kg":5}', store=phone))
        r = self.assertOk(run("sync", stick, "--json", store=phone))
        self.assertEqual(json.loads(r.stdout)["own_events_waiting"], 0)
        r = self.assertOk(run("sync", stick, "--json", store=office))
        self.assertEqual(json.loads(r.stdout)["segments_without_key"], 0)
        self.assertEqual(self.items(office), ["rice"])
        text = self.assertOk(run("invite", "--text", store=office)).stdout
        self.assertIn("MUTUAL-INVITE-2:", text)
        van = self.path("van")
        self.assertOk(run("join", "-", "--device", "van", store=van, stdin=text))
        self.sync(van, stick)
        self.assertEqual(self.items(van), ["rice"])

    def test_ambiguous_name_lists_candidates(self):
        office, one, two = self.path("office"), self.path("one"), self.path("two")
        stick = self.path("stick")
        os.mkdir(stick)
        self.init(office, device="office")
        invite = self.path("invite")
        self.assertOk(run("invite", "--out", invite, store=office))
        self.assertOk(run("join", invite, "--device", "laptop", store=one))
        self.assertOk(run("join", invite, "--device", "laptop", store=two))
        for s in (one, two, office):
            self.sync(s, stick)
        r = run("remove", "laptop", store=office)
        self.assertNotEqual(r.returncode, 0)
        ids = [self.status_json(s)["device"] for s in (one, two)]
        for i in ids:
            self.assertIn(i, r.stderr)
        self.assertOk(run("remove", ids[0][:12], store=office))


class TestHelpAndVersion(CliTestCase):

    def test_help(self):
        for args in (["--help"], ["-h"], ["help"]):
            with self.subTest(args=args):
                r = self.assertOk(run(*args))
                self.assertIn("usage: mutual", r.stdout)
                self.assertIn("Exit status", r.stdout)
                for code in range(5):
                    self.assertRegex(r.stdout, r"(?m)^\s*%d\s+\S" % code)
                for cmd in ("init", "invite", "join", "append", "log", "show", "verify", "status"):
                    self.assertRegex(r.stdout, r"(?m)^\s+%s\b" % cmd)
                self.assertIn("MUTUAL_STORE", r.stdout)

    def test_version(self):
        for args in (["--version"], ["version"]):
            with self.subTest(args=args):
                r = self.assertOk(run(*args))
                self.assertRegex(r.stdout, r"^mutual \d+\.\d+\.\d+\S*\n$")


if __name__ == "__main__":
    unittest.main()
