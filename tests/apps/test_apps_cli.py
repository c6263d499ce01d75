"""Black-box tests of `mutual-apps`, the command line of the reference apps
(pantry, board, rota), through subprocess only.

Run from the source tree with the paths of both built binaries:

    MUTUAL_APPS_CLI=build/examples/cli/mutual-apps MUTUAL_CLI=build/cli/mutual \\
        python3 -m unittest -v tests/apps/test_apps_cli.py

The `mutual` CLI makes the stores (init, invite, join) and carries events
between them (sync through a folder standing in for the USB stick);
`mutual-apps` does everything else. Every child runs with TZ=Europe/London,
so local times and daylight saving are the same on any machine. Nothing
depends on timing: when two devices claim one post offline, which claim
holds is read from the output (both devices must agree on it), never
guessed. Where "now" matters (workload, suggestions, the default window)
it is fixed with MUTUAL_APPS_NOW_MS, a test hook that only a
-Dtest_hooks=true build reads: on a shipped build those tests are skipped.
"""

import calendar
import csv
import io
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402  (the shared helpers, tests/helpers)

APPS = None  # absolute path of mutual-apps, set by setUpModule()
CLI = None   # absolute path of mutual

TIMEOUT = 120  # seconds: a hang guard for each child process, not a timing assertion

ID16_RE = re.compile(r"^[0-9a-f]{16}$")
UTC_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LOCAL_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d (GMT|BST)$")
# A command in a help text: "  pantry give --households N ...": the app, then
# lower-case words up to the first argument (upper case, an option, a|b).
COMMAND_RE = r"(?m)^  ((?:%s)(?: [a-z][a-z-]*)*?)(?: (?=-|\S*[^a-z\s-])|$)"


def utc_ms(text):
    """Milliseconds since 1970 of "2026-10-20T12:00:00Z"."""
    return calendar.timegm(tuple(map(int, re.split(r"[-T:Z]", text)[:6]))) * 1000


def setUpModule():
    global APPS, CLI
    CLI = clitest.cli_path()
    APPS = clitest.binary_path("MUTUAL_APPS_CLI", "build/examples/cli/mutual-apps")


def child_env(**extra):
    """Our environment without any MUTUAL_* setting, in London's time zone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUAL_")}
    env["TZ"] = "Europe/London"
    env.update(extra)
    return env


def run(binary, args, store=None, env=None):
    argv = [binary] + (["--store", store] if store is not None else []) + list(args)
    r = subprocess.run([a.encode("utf-8") for a in argv], input=b"", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env if env is not None else child_env(),
                       timeout=TIMEOUT)
    return subprocess.CompletedProcess(argv, r.returncode, r.stdout.decode("utf-8", "replace"),
                                       r.stderr.decode("utf-8", "replace"))


def apps(*args, store=None, env=None):
    return run(APPS, args, store, env)


def mutual(*args, store=None):
    return run(CLI, args, store)


def describe(r):
    return "command %r exited %d\nstdout: %r\nstderr: %r" % (
        r.args[1:], r.returncode, r.stdout[:3000], r.stderr[:3000])


class AppsTestCase(unittest.TestCase):
    """Stores, sync and assertions shared by the tests."""

    env = None  # extra environment for every mutual-apps call of a test class

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="mutual-apps-test-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # -- running

    def apps(self, store, *args):
        return apps(*args, store=store, env=child_env(**(self.env or {})))

    def ok(self, store, *args):
        r = self.apps(store, *args)
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertEqual(r.stderr, "", describe(r))
        return r.stdout

    def json(self, store, *args):
        out = self.ok(store, *(args + ("--json",)))
        self.assertTrue(out.endswith("\n") and out.count("\n") == 1, "one JSON document on one line: %r" % out)
        try:
            return json.loads(out)
        except ValueError as e:
            self.fail("not JSON (%s): %r" % (e, out))

    def assertUsage(self, r, *words):
        """Exit 2: "mutual-apps: ..." naming `words`, then the hint where help is."""
        self.assertEqual(r.returncode, 2, describe(r))
        self.assertEqual(r.stdout, "", describe(r))
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 2, describe(r))
        self.assertTrue(lines[0].startswith("mutual-apps: "), describe(r))
        self.assertRegex(lines[1], r"^\(run 'mutual-apps[a-z -]*--help' for usage\)$")
        for w in words:
            self.assertIn(w, lines[0], describe(r))

    def assertFailure(self, r, *words):
        """Exit 1: exactly one line "mutual-apps: ..." naming `words`."""
        self.assertEqual(r.returncode, 1, describe(r))
        self.assertEqual(r.stdout, "", describe(r))
        self.assertTrue(r.stderr.startswith("mutual-apps: ") and r.stderr.count("\n") == 1, describe(r))
        for w in words:
            self.assertIn(w, r.stderr, describe(r))

    # -- stores

    def store(self, name="pantry-laptop"):
        return clitest.new_group(self.path(name), "School food pantry", name)

    def two_devices(self):
        a = self.store("pantry-laptop")
        return a, clitest.join_group(self.path("office-pc"), a, "office-pc")

    def sync(self, *stores):
        """Pass the stick round until every store holds every event."""
        stick = self.path("stick")
        os.makedirs(stick, exist_ok=True)
        for _ in range(4):
            moved = 0
            for s in stores:
                r = mutual("sync", stick, "--json", store=s)
                self.assertEqual(r.returncode, 0, describe(r))
                f = json.loads(r.stdout)
                moved += f["events_sent"] + f["events_received"]
            if moved == 0:
                return
        self.fail("the stores did not settle")

    def assertSame(self, stores, *args):
        """Every store prints the same bytes for `args`; returns them."""
        outs = [self.ok(s, *args) for s in stores]
        for out in outs[1:]:
            self.assertEqual(out, outs[0], "%r differs between devices" % (args,))
        return outs[0]


# --------------------------------------------------------------------------
# pantry


class TestPantry(AppsTestCase):

    def stock(self, store, **kw):
        doc = self.json(store, "pantry", "stock", *(["--low"] if kw.get("low") else []))
        return {(i["item"], i["unit"]): i for i in doc["items"]}

    def test_exact_counts_when_two_devices_record_offline_then_sync(self):
        a, b = self.two_devices()
        self.ok(a, "pantry", "donate", "rice", "10.5", "kg", "--from", "Harvest drive")
        self.ok(b, "pantry", "donate", "rice", "2.25", "kg")
        self.ok(a, "pantry", "give", "--households", "2", "--item", "rice", "3", "kg")
        self.ok(b, "pantry", "give", "--households", "1", "--bags", "1", "--item", "rice", "3", "kg",
                "--note", "Thursday evening")
        # 0.1 + 0.2 is where floating point goes wrong
        self.ok(a, "pantry", "donate", "oil", "0.1", "l")
        self.ok(b, "pantry", "donate", "oil", "0.2", "l")
        self.assertEqual(self.stock(a)[("rice", "kg")]["on_hand"], "7.5")
        self.assertEqual(self.stock(b)[("rice", "kg")]["on_hand"], "-0.75")

        self.sync(a, b)
        for s in (a, b):
            st = self.stock(s)
            self.assertEqual(st[("rice", "kg")]["on_hand"], "6.75", s)
            self.assertEqual(st[("oil", "l")]["on_hand"], "0.3", s)
            self.assertIs(st[("rice", "kg")]["negative"], False)
        human = self.assertSame((a, b), "pantry", "stock")
        self.assertRegex(human, r"(?m)^rice\s+kg\s+6\.75$")
        self.assertRegex(human, r"(?m)^oil\s+l\s+0\.3$")
        self.assertSame((a, b), "pantry", "history")
        hist = self.json(a, "pantry", "history")
        self.assertEqual(hist["zone"], "Europe/London")
        kinds = sorted((r["kind"], r["qty"]) for r in hist["rows"])
        self.assertEqual(kinds, [("distribution", "-3"), ("distribution", "-3"), ("donation", "0.1"),
                                 ("donation", "0.2"), ("donation", "10.5"), ("donation", "2.25")])
        for row in hist["rows"]:
            self.assertRegex(row["at"], UTC_RE)
            self.assertEqual(row["at_ms"] // 1000 * 1000, utc_ms(row["at"]))
            self.assertRegex(row["at_local"], LOCAL_RE)
        self.assertEqual({r["device"] for r in hist["rows"]}, {"pantry-laptop", "office-pc"})
        self.assertEqual(len(self.json(a, "pantry", "history", "--limit", "2")["rows"]), 2)

    def test_low_stock_list(self):
        a = self.store()
        self.ok(a, "pantry", "donate", "rice", "4", "kg")
        self.ok(a, "pantry", "donate", "beans", "10", "tins")
        self.ok(a, "pantry", "threshold", "rice", "5", "kg")
        self.ok(a, "pantry", "threshold", "beans", "2", "tins")
        self.assertEqual(list(self.stock(a, low=True)), [("rice", "kg")])
        self.assertEqual(self.stock(a)[("rice", "kg")]["threshold"], "5")
        self.assertIs(self.stock(a)[("beans", "tins")]["low"], False)
        human = self.ok(a, "pantry", "stock", "--low")
        self.assertRegex(human, r"(?m)^rice\s+kg\s+4\s+5\s+LOW$")
        self.assertNotIn("beans", human)
        # at the threshold counts as low
        self.ok(a, "pantry", "give", "--households", "3", "--item", "beans", "8", "tins")
        self.assertEqual(sorted(self.stock(a, low=True)), [("beans", "tins"), ("rice", "kg")])
        self.ok(a, "pantry", "threshold", "rice", "0", "kg")
        self.ok(a, "pantry", "threshold", "beans", "0", "tins")
        self.assertEqual(self.ok(a, "pantry", "stock", "--low"), "Nothing is low.\n")
        self.assertIsNone(self.stock(a)[("rice", "kg")]["threshold"])

    def test_giving_what_was_never_recorded_goes_negative_and_says_why(self):
        a = self.store()
        self.assertIn("No stock recorded yet", self.ok(a, "pantry", "stock"))
        out = self.ok(a, "pantry", "give", "--households", "1", "--item", "pasta", "2", "packs")
        self.assertEqual(out, "Recorded a hand-out to 1 household: 2 packs of pasta.\n")
        self.assertEqual(self.stock(a)[("pasta", "packs")]["on_hand"], "-2")
        self.assertIs(self.stock(a)[("pasta", "packs")]["negative"], True)
        human = self.ok(a, "pantry", "stock")
        self.assertRegex(human, r"(?m)^pasta\s+packs\s+-2\s+more out than recorded in: count the shelf$")
        self.assertIn("pantry adjust", human)
        # the shelf count finds 5 packs: the difference puts it right
        self.ok(a, "pantry", "adjust", "pasta", "7", "packs", "--reason", "shelf count")
        self.assertEqual(self.stock(a)[("pasta", "packs")]["on_hand"], "5")
        self.ok(a, "pantry", "adjust", "pasta", "-1.5", "packs")
        self.assertEqual(self.stock(a)[("pasta", "packs")]["on_hand"], "3.5")
        self.assertNotIn("count the shelf", self.ok(a, "pantry", "stock"))
        hist = self.ok(a, "pantry", "history")
        self.assertIn("shelf count", hist)
        self.assertRegex(hist, r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d (GMT|BST)\s+adjustment\s+-1\.5\s+packs\s+pasta\b")

    def test_csv_exports(self):
        a = self.store()
        self.ok(a, "pantry", "donate", "rice", "12.5", "kg")
        self.ok(a, "pantry", "donate", "=2+3", "1", "kg")  # a "formula" typed as an item
        self.ok(a, "pantry", "give", "--households", "4", "--bags", "2", "--item", "rice", "2.5", "kg",
                "--item", "=2+3", "1", "kg", "--note", "=HYPERLINK(\"x\")")
        out = self.path("exports", "stock.csv")
        os.mkdir(self.path("exports"))
        with open(out, "w") as f:
            f.write("an older export\n")
        msg = self.ok(a, "pantry", "export", "stock", "--output", out)
        self.assertIn(out, msg)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o644)
        self.assertEqual(os.listdir(self.path("exports")), ["stock.csv"], "no temporary file left")
        with open(out, newline="") as f:
            rows = list(csv.reader(f))
        self.assertEqual(rows[0], ["item", "unit", "on_hand", "low_threshold", "low"])
        by_item = {r[0]: r for r in rows[1:]}
        self.assertEqual(by_item["rice"][2], "10")
        self.assertIn("'=2+3", by_item, "a leading = is defused: %r" % rows)
        self.assertEqual(by_item["'=2+3"][2], "0")

        r = self.apps(a, "pantry", "export", "distributions")
        self.assertEqual(r.returncode, 0, describe(r))
        rows = list(csv.reader(io.StringIO(r.stdout, newline="")))
        self.assertEqual(rows[0][0], "time_utc")
        self.assertIn("Europe/London", rows[0][1], "the header names the zone")
        header = rows[0]
        lines = [dict(zip(header, row)) for row in rows[1:]]
        self.assertEqual(len(lines), 2, rows)
        self.assertEqual(sorted(ln["item"] for ln in lines), ["'=2+3", "rice"])
        self.assertEqual(sorted(ln["quantity"] for ln in lines), ["1", "2.5"])
        self.assertEqual(sum(int(ln["households"] or 0) for ln in lines), 4, "households once per hand-out")
        for ln in lines:
            self.assertRegex(ln["time_utc"], UTC_RE)
            self.assertRegex(ln[header[1]], LOCAL_RE)
            self.assertFalse(ln["note"].startswith("="), ln)
        self.assertIn("'=HYPERLINK(\"x\")", [ln["note"] for ln in lines])

        doc = self.json(a, "pantry", "export", "distributions", "--output", self.path("exports", "d.csv"))
        self.assertEqual(doc["bytes"], os.path.getsize(self.path("exports", "d.csv")))
        with open(self.path("exports", "d.csv"), newline="") as f:
            self.assertEqual(f.read(), r.stdout)
        self.assertUsage(self.apps(a, "pantry", "export", "everything"), "stock or distributions")
        self.assertUsage(self.apps(a, "pantry", "export", "stock", "--json"), "--output")
        self.assertFailure(self.apps(a, "pantry", "export", "stock", "--output", self.path("no", "such", "x.csv")),
                           "cannot write")

    def test_a_second_laptop_is_told_apart_everywhere(self):
        """A device that joins as "l\u0430ptop" (a Cyrillic a) is not the laptop:
        its adjustment and hand-out, in the history and the CSV, and `mutual`'s
        status, log and conflicts show each name with a suffix of its own
        key, alike on both devices (docs/format.md, "Device names")."""
        a = clitest.new_group(self.path("a"), "School food pantry", "laptop")
        b = clitest.join_group(self.path("b"), a, "l\u0430ptop")
        ids = [json.loads(clitest.mutual(s, "status", "--json"))["device"] for s in (a, b)]
        self.ok(a, "pantry", "adjust", "rice", "5", "kg")
        self.ok(b, "pantry", "adjust", "rice", "-2", "kg", "--reason", "shelf count")
        self.ok(b, "pantry", "give", "--households", "1", "--item", "rice", "1", "kg")
        clitest.mutual(a, "put", "request", "r1", '{"status":"claimed"}')
        clitest.mutual(b, "put", "request", "r1", '{"status":"done"}')
        before = self.json(a, "pantry", "history")["rows"]
        self.assertEqual({r["device"] for r in before}, {"laptop"}, "alone, the laptop's name is bare")
        self.sync(a, b)

        laptop, impostor = "laptop~" + ids[0][:12], "l\u0430ptop~" + ids[1][:12]
        self.assertNotEqual(laptop[7:], impostor[7:])
        human = self.assertSame((a, b), "pantry", "history")
        self.assertIn(laptop, human)
        self.assertIn(impostor, human)
        for s in (a, b):
            rows = self.json(s, "pantry", "history")["rows"]
            by = {(r["kind"], r["qty"]): r["device"] for r in rows}
            self.assertEqual(by, {("adjustment", "5"): laptop, ("adjustment", "-2"): impostor,
                                  ("distribution", "-1"): impostor})
            r = self.apps(s, "pantry", "export", "distributions")
            self.assertEqual(r.returncode, 0, describe(r))
            rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
            self.assertEqual([ln["device"] for ln in rows], [impostor])

            status = clitest.mutual(s, "status")
            self.assertRegex(status, r"(?m)^  %s +%s " % (re.escape(laptop), ids[0][:16]))
            self.assertRegex(status, r"(?m)^  %s +%s " % (re.escape(impostor), ids[1][:16]))
            devices = json.loads(clitest.mutual(s, "status", "--json"))["devices"]
            self.assertEqual({d["id"]: (d["name"], d["shown"]) for d in devices},
                             {ids[0]: ("laptop", laptop), ids[1]: ("l\u0430ptop", impostor)})
            log = clitest.mutual(s, "log", "--type", "pantry.adjustment")
            self.assertEqual([ln.split()[2] for ln in log.splitlines()], [laptop, impostor])
            conflict = re.search(r"CONFLICT: also .* \(by (\S+), event", clitest.mutual(s, "state", "request", "r1"))
            self.assertIn(conflict.group(1), (laptop, impostor))

    def test_refusals_say_what_is_wrong_and_record_nothing(self):
        a = self.store()
        self.assertUsage(self.apps(a, "pantry", "donate", "rice", "lots", "kg"), "QTY", "not a quantity")
        self.assertUsage(self.apps(a, "pantry", "donate", "rice", "0", "kg"), "zero")
        self.assertUsage(self.apps(a, "pantry", "donate", "rice", "-2", "kg"), "more than zero")
        self.assertUsage(self.apps(a, "pantry", "donate", "rice", "1.2345", "kg"), "3 decimals")
        self.assertUsage(self.apps(a, "pantry", "donate", "rice", "2"), "ITEM QTY UNIT")
        self.assertUsage(self.apps(a, "pantry", "donate", "rice", "2", "kg", "extra"), "unexpected 'extra'")
        self.assertUsage(self.apps(a, "pantry", "donate", "rice", "2", "kg", "--frm", "x"), "--frm")
        self.assertUsage(self.apps(a, "pantry", "give", "--households", "0", "--bags", "1"), "--households")
        self.assertUsage(self.apps(a, "pantry", "give", "--households", "two", "--bags", "1"), "--households")
        self.assertUsage(self.apps(a, "pantry", "give", "--bags", "1"), "--households")
        self.assertUsage(self.apps(a, "pantry", "give", "--households", "2"), "--bags", "--item")
        self.assertUsage(self.apps(a, "pantry", "give", "--households", "2", "--item", "rice", "kg"),
                         "--item needs 3 values")
        self.assertUsage(self.apps(a, "pantry", "give", "--households", "2", "--item", "rice", "x", "kg"),
                         "--item QTY")
        self.assertUsage(self.apps(a, "pantry", "adjust", "rice", "0", "kg"), "DELTA")
        self.assertUsage(self.apps(a, "pantry", "threshold", "rice", "-1", "kg"), "MIN")
        self.assertUsage(self.apps(a, "pantry", "history", "--limit", "0"), "--limit")
        # the apps' own checks: exit 1, one line
        self.assertFailure(self.apps(a, "pantry", "donate", "   ", "2", "kg"), "empty")
        self.assertEqual(self.json(a, "pantry", "history")["rows"], [])


# --------------------------------------------------------------------------
# board


class TestBoard(AppsTestCase):

    def post(self, store, *extra):
        out = self.ok(store, "board", "post", "request", "--category", "groceries", "--title",
                      "Weekly shop for a family of four", "--area", "north", "--contact", "07700 900123", *extra)
        self.assertRegex(out.strip(), ID16_RE)
        return out.strip()

    def test_concurrent_claims_show_a_conflict_on_both_devices_until_settled(self):
        a, b = self.two_devices()
        pid = self.post(a)
        self.sync(a, b)
        self.assertEqual(self.json(b, "board", "show", pid)["status"], "open")
        self.ok(a, "board", "claim", pid, "--as", "Ana")
        self.ok(b, "board", "claim", pid, "--as", "Ben")
        self.sync(a, b)

        post = self.json(a, "board", "show", pid)
        self.assertEqual(self.json(b, "board", "show", pid), post)
        self.assertEqual(post["status"], "claimed")
        holder = post["holder"]
        other = {"Ana": "Ben", "Ben": "Ana"}[holder]
        self.assertEqual(post["conflicting_holders"], [other])
        human = self.assertSame((a, b), "board", "show", pid)
        self.assertIn("status: claimed by %s \u2014 CONFLICT: %s also claimed it offline; "
                      "agree who does it, then claim again" % (holder, other), human)
        self.assertIn("CONFLICT", self.assertSame((a, b), "board", "list"))

        # they agree: Ben does it; a claim made having seen both settles it
        self.ok(a, "board", "claim", pid, "--as", "Ben")
        self.sync(a, b)
        for s in (a, b):
            post = self.json(s, "board", "show", pid)
            self.assertEqual((post["holder"], post["conflicting_holders"]), ("Ben", []))
        human = self.assertSame((a, b), "board", "show", pid)
        self.assertIn("status: claimed by Ben\n", human)
        self.assertNotIn("CONFLICT", human)

    def test_a_holder_name_holding_a_control_character_is_one_name(self):
        # Another member's modified software can write any character into
        # a name; the list of conflicting holders must not split it.
        a, b = self.two_devices()
        pid = self.post(a)
        self.sync(a, b)
        r = mutual("put", "board.post", pid, json.dumps({"status": "claimed", "holder": "Mal\u001fory\u001fEve"}),
                   store=b)
        self.assertEqual(r.returncode, 0, describe(r))
        self.ok(a, "board", "claim", pid, "--as", "Ana")  # later, concurrent: it wins
        self.sync(a, b)
        post = self.json(a, "board", "show", pid)
        self.assertEqual(self.json(b, "board", "show", pid), post)
        self.assertEqual((post["holder"], post["conflicting_holders"]), ("Ana", ["Mal\x1fory\x1fEve"]))

    def test_clear_contact_only_once_closed_and_the_log_keeps_it(self):
        a = self.store()
        pid = self.post(a)
        self.assertFailure(self.apps(a, "board", "clear-contact", pid), "fulfilled or cancelled")
        self.ok(a, "board", "claim", pid, "--as", "Ana")
        self.assertFailure(self.apps(a, "board", "claim", pid, "--as", "Ben"), "Ana has claimed")
        self.assertFailure(self.apps(a, "board", "clear-contact", pid), "fulfilled or cancelled")
        self.assertEqual(self.json(a, "board", "show", pid)["contact"], "07700 900123")
        self.assertIn("contact: 07700 900123", self.ok(a, "board", "show", pid))
        self.ok(a, "board", "fulfil", pid)
        out = self.ok(a, "board", "clear-contact", pid)
        self.assertIn("Cleared the contact", out)
        self.assertIn("the event log still holds the old contact", out.lower())
        self.assertIn("until redaction exists", out)
        doc = self.json(a, "board", "show", pid)
        self.assertEqual((doc["contact"], doc["status"]), ("", "fulfilled"))
        self.assertNotIn("07700", self.ok(a, "board", "show", pid))
        # what the note warns about, shown: the log still has it
        log = mutual("log", "--json", store=a)
        self.assertIn("07700 900123", log.stdout)

    def test_list_order_and_closed_posts(self):
        a = self.store()
        first = self.post(a)
        urgent = self.post(a, "--urgency", "urgent")
        offer = self.ok(a, "board", "post", "offer", "--category", "rides", "--title", "Lifts on Saturdays",
                        "--area", "south").strip()
        ids = [p["id"] for p in self.json(a, "board", "list")["posts"]]
        self.assertEqual(ids, [urgent, first, offer])
        self.ok(a, "board", "cancel", offer)
        self.ok(a, "board", "claim", first, "--as", "Ana")
        self.ok(a, "board", "release", first)
        self.assertEqual([p["id"] for p in self.json(a, "board", "list")["posts"]], [urgent, first])
        every = {p["id"]: p for p in self.json(a, "board", "list", "--all")["posts"]}
        self.assertEqual(every[offer]["status"], "cancelled")
        self.assertEqual((every[first]["status"], every[first]["holder"]), ("open", ""))
        self.assertRegex(every[first]["posted"], UTC_RE)
        self.assertRegex(every[first]["posted_local"], LOCAL_RE)
        human = self.ok(a, "board", "list")
        self.assertLess(human.index(urgent), human.index(first))
        self.assertNotIn(offer, human)
        self.assertNotIn("07700", human, "the list does not spread contacts about")

    def test_refusals(self):
        a = self.store()
        base = ["board", "post", "request", "--category", "groceries", "--title", "Shop", "--area", "north"]
        self.assertUsage(self.apps(a, *(base[:2] + ["need"] + base[3:])), "request or an offer")
        self.assertUsage(self.apps(a, *(base[:4] + ["food"] + base[5:])), "--category", "groceries")
        self.assertUsage(self.apps(a, *base[:7]), "--area")
        self.assertUsage(self.apps(a, *(base + ["--urgency", "asap"])), "--urgency")
        self.assertUsage(self.apps(a, "board", "claim", "0123456789abcdef"), "--as")
        self.assertUsage(self.apps(a, "board", "show"), "ID")
        self.assertFailure(self.apps(a, "board", "show", "0123456789abcdef"))
        self.assertFailure(self.apps(a, "board", "claim", "0123456789abcdef", "--as", "Ana"))
        self.assertEqual(self.json(a, "board", "list", "--all")["posts"], [])


# --------------------------------------------------------------------------
# rota


NOW = "2026-10-20T12:00:00Z"


class TestRota(AppsTestCase):

    env = {"MUTUAL_APPS_NOW_MS": str(utc_ms(NOW))}

    def shift(self, store, date, start, end, title="Hand-out", *extra):
        out = self.ok(store, "rota", "shift", "add", "--title", title, "--date", date, "--start", start,
                      "--end", end, *extra)
        self.assertRegex(out.strip(), ID16_RE)
        return out.strip()

    def test_weekly_shift_keeps_its_wall_clock_across_the_clock_change(self):
        a = self.store()
        self.shift(a, "2026-10-15", "17:00", "19:00", "Thursday hand-out", "--weeks", "3", "--slots", "2")
        human = self.ok(a, "rota", "shifts", "--from", "2026-10-15", "--days", "21")
        self.assertIn("Europe/London", human)
        for when in ("Thu 2026-10-15 17:00-19:00 BST", "Thu 2026-10-22 17:00-19:00 BST",
                     "Thu 2026-10-29 17:00-19:00 GMT"):
            self.assertIn(when, human)
        doc = self.json(a, "rota", "shifts", "--from", "2026-10-15", "--days", "21")
        self.assertEqual(doc["zone"], "Europe/London")
        self.assertEqual([s["start"] for s in doc["shifts"]],
                         ["2026-10-15T16:00:00Z", "2026-10-22T16:00:00Z", "2026-10-29T17:00:00Z"])
        self.assertEqual([s["end_local"] for s in doc["shifts"]],
                         ["2026-10-15 19:00 BST", "2026-10-22 19:00 BST", "2026-10-29 19:00 GMT"])
        self.assertEqual([s["start_ms"] for s in doc["shifts"]], [utc_ms(s["start"]) for s in doc["shifts"]])
        self.assertEqual(len({s["id"] for s in doc["shifts"]}), 3)
        # the window: 7 days from the 22nd holds only the second
        doc = self.json(a, "rota", "shifts", "--from", "2026-10-22", "--days", "7")
        self.assertEqual([s["start"] for s in doc["shifts"]], ["2026-10-22T16:00:00Z"])

    @clitest.needs_test_hooks("MUTUAL_APPS_NOW_MS")
    def test_the_default_window_is_fourteen_days_from_today(self):
        a = self.store()
        self.shift(a, "2026-10-15", "17:00", "19:00", "Thursday hand-out", "--weeks", "3", "--slots", "2")
        # today is the 20th (MUTUAL_APPS_NOW_MS)
        doc = self.json(a, "rota", "shifts")
        self.assertEqual(doc["from_local"], "2026-10-20 00:00 BST")
        self.assertEqual([s["start"] for s in doc["shifts"]], ["2026-10-22T16:00:00Z", "2026-10-29T17:00:00Z"])

    def test_signup_swap_drop(self):
        a = self.store()
        sid = self.shift(a, "2026-10-22", "17:00", "19:00", "Hand-out", "--slots", "2")
        self.ok(a, "rota", "signup", sid, "Ana")
        self.assertRegex(self.ok(a, "rota", "shifts", "--from", "2026-10-22", "--days", "1"),
                         r"1/2\s+%s\s+Ana \(1 place open\)" % sid)
        self.ok(a, "rota", "swap", sid, "Ana", "Ben")
        self.assertEqual(self.json(a, "rota", "shifts", "--from", "2026-10-22")["shifts"][0]["volunteers"], ["Ben"])
        self.assertFailure(self.apps(a, "rota", "drop", sid, "Ana"), "Ana")
        self.ok(a, "rota", "drop", sid, "Ben")
        shift = self.json(a, "rota", "shifts", "--from", "2026-10-22")["shifts"][0]
        self.assertEqual((shift["volunteers"], shift["open"], shift["over"]), ([], 2, False))

    def test_a_name_holding_a_control_character_is_one_volunteer(self):
        # A member's modified software signs up "Ana\x1fBen\x1fCarl": one
        # volunteer, not three sign-ups (the apps once joined names with it).
        a, b = self.two_devices()
        sid = self.shift(a, "2026-10-22", "17:00", "19:00", "Hand-out", "--slots", "3")
        self.sync(a, b)
        r = mutual("append", "rota.signup", json.dumps({"shift": sid, "volunteer": "Ana\u001fBen\u001fCarl"}),
                   store=b)
        self.assertEqual(r.returncode, 0, describe(r))
        self.ok(a, "rota", "signup", sid, "Dee")
        self.sync(a, b)
        for s in (a, b):
            shift = self.json(s, "rota", "shifts", "--from", "2026-10-22")["shifts"][0]
            self.assertEqual((shift["volunteers"], shift["open"]), (["Ana\x1fBen\x1fCarl", "Dee"], 1))

    def test_offline_signups_beyond_the_places_show_over_on_both(self):
        a, b = self.two_devices()
        sid = self.shift(a, "2026-10-22", "17:00", "19:00")
        self.sync(a, b)
        self.ok(a, "rota", "signup", sid, "Ana")
        self.ok(b, "rota", "signup", sid, "Ben")
        self.sync(a, b)
        human = self.assertSame((a, b), "rota", "shifts", "--from", "2026-10-22")
        self.assertIn("2/1", human)
        self.assertIn("OVER", human)
        shift = self.json(b, "rota", "shifts", "--from", "2026-10-22")["shifts"][0]
        self.assertEqual((sorted(shift["volunteers"]), shift["over"]), (["Ana", "Ben"], True))

    @clitest.needs_test_hooks("MUTUAL_APPS_NOW_MS")
    def test_workload_flags_who_carries_far_more_than_the_median(self):
        a = self.store()
        for day in ("2026-10-01", "2026-10-06", "2026-10-10", "2026-10-15"):
            self.ok(a, "rota", "signup", self.shift(a, day, "09:00", "13:00"), "Ana")
        for name, day in (("Ben", "2026-10-02"), ("Cy", "2026-10-03"), ("Dee", "2026-10-04")):
            self.ok(a, "rota", "signup", self.shift(a, day, "09:00", "11:00"), name)
        # more than four weeks before now: not counted
        self.ok(a, "rota", "signup", self.shift(a, "2026-09-01", "09:00", "17:00"), "Ben")
        doc = self.json(a, "rota", "workload")
        self.assertEqual(doc["now"], NOW)
        self.assertEqual(doc["median_minutes"], 120)
        loads = [(v["volunteer"], v["minutes"], v["shifts"], v["flagged"]) for v in doc["volunteers"]]
        self.assertEqual(loads[0], ("Ana", 960, 4, True))
        self.assertEqual(sorted(loads[1:]), [("Ben", 120, 1, False), ("Cy", 120, 1, False), ("Dee", 120, 1, False)])
        human = self.ok(a, "rota", "workload")
        self.assertIn("median is 2:00", human)
        self.assertRegex(human, r"(?m)^Ana\s+16:00\s+4\s+FLAGGED")
        self.assertRegex(human, r"(?m)^Ben\s+2:00\s+1$")

    @clitest.needs_test_hooks("MUTUAL_APPS_NOW_MS")
    def test_suggest_order(self):
        a = self.store()
        target = self.shift(a, "2026-10-22", "17:00", "19:00", "Hand-out")
        self.ok(a, "rota", "signup", self.shift(a, "2026-10-01", "17:00", "21:00", "Hand-out"), "Ana")
        self.ok(a, "rota", "signup", self.shift(a, "2026-10-08", "17:00", "19:00", "Hand-out"), "Ben")
        self.ok(a, "rota", "signup", self.shift(a, "2026-10-09", "10:00", "12:00", "Sorting"), "Cy")
        self.ok(a, "rota", "signup", self.shift(a, "2026-10-22", "18:00", "20:00", "Driving"), "Dee")
        self.ok(a, "rota", "volunteer", "add", "Fay")
        self.ok(a, "rota", "signup", target, "Eve")
        doc = self.json(a, "rota", "suggest", target)
        self.assertEqual(doc["shift"], target)
        got = [(s["volunteer"], s["minutes"], s["last_task"]) for s in doc["suggestions"]]
        self.assertEqual(got, [("Fay", 0, None), ("Cy", 120, None), ("Ben", 120, "2026-10-08T16:00:00Z"),
                               ("Ana", 240, "2026-10-01T16:00:00Z")])
        human = self.ok(a, "rota", "suggest", target)
        order = [m.group(1) for m in re.finditer(r"(?m)^\s*\d+\.\s+(\w+)", human)]
        self.assertEqual(order, ["Fay", "Cy", "Ben", "Ana"])
        self.assertIn("last did it 2026-10-08 17:00 BST", human)
        self.assertFailure(self.apps(a, "rota", "suggest", "0123456789abcdef"), "no shift")

    def test_refusals(self):
        a = self.store()
        add = ["rota", "shift", "add", "--title", "Hand-out", "--date", "2026-10-22", "--start", "17:00", "--end"]
        self.assertUsage(self.apps(a, *(add + ["7pm"])), "--end")
        self.assertUsage(self.apps(a, *add[:-1]), "--end")
        self.assertUsage(self.apps(a, *(add + ["19:00", "--weeks", "53"])), "--weeks")
        self.assertUsage(self.apps(a, *(add + ["19:00", "--slots", "0"])), "--slots")
        self.assertUsage(self.apps(a, "rota", "shift", "add", "--title", "x", "--date", "2026-02-30",
                                   "--start", "17:00", "--end", "19:00"), "2026-02-30")
        self.assertUsage(self.apps(a, "rota", "shift", "add", "--title", "x", "--date", "2026-03-29",
                                   "--start", "01:30", "--end", "03:00"), "clocks go forward")
        self.assertUsage(self.apps(a, "rota", "shifts", "--from", "22/10/2026"), "--from")
        self.assertUsage(self.apps(a, "rota", "shifts", "--days", "0"), "--days")
        self.assertUsage(self.apps(a, "rota", "swap", "0123456789abcdef", "Ana"), "SHIFT FROM TO")
        self.assertFailure(self.apps(a, "rota", "signup", "0123456789abcdef", "Ana"), "no shift")
        self.assertEqual(self.json(a, "rota", "shifts", "--from", "2026-01-01", "--days", "366")["shifts"], [])


# --------------------------------------------------------------------------
# the command line itself


class TestCommandLine(AppsTestCase):

    def commands(self):
        """Every command, as the top-level help lists it."""
        r = apps("--help")
        self.assertEqual(r.returncode, 0, describe(r))
        found = re.findall(COMMAND_RE % "pantry|board|rota", r.stdout)
        return r.stdout, found

    def test_help_for_every_command(self):
        text, cmds = self.commands()
        self.assertIn("Exit status", text)
        self.assertIn("mutual sync", text)
        expected = {"pantry donate", "pantry give", "pantry adjust", "pantry threshold", "pantry stock",
                    "pantry history", "pantry export", "board post", "board list", "board show", "board claim",
                    "board release", "board fulfil", "board cancel", "board clear-contact", "rota shift add",
                    "rota volunteer add", "rota signup", "rota drop", "rota swap", "rota shifts",
                    "rota workload", "rota suggest"}
        self.assertEqual(set(cmds), expected)
        for cmd in cmds:
            for flag in ("--help", "-h"):
                r = apps(*(cmd.split() + [flag]))
                self.assertEqual(r.returncode, 0, describe(r))
                self.assertTrue(r.stdout.startswith("usage: mutual-apps [--store DIR] [--json] %s" % cmd),
                                describe(r))
                self.assertEqual(r.stderr, "")
        # help comes before any other check: even with bad arguments, and without a store
        r = apps("pantry", "give", "--households", "0", "--help")
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertIn("NEVER WRITE NAMES", r.stdout)
        for app in ("pantry", "board", "rota"):
            r = apps(app, "--help")
            self.assertEqual(r.returncode, 0, describe(r))
            self.assertEqual(sorted(re.findall(COMMAND_RE % app, r.stdout)),
                             sorted(c for c in cmds if c.startswith(app + " ")))
        for words in (["help"], ["-h"]):
            r = apps(*words)
            self.assertEqual((r.returncode, r.stdout), (0, text))
        self.assertIn("never a street address", apps("board", "post", "--help").stdout.lower())
        self.assertIn("until redaction exists", apps("board", "clear-contact", "--help").stdout)

    def test_usage_errors(self):
        r = apps()
        self.assertEqual(r.returncode, 2, describe(r))
        self.assertIn("usage: mutual-apps", r.stderr)
        r = apps("pantry")
        self.assertEqual(r.returncode, 2, describe(r))
        self.assertIn("pantry donate", r.stderr)
        self.assertUsage(apps("garden"), "garden")
        r = apps("pantry", "fly")
        self.assertEqual(r.returncode, 2, describe(r))
        self.assertEqual(r.stderr, "mutual-apps: pantry has no command 'fly'\n"
                                   "(run 'mutual-apps pantry --help' for usage)\n")
        self.assertUsage(apps("--frobnicate", "pantry", "stock"), "--frobnicate")

    def test_missing_store(self):
        self.assertUsage(apps("pantry", "stock"), "--store DIR", "MUTUAL_STORE")
        missing = self.path("nowhere")
        r = apps("pantry", "stock", store=missing)
        self.assertFailure(r, "no store at " + missing)
        self.assertFailure(apps("board", "list", env=child_env(MUTUAL_STORE=missing)), "no store at")
        self.assertFalse(os.path.exists(missing), "a read never makes a store")
        a = self.store()
        r = apps("pantry", "donate", "rice", "1", "kg", env=child_env(MUTUAL_STORE=a))
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertEqual(self.json(a, "pantry", "stock")["items"][0]["on_hand"], "1")

    def test_json_is_one_document_before_or_after_the_command(self):
        a = self.store()
        for args in (["--json", "pantry", "donate", "rice", "1.5", "kg"],
                     ["pantry", "donate", "rice", "1.5", "kg", "--json"]):
            r = apps(*args, store=a)
            self.assertEqual(r.returncode, 0, describe(r))
            doc = json.loads(r.stdout)
            self.assertEqual((doc["ok"], doc["qty"], doc["unit"]), (True, "1.5", "kg"))
        doc = json.loads(apps("--json", "pantry", "give", "--households", "2", "--bags", "3", store=a).stdout)
        self.assertEqual((doc["households"], doc["bags"], doc["items"], doc["note"]), (2, 3, [], None))
        pid = json.loads(apps("--json", "board", "post", "offer", "--category", "other", "--title", "Chairs",
                              "--area", "east", "--contact", "ask at the desk", store=a).stdout)["id"]
        self.assertRegex(pid, ID16_RE)
        doc = json.loads(apps("--json", "board", "cancel", pid, store=a).stdout)
        self.assertEqual((doc["ok"], doc["id"]), (True, pid))
        doc = json.loads(apps("--json", "board", "clear-contact", pid, store=a).stdout)
        self.assertIn("until redaction exists", doc["note"])
        doc = json.loads(apps("--json", "rota", "volunteer", "add", "Ana", store=a).stdout)
        self.assertEqual(doc["volunteer"], "Ana")
        self.assertEqual(self.json(a, "rota", "workload")["volunteers"][0]["volunteer"], "Ana")
        self.assertEqual(self.json(a, "pantry", "stock")["items"][0]["on_hand"], "3")
        self.assertEqual([r["bags"] for r in self.json(a, "pantry", "history")["rows"]
                          if r["kind"] == "distribution"], [3])


if __name__ == "__main__":
    unittest.main()
