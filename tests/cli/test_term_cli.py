"""What reaches a terminal (issue 12, item 7), black box: text that other
members wrote must never reach a terminal as characters the terminal obeys.

One store holds a hostile corpus, put there every way text gets in:

 - through mutual-apps' own commands (board posts, claims, pantry items,
   notes, rota shifts and volunteers), with what they let through: markup,
   a javascript: URL, C1 controls and bidi controls;
 - through `mutual put` / `mutual append`, as another program would write
   the apps' events, with JSON escapes for the C0 controls the apps refuse
   (ESC sequences that retitle the window or clear the screen, BEL, DEL,
   a newline inside a value);
 - from a hostile member on the stick (tests/helpers/hostile_member.py, hence
   Debian's python3 with PyNaCl): a device whose name holds bidi and C1
   controls, its events, and refs whose names hold them too, which the
   sync quotes in its refusals.

Then every listing of `mutual` and `mutual-apps`, human and --json, and
the CSV exports and error messages that quote input: stdout and stderr
must hold no C0 control but the line ends, no DEL, no C1 control (C2 80..
C2 9F) and no bidi control (E2 80 AA..AE, E2 81 A6..A9), and the escaped
form (docs/architecture.md, "Text on a terminal") must be there instead.
JSON must parse back to the very strings that were stored.

Run by hand (Debian's python3, which has python3-nacl):

    MUTUAL_CLI=build/cli/mutual MUTUAL_APPS_CLI=build/examples/cli/mutual-apps \\
        /usr/bin/python3 -m unittest -v test_term_cli
"""

import csv
import datetime
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zoneinfo
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402
import hostile_member as hm  # noqa: E402

TIMEOUT = 120  # seconds: a hang guard for each child process, not a timing assertion

TITLE = "\x1b]0;pwned\x07"  # retitles the window (OSC ... BEL)
CLEAR = "\x1b[2J"           # clears the screen
CSI = "\x9b31m"             # U+009B: CSI in one character (red)
RLO = "\u202e"              # right-to-left override
LRI = "\u2066"              # left-to-right isolate
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS = "javascript:alert(1)"

# A byte or sequence a terminal obeys. The line end "\n" is the output's
# own; CSV rows also end in "\r\n".
ACTS = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")
ACTS_IN_CSV = re.compile(rb"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def setUpModule():
    global CLI, APPS
    CLI = clitest.cli_path()
    APPS = clitest.binary_path("MUTUAL_APPS_CLI", "build/examples/cli/mutual-apps")


def run(binary, store, *args):
    """The binary's CompletedProcess, stdout and stderr as bytes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUAL_")}
    env["TZ"] = "Europe/London"
    argv = [binary] + (["--store", store] if store else []) + list(args)
    return subprocess.run([a.encode("utf-8") for a in argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=TIMEOUT)


def describe(r):
    return "%r exited %d\nstdout: %r\nstderr: %r" % (r.args[3:], r.returncode, r.stdout[:3000], r.stderr[:3000])


class TerminalOutput(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mutual-term-test-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.store = os.path.join(cls.tmp, "laptop")
        cls.stick = os.path.join(cls.tmp, "stick")
        os.mkdir(cls.stick)
        now = int(time.time() * 1000)
        # Yesterday in the zone the commands run in (run() sets TZ), not the
        # test's own: the listings below start there, whatever the hour.
        zone = zoneinfo.ZoneInfo("Europe/London")
        day = datetime.datetime.fromtimestamp(now / 1000, zone).date() - datetime.timedelta(days=1)
        cls.yesterday = day.isoformat()

        def must(binary, *args):
            r = run(binary, cls.store, *args)
            if r.returncode != 0:
                raise RuntimeError(describe(r))
            return r.stdout.decode("utf-8").strip()

        must(CLI, "init", "--group", "Pantry " + RLO + CSI, "--device", "laptop " + LRI)

        # Through the apps' own commands: what their checks let through.
        cls.post = must(APPS, "board", "post", "request", "--category", "other", "--title", SCRIPT + " " + RLO,
                        "--area", IMG, "--contact", JS + " " + CSI)
        must(APPS, "board", "claim", cls.post, "--as", LRI + "Zoë")
        must(APPS, "pantry", "donate", SCRIPT, "2", "kg", "--from", RLO + "fdp.exe")
        must(APPS, "pantry", "give", "--households", "1", "--item", SCRIPT, "1", "kg", "--note", CSI)
        cls.shift = must(APPS, "rota", "shift", "add", "--title", RLO + "sorting", "--date", cls.yesterday,
                         "--start", "10:00", "--end", "12:00", "--task", IMG)
        must(APPS, "rota", "signup", cls.shift, LRI + "Amir")
        must(APPS, "rota", "volunteer", "add", JS)

        # As another program writes the apps' events: the C0 controls too.
        fields = {"title": TITLE, "area": CLEAR, "contact": "line1\nline2\x7f", "holder": CSI + "Bo",
                  "status": "claimed", "kind": "request", "category": "other", "urgency": "urgent",
                  "posted": now}
        must(CLI, "put", "board.post", "evil" + RLO, json.dumps(fields))
        must(CLI, "append", "pantry.donation",
             json.dumps({"item": TITLE, "qty": 3000, "unit": CLEAR, "source": "a\nb\x7f"}))
        must(CLI, "append", "pantry.threshold", json.dumps({"item": TITLE, "unit": CLEAR, "min": 5000}))
        start = int(datetime.datetime.combine(day, datetime.time(12, 0), zone).timestamp() * 1000)
        must(CLI, "append", "rota.shift", json.dumps({"id": CLEAR, "title": TITLE, "task": "x\ty", "start": start,
                                                      "end": start + 7200000, "slots": 1}))
        must(CLI, "append", "rota.signup", json.dumps({"shift": CLEAR, "volunteer": TITLE + "\n"}))
        must(CLI, "append", "rota.signup", json.dumps({"shift": cls.shift, "volunteer": CSI + "Cy"}))
        cls.note = must(CLI, "append", "note", json.dumps({"t": TITLE + CLEAR + CSI + RLO + LRI + "\x7f\n" + SCRIPT}))
        must(CLI, "put", "kind" + RLO, "id" + CSI, json.dumps({"f": CLEAR, "g": SCRIPT}))
        must(CLI, "add", "rice" + RLO, "1")

        # A hostile member on the stick: its device's name, its events, and
        # refs whose names the sync quotes.
        must(CLI, "sync", cls.stick)
        group = hm.Group.from_store(cls.store)
        sybil = hm.HostileMember.new_device(group, name=RLO + CSI + " helper", invited_by=hm.device_key(cls.store))
        sybil.event("note", {"t": TITLE + CLEAR, "u": IMG})
        sybil.entity_put("board.post", CLEAR, dict(fields, title=CLEAR + TITLE, holder=""))
        tips = sybil.write(cls.stick)
        repo = os.path.join(cls.stick, group.repo_name())
        for ref in ("refs/mutual/v1/x" + RLO + CSI, "refs/mutual/v1/devices/" + LRI + "abc"):
            hm.git(repo, "update-ref", ref, tips[sybil.device_hex])
        cls.sync = run(CLI, cls.store, "sync", cls.stick)
        cls.sync_json = run(CLI, cls.store, "sync", cls.stick, "--json")

    # -- checks

    def assertSafe(self, r, pattern=ACTS):
        for name, out in (("stdout", r.stdout), ("stderr", r.stderr)):
            m = pattern.search(out)
            if m:
                self.fail("%s holds %r at byte %d\n%s" % (name, m.group(), m.start(), describe(r)))

    def shown(self, binary, *args, status=0):
        """Run a listing: its output is safe; returns stdout + stderr as text."""
        r = run(binary, self.store, *args)
        self.assertEqual(r.returncode, status, describe(r))
        self.assertSafe(r)
        return r.stdout.decode("utf-8") + r.stderr.decode("utf-8")

    def assertShows(self, text, *escaped):
        for e in escaped:
            self.assertIn(e, text)

    def json_of(self, binary, *args):
        """A --json listing: safe, and one JSON document."""
        out = self.shown(binary, *args)
        return json.loads(out)

    # -- the check itself

    def test_the_check_sees_the_raw_corpus(self):
        """The negative control: every piece of the corpus, raw, is caught
        (but a newline, which only the tests' own expected `\\n` tells
        from a line end)."""
        for s in (TITLE, CLEAR, CSI, RLO, LRI, "\x7f", "a\tb", "a\rb"):
            self.assertIsNotNone(ACTS.search(s.encode("utf-8") + b"\n"), repr(s))

    # -- mutual

    def test_log_and_show(self):
        text = self.shown(CLI, "log")
        self.assertShows(text, "\\u001b]0;pwned\\u0007", "\\u009b31m", "\\u202e", "\\u2066", "\\u007f",
                         "laptop \\u2066", "\\u202e\\u009b31m helper", SCRIPT)
        events = [json.loads(line) for line in self.shown(CLI, "log", "--json").splitlines()]
        self.assertIn(TITLE + CLEAR + CSI + RLO + LRI + "\x7f\n" + SCRIPT, [e["payload"].get("t") for e in events])
        self.assertIn(RLO + CSI + " helper", [e["device_shown"] for e in events])
        self.assertShows(self.shown(CLI, "show", self.note), "\\u001b[2J\\u009b31m\\u202e\\u2066\\u007f\\n")
        self.assertEqual(self.json_of(CLI, "show", self.note, "--json")["payload"]["t"],
                         TITLE + CLEAR + CSI + RLO + LRI + "\x7f\n" + SCRIPT)

    def test_status(self):
        self.assertShows(self.shown(CLI, "status"), "group   Pantry \\u202e\\u009b31m", "laptop \\u2066",
                         "\\u202e\\u009b31m helper")
        doc = self.json_of(CLI, "status", "--json")
        self.assertEqual(doc["group"], "Pantry " + RLO + CSI)
        self.assertIn(RLO + CSI + " helper", [d["shown"] for d in doc["devices"]])

    def test_state_and_counters(self):
        self.assertShows(self.shown(CLI, "state", "board.post"), '"\\u001b]0;pwned\\u0007"', '"line1\\nline2\\u007f"',
                         '"evil\\u202e"')
        doc = self.json_of(CLI, "state", "board.post", "--json")
        self.assertIn(TITLE, [e["fields"].get("title") for e in doc["entities"]])
        self.assertShows(self.shown(CLI, "state", "kind" + RLO), '"id\\u009b31m"', '"\\u001b[2J"')
        self.assertEqual(self.json_of(CLI, "counters"), {"rice" + RLO: 1})

    def test_sync_refusals_quote_ref_names_escaped(self):
        self.assertEqual(self.sync.returncode, 5, describe(self.sync))
        self.assertSafe(self.sync)
        self.assertShows(self.sync.stderr.decode(), "refs/mutual/v1/x\\u202e\\u009b", "devices/\\u2066abc")
        self.assertSafe(self.sync_json)
        doc = json.loads(self.sync_json.stdout)
        self.assertIn("refs/mutual/v1/", doc["error"])

    def test_errors_quoting_input(self):
        self.assertShows(self.shown(CLI, "log", "--device", CLEAR + RLO, status=1), "\\x1b[2J\\u202e")
        self.assertShows(self.shown(CLI, "log", TITLE, status=2), "\\x1b]0;pwned\\x07")
        self.assertShows(self.shown(CLI, "frob" + CSI, status=2), "frob\\u009b31m")

    # -- mutual-apps

    def test_board(self):
        text = self.shown(APPS, "board", "list", "--all")
        self.assertShows(text, "\\x1b]0;pwned\\x07", "area: \\x1b[2J", SCRIPT + " \\u202e", IMG,
                         "claimed by \\u2066Zoë", "claimed by \\u009b31mBo", "evil\\u202e")
        self.assertShows(self.shown(APPS, "board", "show", "evil" + RLO), "contact: line1\\nline2\\x7f")
        self.assertShows(self.shown(APPS, "board", "show", self.post), "contact: " + JS + " \\u009b31m")
        posts = self.json_of(APPS, "board", "list", "--all", "--json")["posts"]
        self.assertIn(TITLE, [p["title"] for p in posts])
        self.assertIn("line1\nline2\x7f", [p["contact"] for p in posts])
        self.assertEqual(self.json_of(APPS, "board", "show", self.post, "--json")["holder"], LRI + "Zoë")

    def test_pantry(self):
        self.assertShows(self.shown(APPS, "pantry", "stock"), "\\x1b]0;pwned\\x07", "\\x1b[2J", SCRIPT)
        self.assertShows(self.shown(APPS, "pantry", "history"), "from a\\nb\\x7f", "from \\u202efdp.exe",
                         "(\\u009b31m)", "laptop \\u2066")
        items = self.json_of(APPS, "pantry", "stock", "--json")["items"]
        self.assertIn((TITLE, CLEAR), [(i["item"], i["unit"]) for i in items])
        rows = self.json_of(APPS, "pantry", "history", "--json")["rows"]
        self.assertIn("a\nb\x7f", [r["text"] for r in rows])

    def test_pantry_csv_on_a_terminal(self):
        """The CSV goes to standard output without --output: a terminal."""
        out = {}
        for what in ("stock", "distributions"):
            r = run(APPS, self.store, "pantry", "export", what)
            self.assertEqual(r.returncode, 0, describe(r))
            self.assertSafe(r, ACTS_IN_CSV)
            out[what] = r.stdout.decode("utf-8")
            rows = list(csv.reader(io.StringIO(out[what], newline="")))
            self.assertTrue(all(len(row) == len(rows[0]) for row in rows), rows)
        self.assertShows(out["stock"], "\\x1b]0;pwned\\x07", "\\x1b[2J", SCRIPT)
        self.assertShows(out["distributions"], "\\u009b31m", "laptop \\u2066")

    def test_rota(self):
        text = self.shown(APPS, "rota", "shifts", "--from", self.yesterday, "--days", "3")
        self.assertShows(text, "\\x1b]0;pwned\\x07 [x\\ty]", "\\x1b[2J", "\\x1b]0;pwned\\x07\\n",
                         "\\u202esorting [" + IMG + "]", "\\u2066Amir", "\\u009b31mCy")
        shifts = self.json_of(APPS, "rota", "shifts", "--from", self.yesterday, "--days", "3", "--json")["shifts"]
        self.assertIn((CLEAR, TITLE, [TITLE + "\n"]), [(s["id"], s["title"], s["volunteers"]) for s in shifts])
        self.assertShows(self.shown(APPS, "rota", "workload"), "\\x1b]0;pwned\\x07\\n", "\\u2066Amir")
        names = [v["volunteer"] for v in self.json_of(APPS, "rota", "workload", "--json")["volunteers"]]
        self.assertIn(TITLE + "\n", names)
        self.assertShows(self.shown(APPS, "rota", "suggest", CLEAR), "shift \\x1b[2J", "\\u2066Amir", JS)
        names = [s["volunteer"] for s in self.json_of(APPS, "rota", "suggest", CLEAR, "--json")["suggestions"]]
        self.assertIn(LRI + "Amir", names)

    def test_apps_errors_quoting_input(self):
        self.assertShows(self.shown(APPS, "board", "list", CLEAR, status=2), "'\\x1b[2J'")
        self.assertShows(self.shown(APPS, "board", "frob" + RLO, status=2), "frob\\u202e")
        self.assertShows(self.shown(APPS, "rota", "signup", TITLE, "Dee", status=1), "no shift \\x1b]0;pwned\\x07")
        self.assertShows(self.shown(APPS, "board", "claim", CLEAR + CSI, "--as", "Dee", status=1),
                         '"\\x1b[2J\\u009b31m" is not a post id')


if __name__ == "__main__":
    unittest.main()
