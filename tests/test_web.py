"""Black-box tests of `mutual-web`, the apps' local web front end, over HTTP.

Run from the source tree with the built binaries named by the environment:

    MUTUAL_WEB=build/examples/web/mutual-web MUTUAL_CLI=build/cli/mutual \
        python3 -m unittest -v tests/test_web.py

Each test starts its own server (port 0: the kernel picks one, read back
from the "listening on" line) over a fresh store made with the CLI, speaks
HTTP to it with http.client (no redirect is followed behind the test's
back), reads the pages back and stops the server with SIGTERM, which must
end it cleanly. Only the Python standard library is used.
"""

import datetime
import html
import json
import http.client
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402  (the shared helpers beside this file)

WEB = None  # the absolute path, set by setUpModule()

TIMEOUT = 120  # seconds: a hang guard for children and sockets, not a timing assertion
ZONE = "Europe/London"
CSP = ("default-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'")


def setUpModule():
    global WEB
    clitest.cli_path()  # fail early when MUTUAL_CLI is not set
    WEB = clitest.binary_path("MUTUAL_WEB", "build/examples/web/mutual-web")


def child_env():
    env = dict(os.environ)
    env.pop("MUTUAL_STORE", None)
    env.pop("MUTUAL_APPS_NOW_MS", None)
    env["TZ"] = ZONE
    return env


def non_loopback_ipv4():
    """One of this machine's IPv4 addresses outside 127.0.0.0/8, or None."""
    try:
        out = subprocess.run(["hostname", "-I"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=TIMEOUT).stdout
    except OSError:
        return None
    for word in out.split():
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", word) and not word.startswith("127."):
            return word
    return None


def removable_mounts():
    """Mount points under /media or /run/media (mutual-web offers them too)."""
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f
                if line.split()[1].startswith(("/media/", "/run/media/"))]


NEEDS_PRIVATE_MOUNT = ("this test needs root and unshare(1) (util-linux, installed by "
                       "scripts/deps.sh) to mount a private /media")


def can_mount_privately():
    """Whether this process may mount in a mount namespace of its own."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not os.path.isdir("/media"):
        return False
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t",
                        "tmpfs", "none", "/media"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=TIMEOUT)
    return r.returncode == 0


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage
        self.body = body        # bytes
        self.text = body.decode("utf-8", "replace")

    def header(self, name):
        return self.headers.get(name)


class Server:
    """One mutual-web process. Start with start(); stop() sends SIGTERM and
    returns the exit status."""

    def __init__(self, store, listen="127.0.0.1:0", sticks=(), extra=(), wrapper=()):
        self.argv = list(wrapper) + [WEB, "--store", store, "--listen", listen]
        for s in sticks:
            self.argv += ["--stick", s]
        self.argv += list(extra)
        self.proc = None
        self.lines = []
        self.pin = None
        self.addr = None
        self.port = None
        self.cookie = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=child_env())
        # Raw reads of the pipe: a buffered reader could hold the next line
        # while select() says there is nothing more to read.
        pending = b""
        while True:
            if b"\n" not in pending:
                ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
                if not ready:
                    self.proc.kill()
                    self.proc.wait(timeout=TIMEOUT)
                    raise AssertionError("mutual-web printed no listening line")
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    err = self.proc.stderr.read().decode("utf-8", "replace")
                    self.proc.wait(timeout=TIMEOUT)
                    raise AssertionError("mutual-web exited %s before listening: %s"
                                         % (self.proc.returncode, err))
                pending += chunk
                continue
            raw, pending = pending.split(b"\n", 1)
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            m = re.match(r"mutual-web: PIN for other devices: (\d{8})$", line)
            if m:
                self.pin = m.group(1)
            m = re.match(r"mutual-web: listening on http://(.+):(\d+)/$", line)
            if m:
                self.addr, self.port = m.group(1), int(m.group(2))
                return self

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=TIMEOUT)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode

    def connect_host(self):
        """Where to connect: the listen address, or loopback for a wildcard."""
        return "127.0.0.1" if self.addr in ("0.0.0.0", "[::]") else self.addr.strip("[]")

    def request(self, method, path, body=None, headers=None, host=None, cookie=True):
        conn = http.client.HTTPConnection(self.connect_host(), self.port, timeout=TIMEOUT)
        hdrs = {"Host": host if host is not None else "%s:%d" % (self.addr, self.port)}
        if cookie and self.cookie:
            hdrs["Cookie"] = self.cookie
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, r.headers, r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_raw(self, path, body, content_type="application/x-www-form-urlencoded", **kw):
        if isinstance(body, str):
            body = body.encode("utf-8")
        return self.request("POST", path, body=body,
                            headers={"Content-Type": content_type}, **kw)

    def csrf(self, page="/board"):
        r = self.get(page)
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text)
        if not m:
            raise AssertionError("no CSRF token on %s (status %d)" % (page, r.status))
        return m.group(1)

    def post(self, path, fields, token=True, page=None):
        """POST `fields` as the page's form would, with the page's CSRF token."""
        fields = dict(fields)
        if token:
            fields["csrf"] = self.csrf(page or "/board")
        return self.post_raw(path, urllib.parse.urlencode(fields))

    def follow(self, r):
        """The page a 303 sends the browser to."""
        assert r.status == 303, (r.status, r.text[:500])
        return self.get(r.header("Location"))


def role_text(page_html, role):
    """The text of every element with role=`role`, unescaped."""
    return [html.unescape(re.sub(r"<[^>]+>", "", m))
            for m in re.findall(r'role="%s">(.*?)</p>' % role, page_html, re.S)]


def articles(page_html, cls):
    """{data-id: inner html} of every <article class="cls ...">."""
    return dict(re.findall(r'<article class="%s[^"]*" data-id="([0-9a-f]+)">(.*?)</article>'
                           % cls, page_html, re.S))


def plain(fragment):
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


class WebCase(unittest.TestCase):
    """A fresh store, a stick folder and a running server for each test."""

    listen = "127.0.0.1:0"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mutual-web-test-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.store = os.path.join(self.tmp, "store")
        self.stick = os.path.join(self.tmp, "stick")
        os.mkdir(self.stick)
        clitest.new_group(self.store, "School food pantry", "pantry-laptop")
        self.server = self.start_server(self.store, sticks=[self.stick], listen=self.listen)

    def start_server(self, store, **kw):
        server = Server(store, **kw).start()
        self.addCleanup(self.stopped_cleanly, server)
        return server

    def stopped_cleanly(self, server):
        self.assertEqual(server.stop(), 0, "mutual-web did not stop cleanly on SIGTERM")

    def assertAlive(self):
        self.assertEqual(self.server.get("/").status, 200, "the server stopped answering")

    def stock_csv(self):
        r = self.server.get("/pantry/stock.csv")
        self.assertEqual(r.status, 200)
        return r.text

    def board_ids(self):
        return set(articles(self.server.get("/board").text, "post"))


class PagesTest(WebCase):
    def test_home_says_only_this_laptop(self):
        r = self.server.get("/")
        self.assertEqual(r.status, 200)
        self.assertIn("<h1>School food pantry</h1>", r.text)
        self.assertIn("Only this laptop can open this page (listening on 127.0.0.1:%d)"
                      % self.server.port, r.text)
        for link in ("Home", "Pantry", "Board", "Rota", "Sync"):
            self.assertRegex(r.text, r'<a href="[^"]*"[^>]*>%s</a>' % link)
        self.assertIn("Last sync: never", r.text)

    def test_security_headers(self):
        for path in ("/", "/pantry", "/board", "/rota", "/sync", "/nope"):
            r = self.server.get(path)
            self.assertEqual(r.header("Content-Security-Policy"), CSP, path)
            self.assertEqual(r.header("X-Content-Type-Options"), "nosniff", path)
            self.assertEqual(r.header("Referrer-Policy"), "no-referrer", path)
            self.assertEqual(r.header("Cache-Control"), "no-store", path)
        css = self.server.get("/assets/style.css")
        self.assertEqual(css.status, 200)
        self.assertTrue(css.header("Content-Type").startswith("text/css"))
        js = self.server.get("/assets/app.js")
        self.assertEqual(js.status, 200)
        self.assertTrue(js.header("Content-Type").startswith("text/javascript"))
        self.assertIn("localStorage", js.text)

    def test_pages_have_labelled_forms(self):
        expect = {
            "/pantry": ["Item", "Quantity", "Unit", "From (optional)", "Households", "Bags",
                        "Note", "Minimum", "Record donation", "Record hand-out",
                        "Set threshold", "Download stock (CSV)", "Download hand-outs (CSV)"],
            "/board": ["New request or offer", "Title", "Area", "Contact (how to reach them)",
                       "Category", "Kind", "Urgency", "Post"],
            "/rota": ["New shift", "Title", "Date", "Start", "End", "People needed",
                      "Repeat weekly for (weeks)", "Add shift", "Workload (last 4 weeks)"],
            "/sync": ["Sync with stick"],
        }
        for path, words in expect.items():
            r = self.server.get(path)
            self.assertEqual(r.status, 200, path)
            self.assertIn('<form method="post"', r.text, path)
            self.assertIn('name="csrf"', r.text, path)
            self.assertIn('name="viewport"', r.text, path)
            for word in words:
                self.assertIn(">%s<" % html.escape(word, quote=False), r.text, (path, word))
            # Every label names a field that exists, and every field has a label.
            labels = re.findall(r'<label for="([^"]+)">', r.text)
            ids = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', r.text)
            self.assertEqual(sorted(labels), sorted(ids), path)
            self.assertNotIn("required", r.text, path)
            self.assertNotIn("onclick", r.text, path)

    def test_sync_page_lists_the_stick_first(self):
        r = self.server.get("/sync")
        self.assertEqual(r.text.count(">Sync with stick</button>"), 1 + len(removable_mounts()))
        first = re.search(r'name="target" value="(\d+)"><input type="hidden" name="label" '
                          r'value="([^"]*)"', r.text)
        self.assertEqual(first.groups(), ("0", "stick"))

    def test_csv_downloads(self):
        self.server.post("/pantry/donate", {"item": "=rice", "qty": "12.5", "unit": "kg"})
        for path in ("/pantry/stock.csv", "/pantry/distributions.csv"):
            r = self.server.get(path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.header("Content-Type"), "text/csv; charset=utf-8")
            self.assertRegex(r.header("Content-Disposition"), r'^attachment; filename="[^"]+\.csv"$')
        # A leading = never reaches a spreadsheet as a formula.
        self.assertIn("\"'=rice\",kg,12.5", self.stock_csv())

    def test_home_summarises(self):
        self.server.post("/board/post", {"title": "Nappies", "area": "north", "kind": "request",
                                         "category": "groceries", "urgency": "normal"})
        self.server.post("/pantry/threshold", {"item": "rice", "unit": "kg", "min": "5"})
        text = plain(self.server.get("/").text)
        self.assertIn("Board : 1 open, 0 claimed", text)
        self.assertIn("Pantry : 1 item low on stock", text)


class PantryTest(WebCase):
    def test_donation_hand_out_threshold(self):
        r = self.server.post("/pantry/donate", {"item": "Rice", "qty": "12", "unit": "KG",
                                                "source": "Co-op"})
        self.assertEqual(r.status, 303)
        self.assertRegex(r.header("Location"), r"^/pantry\?m=[0-9a-f]{16}$")
        page = self.server.follow(r)
        self.assertEqual(role_text(page.text, "status"), ["Donation recorded."])
        self.assertIn("<td>Rice</td><td>kg</td><td class=\"num\">12</td>", page.text)
        self.assertIn("Co-op", page.text)

        r = self.server.post("/pantry/hand-out", {"households": "2", "bags": "3", "item": "rice",
                                                  "qty": "2.5", "unit": "kg",
                                                  "note": "late pick-up"})
        self.assertEqual(r.status, 303)
        page = self.server.follow(r)
        self.assertEqual(role_text(page.text, "status"), ["Hand-out to 2 households recorded."])
        self.assertIn("Never write names", page.text)
        self.assertIn("<td class=\"num\">9.5</td>", page.text)
        dist = self.server.get("/pantry/distributions.csv").text
        self.assertIn(",2,3,rice,2.5,kg,late pick-up,pantry-laptop", dist)

        r = self.server.post("/pantry/threshold", {"item": "rice", "unit": "kg", "min": "10"})
        page = self.server.follow(r)
        self.assertRegex(page.text, r'<tr class="low"><td>Rice</td>.*?LOW')
        self.assertIn("rice,kg,9.5,10,yes", self.stock_csv().lower())

    def test_bags_only_hand_out(self):
        r = self.server.post("/pantry/hand-out", {"households": "1", "bags": "2", "item": "",
                                                  "qty": "", "unit": "", "note": ""})
        self.assertEqual(r.status, 303)
        self.assertIn("1 household, 2 bags", plain(self.server.follow(r).text))

    def test_refused_input_is_400_and_writes_nothing(self):
        self.server.post("/pantry/donate", {"item": "rice", "qty": "1", "unit": "kg"})
        before = self.stock_csv()
        cases = [
            ("/pantry/donate", {"item": "rice", "qty": "abc", "unit": "kg"}, "not a quantity"),
            ("/pantry/donate", {"item": "", "qty": "1", "unit": "kg"}, "The item is empty"),
            ("/pantry/donate", {"item": "rice", "qty": "1.2345", "unit": "kg"}, "3 decimals"),
            ("/pantry/donate", {"item": "rice", "qty": "-4", "unit": "kg"}, "more than zero"),
            ("/pantry/hand-out", {"households": "", "bags": "1"}, "households"),
            ("/pantry/hand-out", {"households": "two", "bags": "1"}, "whole number"),
            ("/pantry/hand-out", {"households": "1", "bags": ""}, "how many bags"),
            ("/pantry/threshold", {"item": "rice", "unit": "", "min": "3"}, "The unit is empty"),
        ]
        for path, fields, message in cases:
            r = self.server.post(path, fields)
            self.assertEqual(r.status, 400, (path, fields))
            alerts = role_text(r.text, "alert")
            self.assertEqual(len(alerts), 1, r.text[:300])
            self.assertIn(message.lower(), alerts[0].lower(), (path, fields))
            self.assertIn("<h1>Pantry</h1>", r.text)  # the same page, the form again
            self.assertIn("Last sync: never", r.text)
        # The values typed are kept in the form that was refused.
        r = self.server.post("/pantry/donate", {"item": "porridge oats", "qty": "x", "unit": "kg"})
        self.assertIn('id="donate-item" name="item" autocomplete="off" value="porridge oats"', r.text)
        self.assertRegex(r.text, r'id="threshold-item" name="item" autocomplete="off">')
        self.assertEqual(self.stock_csv(), before)


class BoardTest(WebCase):
    def post_request(self, title="Nappies size 4", contact="07700 900123", urgency="urgent"):
        r = self.server.post("/board/post", {"title": title, "area": "Northside",
                                             "contact": contact, "category": "groceries",
                                             "kind": "request", "urgency": urgency})
        self.assertEqual(r.status, 303, r.text[:500])
        page = self.server.follow(r)
        self.assertEqual(role_text(page.text, "status"), ["Posted."])
        ids = [i for i, body in articles(page.text, "post").items()
               if "<h3>%s</h3>" % html.escape(title) in body]
        self.assertEqual(len(ids), 1)
        return ids[0]

    def article(self, post_id):
        return articles(self.server.get("/board").text, "post")[post_id]

    def test_defaults_of_the_new_post_form(self):
        text = self.server.get("/board").text
        self.assertIn('<option value="groceries" selected>', text)
        self.assertIn('<option value="request" selected>', text)
        self.assertIn('<option value="normal" selected>', text)

    def test_post_claim_release_fulfil_clear(self):
        pid = self.post_request()
        art = self.article(pid)
        self.assertIn("<h3>Nappies size 4</h3>", art)
        self.assertIn("Open", plain(art))
        self.assertIn(">Claim</button>", art)
        self.assertIn('<label for="claim-%s-who">Your name</label>' % pid, art)
        self.assertNotIn(">Release</button>", art)

        r = self.server.post("/board/claim", {"id": pid, "who": "Ana"})
        self.assertEqual(role_text(self.server.follow(r).text, "status"), ["Claimed by Ana."])
        art = self.article(pid)
        self.assertIn("Claimed by Ana", plain(art))
        for button in ("Claim", "Release", "Mark fulfilled", "Cancel"):
            self.assertIn(">%s</button>" % button, art)
        self.assertNotIn('class="conflict"', art)

        # Someone else cannot take it over silently.
        r = self.server.post("/board/claim", {"id": pid, "who": "Ben"})
        self.assertEqual(r.status, 400)
        self.assertIn("Ana has claimed this already", role_text(r.text, "alert")[0])
        self.assertRegex(r.text, r'id="claim-%s-who" name="who"[^>]* value="Ben"' % pid)

        self.server.follow(self.server.post("/board/release", {"id": pid}))
        self.assertIn("Open", plain(self.article(pid)))
        self.server.follow(self.server.post("/board/claim", {"id": pid, "who": "Ben"}))
        self.server.follow(self.server.post("/board/fulfil", {"id": pid}))
        page = self.server.get("/board").text
        closed = page[page.index("<h2>Closed</h2>"):]
        self.assertIn('data-id="%s"' % pid, closed)
        art = articles(page, "post")[pid]
        self.assertIn(">Clear contact</button>", art)
        self.assertIn("07700 900123", art)
        self.assertIn("the log still holds it until redaction exists", art)
        self.assertNotIn(">Claim</button>", art)

        r = self.server.post("/board/clear-contact", {"id": pid})
        self.server.follow(r)
        art = self.article(pid)
        self.assertNotIn("07700 900123", art)
        self.assertNotIn(">Clear contact</button>", art)

    def test_refused_posts_write_nothing(self):
        self.post_request()
        before = self.board_ids()
        cases = [
            ({"title": "", "area": "north", "kind": "request", "category": "groceries"},
             "The title is empty"),
            ({"title": "x", "area": "   ", "kind": "request", "category": "groceries"},
             "The area is empty"),
            ({"title": "x", "area": "n", "kind": "demand", "category": "groceries"},
             "request or an offer"),
            ({"title": "x", "area": "n", "kind": "offer", "category": "weapons"},
             "category must be one of"),
            ({"title": "x" * 121, "area": "n", "kind": "offer", "category": "rides"},
             "longer than"),
            ({"title": "bad\x01byte", "area": "n", "kind": "offer", "category": "rides"},
             "control character"),
        ]
        for fields, message in cases:
            r = self.server.post("/board/post", fields)
            self.assertEqual(r.status, 400, fields)
            self.assertIn(message.lower(), role_text(r.text, "alert")[0].lower(), fields)
            self.assertIn("<h2>New request or offer</h2>", r.text)
        r = self.server.post_raw("/board/post", "csrf=%s&title=%%ff%%fe&area=n&kind=offer"
                                 "&category=rides" % self.server.csrf())
        self.assertEqual(r.status, 400)
        self.assertIn("not valid UTF-8", role_text(r.text, "alert")[0])
        self.assertEqual(self.board_ids(), before)

        r = self.server.post("/board/claim", {"id": "not-an-id", "who": "Ana"})
        self.assertEqual(r.status, 400)
        r = self.server.post("/board/claim", {"id": "0123456789abcdef", "who": "Ana"})
        self.assertEqual(r.status, 404)
        r = self.server.post("/board/claim", {"id": next(iter(before)), "who": ""})
        self.assertEqual(r.status, 400)
        self.assertNotIn("Claimed by", plain(self.server.get("/board").text))

    def test_html_in_text_is_escaped(self):
        pid = self.post_request(title="<script>alert(1)</script> & \"quotes\"")
        art = self.article(pid)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;", art)
        self.assertNotIn("<script>alert", self.server.get("/board").text)


class RotaTest(WebCase):
    def tomorrow(self):
        now = datetime.datetime.now(zoneinfo.ZoneInfo(ZONE))
        return (now + datetime.timedelta(days=1)).strftime("%Y-%m-%d")

    def test_shift_signup_drop(self):
        day = self.tomorrow()
        r = self.server.post("/rota/shift", {"title": "Thursday hand-out", "date": day,
                                             "start": "17:00", "end": "20:00", "slots": "2",
                                             "weeks": "3"})
        self.assertEqual(r.status, 303, r.text[:600])
        page = self.server.follow(r)
        self.assertEqual(role_text(page.text, "status"), ["3 weekly shifts added."])
        shifts = articles(page.text, "shift")
        self.assertEqual(len(shifts), 2)  # this week's and next week's fall in the 14 days
        sid, art = sorted(shifts.items(), key=lambda kv: kv[1])[0]
        self.assertIn("%s 17:00–20:00 G" % day, plain(art))  # GMT or BST
        self.assertIn("0 of 2 places filled", art)

        r = self.server.post("/rota/signup", {"shift": sid, "who": "Ana"})
        self.assertEqual(role_text(self.server.follow(r).text, "status"), ["Signed up."])
        art = articles(self.server.get("/rota").text, "shift")[sid]
        self.assertIn('<span class="name">Ana</span>', art)
        self.assertIn("1 of 2 places filled", art)
        self.assertIn(">Drop</button>", art)
        self.assertIn("Who could take it:", art)
        self.assertIn("<td>Ana</td>", self.server.get("/rota").text)  # the workload table

        # Ana cannot make it and hands her place to Ben, in one step.
        self.assertIn(">Hand over</button>", art)
        r = self.server.post("/rota/swap", {"shift": sid, "from": "Ana", "to": "Ben"})
        self.assertEqual(role_text(self.server.follow(r).text, "status"), ["Place handed over."])
        art = articles(self.server.get("/rota").text, "shift")[sid]
        self.assertIn('<span class="name">Ben</span>', art)
        self.assertNotIn('<span class="name">Ana</span>', art)
        r = self.server.post("/rota/swap", {"shift": sid, "from": "Ana", "to": "Cy"})
        self.assertEqual(r.status, 400)  # Ana is no longer on it: refused, form kept
        self.assertIn('value="Cy"', r.text)

        r = self.server.post("/rota/drop", {"shift": sid, "volunteer": "Ben"})
        self.server.follow(r)
        art = articles(self.server.get("/rota").text, "shift")[sid]
        self.assertIn("0 of 2 places filled", art)
        self.assertNotIn(">Drop</button>", art)
        self.assertNotIn(">Hand over</button>", art)

    def test_refused_shifts_write_nothing(self):
        day = self.tomorrow()
        good = {"title": "Sort", "date": day, "start": "09:00", "end": "11:00", "slots": "1",
                "weeks": "1"}
        cases = [
            ({"date": "26/11/2026"}, "date must look like"),
            ({"date": "2026-02-30"}, ""),
            ({"start": "25:00"}, "hh:mm"),
            ({"slots": "0"}, "People needed"),
            ({"slots": "lots"}, "People needed"),
            ({"weeks": "53"}, ""),
            ({"title": ""}, "title"),
        ]
        for change, message in cases:
            fields = dict(good, **change)
            r = self.server.post("/rota/shift", fields)
            self.assertEqual(r.status, 400, fields)
            self.assertIn(message.lower(), role_text(r.text, "alert")[0].lower(), fields)
            self.assertIn('value="%s"' % html.escape(fields["date"]), r.text)
        self.assertEqual(articles(self.server.get("/rota").text, "shift"), {})
        r = self.server.post("/rota/signup", {"shift": "0123456789abcdef", "who": "Ana"})
        self.assertIn(r.status, (400, 404))


class HttpTest(WebCase):
    def test_csrf_is_required(self):
        before = self.stock_csv()
        fields = {"item": "rice", "qty": "1", "unit": "kg"}
        r = self.server.post("/pantry/donate", fields, token=False)
        self.assertEqual(r.status, 403)
        r = self.server.post("/pantry/donate", dict(fields, csrf="0" * 64), token=False)
        self.assertEqual(r.status, 403)
        r = self.server.post("/pantry/donate", dict(fields, csrf=self.server.csrf()[:-1]),
                             token=False)
        self.assertEqual(r.status, 403)
        # A browser that says another site sent the form is refused even with the token.
        body = urllib.parse.urlencode(dict(fields, csrf=self.server.csrf()))
        r = self.server.request("POST", "/pantry/donate", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
        self.assertEqual(r.status, 403)
        self.assertEqual(self.stock_csv(), before)

    def test_host_header(self):
        port = self.server.port
        for host in ("evil.example:%d" % port, "127.0.0.1:%d" % (port + 1 if port < 65535 else 1),
                     "127.0.0.1", "attacker.localhost:%d" % port, "127.0.0.1:%dx" % port, ""):
            r = self.server.get("/", host=host)
            self.assertEqual(r.status, 421, host)
            self.assertNotIn("School food pantry", r.text)
        fields = urllib.parse.urlencode({"item": "rice", "qty": "1", "unit": "kg",
                                         "csrf": self.server.csrf()})
        r = self.server.post_raw("/pantry/donate", fields, host="evil.example:%d" % port)
        self.assertEqual(r.status, 421)
        for host in ("localhost:%d" % port, "LOCALHOST:%d" % port, "127.0.0.1:%d" % port):
            self.assertEqual(self.server.get("/", host=host).status, 200, host)
        self.assertNotIn("rice", self.stock_csv())

    def test_paths_and_methods(self):
        self.assertEqual(self.server.get("/nope").status, 404)
        self.assertEqual(self.server.get("/pantry/").status, 404)
        self.assertEqual(self.server.get("/assets/nope.css").status, 404)
        self.assertEqual(self.server.get("/../etc/passwd").status, 404)
        r = self.server.get("/pantry/donate")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("Allow"), "POST")
        r = self.server.post("/pantry", {"item": "x"})
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        for method in ("DELETE", "PUT", "PATCH"):
            self.assertEqual(self.server.request(method, "/").status, 405, method)
        self.assertEqual(self.server.request("HEAD", "/pantry").status, 200)

    def test_huge_body_is_413(self):
        # The answer comes from the headers alone, before any of the body is
        # read; sending only the headers keeps the client from racing the
        # server's close of the connection.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT) as s:
            s.sendall(b"POST /pantry/donate HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: 100000\r\n\r\n" % self.server.port)
            reply = b""
            while b"\r\n" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        self.assertRegex(reply, rb"^HTTP/1\.1 413 ")
        self.assertAlive()

    def test_chunked_huge_body_does_not_hurt(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT)
        try:
            conn.request("POST", "/pantry/donate", body=iter([b"a" * 65536, b"b" * 65536]),
                         headers={"Host": "127.0.0.1:%d" % self.server.port,
                                  "Content-Type": "application/x-www-form-urlencoded"},
                         encode_chunked=True)
            status = conn.getresponse().status
            self.assertGreaterEqual(status, 400)
        except (ConnectionError, http.client.HTTPException):
            pass  # closed mid-body: the server cannot answer 413 after reading part of it
        finally:
            conn.close()
        self.assertAlive()

    def test_garbage_forms_are_4xx(self):
        before = self.stock_csv()
        token = self.server.csrf()
        bodies = [
            "csrf=%s&item=%%zz&qty=1&unit=kg" % token,
            "csrf=%s&item=rice%%&qty=1&unit=kg" % token,
            "csrf=%s&item=rice%%4&qty=1&unit=kg" % token,
            "csrf=%s&item=ri%%00ce&qty=1&unit=kg" % token,
            "csrf=%s&item=rice&item=beans&qty=1&unit=kg" % token,
            "csrf=%s&=rice&qty=1&unit=kg" % token,
            "csrf=%s&%s=1" % (token, "n" * 65),
            "csrf=%s&item=%s&qty=1&unit=kg" % (token, "r" * 5000),
            "csrf=%s&" % token + "&".join("f%d=1" % i for i in range(70)),
            "csrf=%s&item=%s&qty=1&unit=kg" % (token, "%C3%A9" * 100),
            "\x00\x01\x02",
            "&&&===&&&",
        ]
        for body in bodies:
            r = self.server.post_raw("/pantry/donate", body)
            self.assertTrue(400 <= r.status < 500, (r.status, body[:80]))
        r = self.server.post_raw("/pantry/donate", "csrf=%s&item=rice&qty=1&unit=kg" % token,
                                 content_type="multipart/form-data; boundary=x")
        self.assertEqual(r.status, 415)
        r = self.server.post_raw("/pantry/donate", "csrf=%s&item=rice&qty=1&unit=kg" % token,
                                 content_type="text/plain")
        self.assertEqual(r.status, 415)
        self.assertEqual(self.stock_csv(), before)
        # Raw garbage on the socket, then the server still answers.
        for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n",
                    b"\xff\xfe\x00\r\n\r\n", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT) as s:
                try:
                    s.sendall(raw)
                    s.shutdown(socket.SHUT_WR)
                    s.recv(4096)
                except OSError:
                    pass
        self.assertAlive()
        # A form that parses is accepted: the refusals above were about the bytes.
        r = self.server.post_raw("/pantry/donate", "csrf=%s&item=caf%%C3%%A9+au+lait&qty=1&unit=kg"
                                 % self.server.csrf())
        self.assertEqual(r.status, 303)
        self.assertIn("café au lait", self.stock_csv())

    def test_status_message_comes_from_the_server(self):
        r = self.server.get("/pantry?m=" + "0" * 16)
        self.assertEqual(role_text(r.text, "status"), [])
        r = self.server.get("/pantry?m=%3Cscript%3E")
        self.assertEqual(r.status, 200)
        self.assertNotIn("<script>", r.text.replace('<script src="/assets/app.js" defer></script>', ""))


class LoopbackRangeTest(WebCase):
    listen = "127.0.0.2:0"

    def test_any_127_address_is_loopback(self):
        r = self.server.get("/")
        self.assertEqual(r.status, 200)
        self.assertIn("Only this laptop can open this page (listening on 127.0.0.2:%d)"
                      % self.server.port, r.text)
        self.assertIsNone(self.server.pin)


class SyncTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mutual-web-sync-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.stick = os.path.join(self.tmp, "pantry-stick")
        os.mkdir(self.stick)
        self.a = os.path.join(self.tmp, "laptop")
        self.b = os.path.join(self.tmp, "office")
        clitest.new_group(self.a, "School food pantry", "pantry-laptop")
        clitest.join_group(self.b, self.a, "office-pc")

    def start(self, store, **kw):
        server = Server(store, **kw).start()
        self.addCleanup(lambda: self.assertEqual(server.stop(), 0))
        return server

    def sync(self, server, target="0", label="pantry-stick"):
        r = server.post("/sync", {"target": target, "label": label}, page="/sync")
        self.assertEqual(r.status, 303, r.text[:600])
        page = server.follow(r)
        status = role_text(page.text, "status")
        self.assertEqual(len(status), 1)
        return status[0], page

    def test_a_second_laptop_is_told_apart_on_the_pages(self):
        """A device that joins as "pantry-l\u0430ptop" (a Cyrillic a): once its
        hand-out arrives, the running server shows both names with a suffix of
        each one's key, on the home page, the pantry page and in the CSV."""
        c = clitest.join_group(os.path.join(self.tmp, "other"), self.a, "pantry-l\u0430ptop")
        clitest.mutual(c, "append", "pantry.distribution",
                       '{"households":1,"bags":1,"lines":[{"item":"rice","qty":1000,"unit":"kg"}]}')
        clitest.mutual(c, "sync", self.stick)
        ids = [json.loads(clitest.mutual(s, "status", "--json"))["device"] for s in (self.a, c)]
        a = self.start(self.a, sticks=[self.stick])
        self.assertIn("This device: pantry-laptop</p>", a.get("/").text)
        self.sync(a)
        laptop, other = "pantry-laptop~" + ids[0][:12], "pantry-l\u0430ptop~" + ids[1][:12]
        self.assertIn("This device: %s</p>" % laptop, a.get("/").text)
        self.assertIn(other, a.get("/pantry").text)
        self.assertIn(",1,1,rice,1,kg,,%s" % other, a.get("/pantry/distributions.csv").text)

    def test_a_request_travels_on_the_stick(self):
        a = self.start(self.a, sticks=[self.stick])
        b = self.start(self.b, sticks=[self.stick])
        r = a.post("/board/post", {"title": "Lift to the clinic", "area": "Eastside",
                                   "kind": "request", "category": "rides", "urgency": "urgent"})
        self.assertEqual(r.status, 303)
        self.assertNotIn("Lift to the clinic", b.get("/board").text)

        message, page = self.sync(a)
        self.assertRegex(message, r"^Synced with pantry-stick: received 0 events, sent [1-9]\d* "
                                  r"events\. Safe to remove the stick\.$")
        footer = re.search(r'<p class="last-sync">(.*?)</p>', page.text).group(1)
        self.assertRegex(html.unescape(footer),
                         r"^Last sync: \d{4}-\d\d-\d\d \d\d:\d\d (GMT|BST) with pantry-stick$")
        record = os.path.join(self.a, "web-last-sync")
        self.assertEqual(stat.S_IMODE(os.stat(record).st_mode), 0o600)

        message, _ = self.sync(b)
        self.assertRegex(message, r"^Synced with pantry-stick: received [1-9]\d* events, sent "
                                  r"[1-9]\d* events\. Safe to remove the stick\.$")
        self.assertIn("<h3>Lift to the clinic</h3>", b.get("/board").text)
        self.assertIn("with pantry-stick", b.get("/rota").text)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.b, "web-last-sync")).st_mode),
                         0o600)

        # The record outlives the process.
        self.assertEqual(a.stop(), 0)
        again = self.start(self.a, sticks=[self.stick])
        self.assertIn(footer, again.get("/").text)

    def test_a_hostile_stick_cannot_reach_the_store(self):
        # A stranger's stick whose lock is a link to this store's database:
        # the sync button refuses it and the database is untouched (it was
        # truncated to "pid N" before).
        a = self.start(self.a, sticks=[self.stick])
        gid = json.loads(clitest.mutual(self.a, "status", "--json"))["group_id"]
        db = os.path.join(self.a, "mutual.db")
        size = os.stat(db).st_size
        os.symlink(db, os.path.join(self.stick, "mutual-%s.lock" % gid))
        r = a.post("/sync", {"target": "0", "label": "pantry-stick"}, page="/sync")
        page = a.follow(r) if r.status == 303 else r
        self.assertIn("refusing", html.unescape(page.text))
        self.assertNotIn("Safe to remove", page.text)
        self.assertGreaterEqual(os.stat(db).st_size, size)
        with open(db, "rb") as f:
            self.assertEqual(f.read(16), b"SQLite format 3\0")
        clitest.mutual(self.a, "verify")
        self.assertEqual(os.listdir(self.stick), ["mutual-%s.lock" % gid])

    def test_target_must_be_offered(self):
        a = self.start(self.a, sticks=[self.stick])
        for target in ("99", "-1", "x", "", "0x0", "1" * 30):
            r = a.post("/sync", {"target": target}, page="/sync")
            self.assertEqual(r.status, 400, target)
            self.assertIn("no such stick", role_text(r.text, "alert")[0])
        r = a.post("/sync", {"target": "0", "label": "some-other-stick"}, page="/sync")
        self.assertEqual(r.status, 409)
        self.assertFalse(os.path.exists(os.path.join(self.a, "web-last-sync")))
        self.assertEqual(os.listdir(self.stick), [])

    def test_without_a_stick_the_page_says_how(self):
        wrapper = ()
        if removable_mounts():
            # Hide this machine's own removable media behind empty folders.
            self.assertTrue(can_mount_privately(), NEEDS_PRIVATE_MOUNT)
            script = " && ".join("mount -t tmpfs none %s" % d for d in ("/media", "/run/media")
                                 if os.path.isdir(d)) + ' && exec "$@"'
            wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
        a = self.start(self.a, wrapper=wrapper)
        text = a.get("/sync").text
        self.assertIn("No stick found", text)
        self.assertIn("--stick", text)
        self.assertNotIn(">Sync with stick</button>", text)
        r = a.post("/sync", {"target": "0"})
        self.assertEqual(r.status, 400)

    def test_removable_media_are_offered(self):
        self.assertTrue(can_mount_privately(), NEEDS_PRIVATE_MOUNT)
        # In a mount namespace of its own, so no other program sees it: a
        # fresh /media holding one mounted "stick" whose name has a space
        # (which /proc/self/mounts writes as \040).
        script = ('mount -t tmpfs none /media && mkdir "/media/Test Stick" && '
                  'mount -t tmpfs none "/media/Test Stick" && exec "$@"')
        a = self.start(self.a, sticks=[self.stick], wrapper=[
            "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"])
        page = a.get("/sync").text
        self.assertEqual(page.count(">Sync with stick</button>"), 2)
        targets = re.findall(r'name="target" value="(\d+)"><input type="hidden" name="label" '
                             r'value="([^"]*)"', page)
        self.assertEqual(targets, [("0", "pantry-stick"), ("1", "Test Stick")])
        self.assertIn("/media/Test Stick", page)
        message, page = self.sync(a, target="1", label="Test Stick")
        self.assertRegex(message, r"^Synced with Test Stick: received 0 events, sent [1-9]")
        self.assertIn("with Test Stick</p>", page.text)
        self.assertEqual(os.listdir(self.stick), [])  # the other target was left alone

    def test_missing_stick_folder_refused_at_start(self):
        r = subprocess.run([WEB, "--store", self.a, "--listen", "127.0.0.1:0", "--stick",
                            os.path.join(self.tmp, "absent")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=child_env(), timeout=TIMEOUT)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no such folder", r.stderr)
        self.assertNotIn("listening", r.stdout)


class BeyondLoopbackTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mutual-web-net-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.store = os.path.join(self.tmp, "store")
        clitest.new_group(self.store, "School food pantry", "pantry-laptop")
        ip = non_loopback_ipv4()
        self.listen = "%s:0" % (ip or "0.0.0.0")

    def start(self, **kw):
        server = Server(self.store, listen=self.listen, **kw).start()
        self.addCleanup(lambda: self.assertEqual(server.stop(), 0))
        return server

    def login(self, server, secret):
        return server.post("/login", {"passphrase": secret}, page="/login")

    def test_pin_is_needed(self):
        s = self.start()
        self.assertRegex(s.pin or "", r"^\d{8}$")
        r = s.get("/")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.header("Location"), "/login")
        self.assertNotIn("School food pantry", r.text)
        for path in ("/pantry", "/board", "/rota", "/sync", "/pantry/stock.csv"):
            self.assertEqual(s.get(path).status, 303, path)
        r = s.post_raw("/board/post", "title=x&area=y&kind=offer&category=rides")
        self.assertEqual(r.status, 401)
        login = s.get("/login")
        self.assertEqual(login.status, 200)
        self.assertIn('<label for="login-passphrase">Passphrase or PIN</label>', login.text)
        self.assertNotIn("Last sync", login.text)

        wrong = "%08d" % ((int(s.pin) + 1) % 100000000)
        r = self.login(s, wrong)
        self.assertEqual(r.status, 401)
        self.assertIsNone(r.header("Set-Cookie"))

        r = self.login(s, s.pin)
        self.assertEqual(r.status, 303)
        cookie = r.header("Set-Cookie")
        self.assertRegex(cookie, r"^mutual_session=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=/$")
        s.cookie = cookie.split(";")[0]
        r = s.get("/")
        self.assertEqual(r.status, 200)
        self.assertIn("Anyone on this network who knows the passphrase/PIN can open this page "
                      "(listening on %s:%d)" % (s.addr, s.port), r.text)
        r = s.post("/board/post", {"title": "Soup", "area": "west", "kind": "offer",
                                   "category": "groceries"})
        self.assertEqual(r.status, 303)
        s.cookie = "mutual_session=" + "0" * 64
        self.assertEqual(s.get("/board").status, 303)

    def test_logins_lock_after_five_wrong(self):
        s = self.start()
        wrong = "%08d" % ((int(s.pin) + 1) % 100000000)
        for _ in range(5):
            self.assertEqual(self.login(s, wrong).status, 401)
        r = self.login(s, s.pin)
        self.assertEqual(r.status, 429)
        self.assertIsNone(r.header("Set-Cookie"))

    def test_passphrase_file(self):
        path = os.path.join(self.tmp, "passphrase")
        with open(path, "w") as f:
            f.write("correct horse battery\n")
        os.chmod(path, 0o644)
        r = subprocess.run([WEB, "--store", self.store, "--listen", self.listen,
                            "--passphrase-file", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=child_env(), timeout=TIMEOUT)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("0600", r.stderr)
        self.assertNotIn("listening", r.stdout)

        os.chmod(path, 0o600)
        with open(path, "w") as f:
            f.write("short\n")
        r = subprocess.run([WEB, "--store", self.store, "--passphrase-file", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=child_env(), timeout=TIMEOUT)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("at least 8", r.stderr)

        with open(path, "w") as f:
            f.write("correct horse battery\n")
        s = self.start(extra=["--passphrase-file", path])
        self.assertIsNone(s.pin)
        self.assertNotIn("PIN", "".join(s.lines))
        self.assertEqual(s.get("/").status, 303)
        self.assertEqual(self.login(s, "correct horse batter").status, 401)
        self.assertEqual(self.login(s, "correct horse battery!").status, 401)
        r = self.login(s, "correct horse battery")
        self.assertEqual(r.status, 303)
        s.cookie = r.header("Set-Cookie").split(";")[0]
        self.assertEqual(s.get("/").status, 200)


if __name__ == "__main__":
    unittest.main()
