"""The web front end (mutual-web) in a real browser, used as a person would
use it on a phone: headless Chromium at 390x844, driven through the
DevTools protocol by tests/helpers/cdp.py, finding fields by their labels and
buttons by their text, clicking and typing with real input events.

Two devices of one group (a laptop and an office PC, each its own store
and its own mutual-web) share a USB stick (a folder). Two volunteers claim
the same request while the devices are apart; after the stick has gone
round, both boards show the same holder and the conflict. Every page must
load without a console error or an uncaught exception and fit the
phone's width. Screenshots of each step go to $MUTUAL_SCREENSHOTS.

Every browser logs in, this laptop's own included: each tab first meets
the login page, then opens the one-time address `mutual-web --url` prints,
which a second use no longer opens. A hostile member's text (markup,
`javascript:`, a right-to-left override) is shown on the board, never run;
a terminal escape in it is refused.

Run from the source tree (Debian's python3, which has python3-websocket):

    MUTUAL_WEB=build/examples/web/mutual-web MUTUAL_CLI=build/cli/mutual \\
    MUTUAL_SCREENSHOTS=/tmp/shots /usr/bin/python3 -m unittest -v tests/web/test_browser.py

The test does not skip without chromium: it fails and says what to install.
"""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import cdp  # noqa: E402  (the DevTools driver, tests/helpers)
import clitest  # noqa: E402

TIMEOUT = 60  # seconds: a hang guard for each child process, not a timing assertion

GROUP = "Riverside food pantry"
TITLE = "Groceries for a family of four"

LISTENING_RE = re.compile(r"^mutual-web: listening on http://([0-9.]+):([0-9]+)/$", re.M)
SYNCED_RE = re.compile(r"Synced with .+: received ([0-9]+) events?, sent ([0-9]+) events?\. "
                       r"Safe to remove the stick\.")
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:")
LOGIN_URL_RE = re.compile(r"^http://127\.0\.0\.1:([0-9]+)/\?token=[0-9a-f]{64}$")
SPENT = "That login address was used already or is out of date"

# A hostile member's post: markup that would run if it were not escaped, a
# link scheme, a right-to-left override (U+202E) and a terminal escape.
HOSTILE_TITLE = "<img src=x onerror=\"document.title='pwned'\">"
HOSTILE_AREA = "javascript:alert(1) \u202egnp.exe"
HOSTILE_CONTACT = "<script>document.title='pwned'</script> javascript:alert(1)"
ESC = "\x1b]0;pwned\x07\x1b[2J"


class Web:
    """One mutual-web process on a loopback port of the system's choice,
    its output in files beside the store."""

    def __init__(self, tmp, name, store, stick):
        self.name = name
        self.store = store
        self.out = os.path.join(tmp, name + ".out")
        self.err = os.path.join(tmp, name + ".err")
        self.binary = clitest.binary_path("MUTUAL_WEB", "build/examples/web/mutual-web")
        self.env = dict(os.environ, TZ="Europe/London")
        self.env.pop("MUTUAL_STORE", None)
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [self.binary, "--store", store, "--stick", stick, "--listen", "127.0.0.1:0"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env,
                preexec_fn=cdp.die_with_parent)
        deadline = time.monotonic() + TIMEOUT
        while True:
            m = LISTENING_RE.search(self.read(self.out))
            if m:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("mutual-web (%s) did not say where it listens:\n%s%s"
                                   % (name, self.read(self.out), self.read(self.err)))
            time.sleep(0.05)
        self.port = int(m.group(2))
        self.base = "http://%s:%s" % (m.group(1), m.group(2))

    @staticmethod
    def read(path):
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def url(self, path):
        return self.base + path

    def login_url(self):
        """The one-time address that logs this laptop's browser in, as
        `mutual-web --url --store DIR` prints it (run as the same user)."""
        r = subprocess.run([self.binary, "--url", "--store", self.store],
                           stdin=subprocess.DEVNULL, capture_output=True, env=self.env,
                           timeout=TIMEOUT)
        out = r.stdout.decode("utf-8", "replace").strip()
        if r.returncode != 0 or not LOGIN_URL_RE.match(out) or \
                int(LOGIN_URL_RE.match(out).group(1)) != self.port:
            raise AssertionError("mutual-web --url (%s) exited %d and printed %r, not %s/?token=..."
                                 "\n%s" % (self.name, r.returncode, out, self.base,
                                           r.stderr.decode("utf-8", "replace")))
        return out

    def stop(self):
        """End the server (SIGTERM, as a service manager would) and return
        the problems it showed: a crash, a bad exit, a sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return ["mutual-web (%s) did not stop on SIGTERM" % self.name]
        err = self.read(self.err)
        problems = []
        if self.proc.returncode != 0:
            problems.append("mutual-web (%s) exited %d:\n%s" % (self.name, self.proc.returncode, err))
        elif SANITIZER_RE.search(err):
            problems.append("mutual-web (%s) reported:\n%s" % (self.name, err))
        return problems


class BrowserTest(unittest.TestCase):
    """One browser with a tab on each device's mutual-web, shared by the
    tests (starting chromium is the slow part)."""

    @classmethod
    def setUpClass(cls):
        cls.shots = os.environ.get("MUTUAL_SCREENSHOTS") or os.path.join(
            tempfile.gettempdir(), "mutual-web-screenshots")
        os.makedirs(cls.shots, exist_ok=True)
        cls.tmp = tempfile.mkdtemp(prefix="mutual-browser-test-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)

        laptop = clitest.new_group(os.path.join(cls.tmp, "laptop"), GROUP, "laptop")
        office = clitest.join_group(os.path.join(cls.tmp, "office"), laptop, "office-pc")
        stick = os.path.join(cls.tmp, "stick")
        os.mkdir(stick)

        cls.webs = []
        cls.addClassCleanup(cls.stop_webs)
        for name, store in (("laptop", laptop), ("office", office)):
            cls.webs.append(Web(cls.tmp, name, store, stick))
        cls.browser = cdp.Browser()
        cls.addClassCleanup(cls.browser.close)
        cls.tabs = [cls.browser.new_page() for _ in cls.webs]
        # The checks of a test case, for the setup that all tests share.
        case = cls()
        for i in range(len(cls.webs)):
            case.log_in(i)

    @classmethod
    def stop_webs(cls):
        problems = [p for web in cls.webs for p in web.stop()]
        if problems:
            raise AssertionError("\n".join(problems))

    # -- a person's steps, each checked like every page is

    def log_in(self, i):
        """Tab `i`, with no session on its device, is sent to the login page,
        which shows nothing of the group; the address `mutual-web --url`
        prints logs it in and leaves the token out of the URL bar."""
        tab, web = self.tabs[i], self.webs[i]
        tab.goto(web.url("/"))
        self.check_page(i)
        self.assertEqual(urllib.parse.urlsplit(tab.url()).path, "/login",
                         "without a session, / led to %s" % tab.url())
        self.assert_shows_no_group_data(i)
        self.assertIn("mutual-web --url --store", tab.text("main"))
        self.assertEqual(tab.evaluate("document.querySelectorAll('form').length"), 0,
                         "the login page on loopback without a passphrase has a form")

        tab.goto(web.login_url())
        self.check(i)
        self.assertNotIn("token", tab.url())
        self.assertEqual(urllib.parse.urlsplit(tab.url()).path, "/")
        self.assertEqual(tab.text("h1"), GROUP)
        # One cookie per port: both servers are on 127.0.0.1, and a browser
        # keeps cookies per host.
        name = "mutual_session_%d" % web.port
        cookies = [c for c in tab.send("Network.getCookies", {"urls": [web.url("/")]})["cookies"]
                   if c["name"] == name]
        self.assertEqual(len(cookies), 1, "no cookie %s after logging in" % name)
        self.assertTrue(cookies[0]["httpOnly"])
        self.assertEqual(cookies[0]["sameSite"], "Strict")
        self.assertEqual(cookies[0]["path"], "/")
        self.assertNotIn(name, tab.evaluate("document.cookie"))

    def log_in_again(self):
        """Every tab logs in again, after its cookies were cleared."""
        for i in range(len(self.webs)):
            self.log_in(i)

    def assert_shows_no_group_data(self, i):
        tab = self.tabs[i]
        for shown in (tab.text(), tab.evaluate("document.title")):
            self.assertNotIn(GROUP, shown)
            self.assertNotIn("Last sync", shown)

    def assert_nothing_ran(self, i):
        """The page of tab `i` holds no markup, handler or link of a
        member's making, and its title is its own."""
        tab = self.tabs[i]
        self.assertNotIn("pwned", tab.evaluate("document.title"))
        found = tab.evaluate("""(() => {
            const main = document.querySelector("main");
            const bad = [...main.querySelectorAll("img, script, iframe, object, embed, svg")]
                .map(e => e.outerHTML);
            for (const e of main.querySelectorAll("*"))
                for (const a of e.attributes)
                    if (a.name.startsWith("on") ||
                        (["href", "src", "action", "formaction"].includes(a.name) &&
                         /^\\s*javascript:/i.test(a.value)))
                        bad.push(e.tagName + " " + a.name + "=" + a.value);
            const scripts = [...document.scripts].map(s => s.src);
            return [bad, scripts];
        })()""")
        bad, scripts = found
        self.assertEqual(bad, [], "markup of a member's making in <main> of %s" % tab.url())
        self.assertEqual(scripts, [self.webs[i].url("/assets/app.js")],
                         "scripts other than the page's own app.js")

    def open(self, i, path, status=200):
        """Tab `i` opens `path` on its device's mutual-web."""
        self.tabs[i].goto(self.webs[i].url(path), status)
        self.check(i)

    def type_into(self, i, label, text, within=None):
        self.tabs[i].type_into(label, text, within)

    def press(self, i, button, within=None, status=200):
        self.tabs[i].press(button, within, status)
        self.check(i)

    def check_page(self, i):
        """What every page must be, the login page included: free of
        errors, as wide as the phone at most."""
        tab = self.tabs[i]
        errors, tab.errors = tab.errors, []  # each reported once, by the step that caused it
        self.assertEqual(errors, [], "the page %s reported errors" % tab.url())
        width = tab.evaluate("document.documentElement.scrollWidth")
        self.assertLessEqual(width, 390, "%s is %d px wide: it scrolls sideways on a phone"
                             % (tab.url(), width))

    def check(self, i):
        """What every page after the login must be: check_page(), with the
        contract's navigation and last-sync line."""
        tab = self.tabs[i]
        self.check_page(i)
        self.assertEqual(tab.texts("nav a"), ["Home", "Pantry", "Board", "Rota", "Sync"])
        self.assertIn("Last sync: ", tab.text())

    def screenshot(self, i, name):
        self.tabs[i].screenshot(os.path.join(self.shots, name + ".png"))

    def sync(self, i):
        """Sync device `i` with the stick; returns (received, sent)."""
        self.open(i, "/sync")
        self.press(i, "Sync with stick")
        status = self.tabs[i].text("[role=status]")
        m = SYNCED_RE.search(status or "")
        self.assertTrue(m, "the sync said: %r" % status)
        footer = self.tabs[i].text("footer")
        self.assertRegex(footer, r"Last sync: \d{4}-\d\d-\d\d \d\d:\d\d (GMT|BST) with stick")
        return int(m.group(1)), int(m.group(2))

    def post(self, i, title):
        """The text of the post titled `title` on the board of tab `i`, and
        of its conflict paragraph (None without one)."""
        found = self.tabs[i].evaluate("""(() => {
            const a = [...document.querySelectorAll("article.post")]
                .find(a => a.dataset.id && a.querySelector("h3").innerText.trim() === %s);
            const c = a && a.querySelector(".conflict");
            return a ? [a.innerText, c && c.innerText] : null;
        })()""" % json.dumps(title))
        self.assertIsNotNone(found, "no <article class=post data-id> titled %r on %s:\n%s"
                             % (title, self.tabs[i].url(), self.tabs[i].text()))
        return found

    # -- the tests

    def test_home_says_who_can_reach_it(self):
        for i, web in enumerate(self.webs):
            self.open(i, "/")
            self.assertEqual(self.tabs[i].text("h1"), GROUP)
            self.assertIn("Only browsers on this laptop that logged in can open this page "
                          "(listening on 127.0.0.1:%d)" % web.port, self.tabs[i].text())

    def test_the_login_address_works_once(self):
        for web in self.webs:
            self.assertIn("mutual-web: to log in on this laptop: mutual-web --url --store %s\n"
                          % web.store, web.read(web.out))
        spent = []
        for i, web in enumerate(self.webs):
            url = web.login_url()
            self.tabs[i].goto(url)  # logs in (again) and spends it
            self.check(i)
            self.assertNotIn("token", self.tabs[i].url())
            fresh = web.login_url()
            self.assertNotEqual(fresh, url, "mutual-web --url still prints the spent address")
            spent.append(url)

        # A browser without a session (another account's, or one that found
        # the address in a history or a scrollback) gets nothing from it.
        self.tabs[0].send("Network.clearBrowserCookies")  # every tab's
        self.addCleanup(self.log_in_again)
        for i, web in enumerate(self.webs):
            tab = self.tabs[i]
            tab.goto(spent[i], status=403)
            self.check_page(i)
            self.assertIn(SPENT, tab.text("[role=alert]") or "")
            self.assert_shows_no_group_data(i)
            self.screenshot(i, "login-spent-" + web.name)
            tab.goto(web.url("/board"))
            self.check_page(i)
            self.assertEqual(urllib.parse.urlsplit(tab.url()).path, "/login",
                             "the spent address left a session: /board led to %s" % tab.url())

    def test_a_hostile_members_text_is_shown_not_run(self):
        within = "New request or offer"
        self.open(0, "/board")
        self.type_into(0, "Title", HOSTILE_TITLE, within=within)
        self.type_into(0, "Area", HOSTILE_AREA, within=within)
        # A terminal escape is refused, and the page that says so shows the
        # kept form without running it.
        self.type_into(0, "Contact (how to reach them)", HOSTILE_CONTACT + ESC, within=within)
        self.press(0, "Post", within=within, status=400)
        self.assertIn("control character", self.tabs[0].text("[role=alert]") or "")
        self.assert_nothing_ran(0)
        self.assertEqual(self.tabs[0].value("Title", within=within), HOSTILE_TITLE)

        self.type_into(0, "Contact (how to reach them)", HOSTILE_CONTACT, within=within)
        self.press(0, "Post", within=within)
        self.open(0, "/board")
        self.assert_nothing_ran(0)
        text, _ = self.post(0, HOSTILE_TITLE)  # its <h3> reads the title, escaped
        # The override is shown, not obeyed: the page's own words after it
        # read left to right.
        self.assertIn(HOSTILE_AREA.replace("\u202e", "\\u202e"), text)
        self.assertNotIn("\u202e", text)
        self.assertRegex(text, r"· normal · posted \d{4}-\d\d-\d\d")
        self.assertIn(HOSTILE_CONTACT, text)
        self.assertIn("<img src=x", self.tabs[0].text("main"))
        self.screenshot(0, "board-hostile-post")

    def test_pantry_donation_and_a_bad_quantity(self):
        self.open(0, "/pantry")
        self.type_into(0, "Item", "rice", within="Donation in")
        self.type_into(0, "Quantity", "12", within="Donation in")
        self.type_into(0, "Unit", "kg", within="Donation in")
        self.press(0, "Record donation", within="Donation in")
        rows = self.tabs[0].evaluate("""[...document.querySelectorAll("section")]
            .filter(s => s.querySelector("h2") && s.querySelector("h2").innerText.trim() === "Stock")
            .flatMap(s => [...s.querySelectorAll("tbody tr")].map(r => r.innerText))""")
        self.assertTrue(any({"rice", "12", "kg"} <= set(r.split("\t")) for r in rows),
                        "no row for 12 kg of rice in the Stock table: %r" % rows)
        self.screenshot(0, "pantry-after-donation")

        self.type_into(0, "Item", "lentils", within="Donation in")
        self.type_into(0, "Quantity", "abc", within="Donation in")
        self.press(0, "Record donation", within="Donation in", status=400)
        alert = self.tabs[0].text("[role=alert]")
        self.assertTrue(alert and alert.strip(), "the 400 page has no role=alert message")
        self.assertEqual(self.tabs[0].value("Item", within="Donation in"), "lentils")
        self.assertEqual(self.tabs[0].value("Quantity", within="Donation in"), "abc")
        self.screenshot(0, "pantry-bad-quantity")

    def test_offline_claims_show_the_same_conflict_on_both_devices(self):
        laptop, office = 0, 1
        self.open(laptop, "/board")
        self.type_into(laptop, "Title", TITLE, within="New request or offer")
        self.type_into(laptop, "Area", "North estate", within="New request or offer")
        self.type_into(laptop, "Contact (how to reach them)", "Call the pantry desk",
                  within="New request or offer")
        # The selects, left as a person in a hurry leaves them.
        for label, default in (("Category", "groceries"), ("Kind", "request"), ("Urgency", "normal")):
            self.assertEqual(self.tabs[laptop].value(label, within="New request or offer"), default)
        self.press(laptop, "Post", within="New request or offer")
        text, conflict = self.post(laptop, TITLE)
        self.assertIn("Open", text)
        self.assertIsNone(conflict)
        self.screenshot(laptop, "board-after-post")

        received, sent = self.sync(laptop)
        self.assertGreater(sent, 0)
        self.screenshot(laptop, "sync-laptop")
        received, sent = self.sync(office)
        self.assertGreater(received, 0)
        self.screenshot(office, "sync-office")
        self.open(office, "/board")
        self.post(office, TITLE)  # it reached the office PC

        # Apart, both devices' volunteers take the request on.
        for tab, name in ((laptop, "Ana"), (office, "Ben")):
            self.open(tab, "/board")
            self.type_into(tab, "Your name", name, within=TITLE)
            self.press(tab, "Claim", within=TITLE)
            self.assertIn("Claimed by " + name, self.post(tab, TITLE)[0])

        self.sync(laptop)
        self.sync(office)
        self.sync(laptop)
        holders = []
        for tab, device in ((laptop, "laptop"), (office, "office")):
            self.open(tab, "/board")
            text, conflict = self.post(tab, TITLE)
            m = re.search(r"Claimed by (\w+)", text)
            self.assertTrue(m, "no holder shown on the %s: %r" % (device, text))
            holder = m.group(1)
            self.assertIn(holder, ("Ana", "Ben"))
            other = "Ben" if holder == "Ana" else "Ana"
            # The contract's form: "Conflict: Ben also claimed this while
            # offline. ..." next to "Claimed by Ana".
            self.assertIsNotNone(conflict, "no conflict shown on the %s: %r" % (device, text))
            self.assertIn("Conflict", conflict)
            self.assertIn(other, conflict)
            holders.append(holder)
            self.screenshot(tab, "conflict-" + device)
        self.assertEqual(holders[0], holders[1], "the devices disagree on who holds the request")

    def test_rota_shift_sign_up_and_workload(self):
        tomorrow = (datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London"))
                    + datetime.timedelta(days=1)).strftime("%Y-%m-%d")
        self.open(0, "/rota")
        for label, value in (("Title", "Sort donations"), ("Date", tomorrow), ("Start", "17:00"),
                             ("End", "19:30"), ("People needed", "2")):
            self.type_into(0, label, value, within="New shift")
        self.press(0, "Add shift", within="New shift")
        self.type_into(0, "Your name", "Ana", within="Sort donations")
        self.press(0, "Sign up", within="Sort donations")
        shift = self.tabs[0].evaluate("""[...document.querySelectorAll("article.shift")]
            .filter(a => a.querySelector("h3").innerText.trim() === "Sort donations")
            .map(a => a.innerText)""")
        self.assertEqual(len(shift), 1, "one shift titled 'Sort donations': %r" % shift)
        self.assertIn("17:00", shift[0])
        self.assertIn("19:30", shift[0])
        self.assertIn("1 of 2 places filled", shift[0])
        self.assertIn("Ana", shift[0])
        # A shift still to come is no workload yet, but its volunteer is known.
        rows = self.tabs[0].evaluate("""[...document.querySelectorAll("section")]
            .filter(s => s.querySelector("h2").innerText.startsWith("Workload"))
            .flatMap(s => [...s.querySelectorAll("tbody tr")].map(r => r.innerText))""")
        self.assertTrue(any(r.startswith("Ana\t") for r in rows), "Ana not in the workload: %r" % rows)
        self.screenshot(0, "rota-after-sign-up")

        # Ana cannot make it after all: she hands her place to Ben.
        self.type_into(0, "Hand it to", "Ben", within="Sort donations")
        self.press(0, "Hand over", within="Sort donations")
        names = self.tabs[0].evaluate("""[...document.querySelectorAll("article.shift")]
            .filter(a => a.querySelector("h3").innerText.trim() === "Sort donations")
            .flatMap(a => [...a.querySelectorAll(".name")].map(n => n.innerText))""")
        self.assertEqual(names, ["Ben"])

        # A time the clocks skip is refused on the page, with the form kept.
        self.type_into(0, "Title", "Night sort", within="New shift")
        self.type_into(0, "Date", "2027-03-28", within="New shift")
        self.type_into(0, "Start", "01:30", within="New shift")
        self.type_into(0, "End", "02:30", within="New shift")
        self.type_into(0, "People needed", "1", within="New shift")
        self.press(0, "Add shift", within="New shift", status=400)
        self.assertIn("does not exist", self.tabs[0].text("[role=alert]"))
        self.assertEqual(self.tabs[0].value("Title", within="New shift"), "Night sort")


if __name__ == "__main__":
    unittest.main()
