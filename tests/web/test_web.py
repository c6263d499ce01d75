"""Black-box tests of `mutual-web`, the apps' local web front end, over HTTP.

Run from the source tree with the built binaries named by the environment:

    MUTUAL_WEB=build/examples/web/mutual-web MUTUAL_CLI=build/cli/mutual \
        python3 -m unittest -v tests/web/test_web.py

Each test starts its own server (port 0: the kernel picks one, read back
from the "listening on" line) over a fresh store made with the CLI, logs in
with the one-time URL `mutual-web --url` prints (as the laptop's user
does), speaks HTTP to it with http.client (no redirect is followed behind
the test's back; cookies are kept as a browser keeps them), reads the pages
back and stops the server with SIGTERM, which must end it cleanly. Only the
Python standard library is used.
"""

import datetime
import hashlib
import html
import json
import http.client
import os
import re
import select
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402  (the shared helpers, tests/helpers)

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
        self.store = store
        self.proc = None
        self.lines = []
        self.pin = None
        self.fingerprint = None
        self.scheme = None
        self.addr = None
        self.port = None
        self.cookies = {}  # name -> value, as a browser keeps them for this server

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
            m = re.match(r"mutual-web: PIN for other devices: (\d{5}) (\d{5})$", line)
            if m:
                self.pin = m.group(1) + m.group(2)
            m = re.match(r"mutual-web: certificate fingerprint \(SHA-256\): ([0-9A-F:]{95})$", line)
            if m:
                self.fingerprint = m.group(1)
            m = re.match(r"mutual-web: listening on (https?)://(.+):(\d+)/$", line)
            if m:
                self.scheme, self.addr, self.port = m.group(1), m.group(2), int(m.group(3))
                self.read_until_login_hint(pending)
                m = re.search(r"^PIN for other devices: (\d{5}) (\d{5})$", self.url_file(), re.M)
                if m:
                    self.pin = m.group(1) + m.group(2)
                return self

    def read_until_login_hint(self, pending):
        """The line after "listening": how this laptop logs in."""
        while b"\n" not in pending:
            ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
            chunk = os.read(self.proc.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                raise AssertionError("mutual-web said nothing after listening")
            pending += chunk
        self.lines.append(pending.split(b"\n", 1)[0].decode("utf-8", "replace"))

    def url_file(self):
        """What `mutual-web --url` prints for this store: the login URL (a fresh
        one each time the last was used), then the PIN beyond loopback."""
        r = subprocess.run([WEB, "--url", "--store", self.store], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=child_env(), timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def login_url(self):
        return self.url_file().split("\n")[0]

    def log_in(self):
        """Log in as this laptop's user does: open the printed URL."""
        url = urllib.parse.urlsplit(self.login_url())
        r = self.get(url.path + "?" + url.query)
        assert r.status == 303 and r.header("Location") == "/", (r.status, r.text[:300])
        assert self.session(), "no session cookie after the login URL"
        return r

    def session(self):
        return self.cookies.get("mutual_session_%d" % self.port)

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

    def connection(self, source=None):
        where = (self.connect_host(), self.port)
        src = (source, 0) if source else None
        if self.scheme == "https":
            # Pinned to the fingerprint printed at start, as a person compares it.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(*where, timeout=TIMEOUT, context=ctx,
                                               source_address=src)
            conn.connect()
            der = conn.sock.getpeercert(binary_form=True)
            seen = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
            assert seen == self.fingerprint, (seen, self.fingerprint)
            return conn
        return http.client.HTTPConnection(*where, timeout=TIMEOUT, source_address=src)

    def request(self, method, path, body=None, headers=None, host=None, cookie=True,
                source=None):
        conn = self.connection(source)
        hdrs = {"Host": host if host is not None else "%s:%d" % (self.addr, self.port)}
        if cookie and self.cookies:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            got = Response(r.status, r.headers, r.read())
        finally:
            conn.close()
        set_cookie = got.header("Set-Cookie")
        if cookie and set_cookie:
            name, value = set_cookie.split(";")[0].split("=", 1)
            self.cookies[name] = value
        return got

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_raw(self, path, body, content_type="application/x-www-form-urlencoded", **kw):
        if isinstance(body, str):
            body = body.encode("utf-8")
        return self.request("POST", path, body=body,
                            headers={"Content-Type": content_type}, **kw)

    def csrf(self, page="/board", **kw):
        r = self.get(page, **kw)
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text)
        if not m:
            raise AssertionError("no CSRF token on %s (status %d)" % (page, r.status))
        return m.group(1)

    def post(self, path, fields, token=True, page=None, **kw):
        """POST `fields` as the page's form would, with the page's CSRF token."""
        fields = dict(fields)
        if token:
            fields["csrf"] = self.csrf(page or "/board", **kw)
        return self.post_raw(path, urllib.parse.urlencode(fields), **kw)

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
        self.server.log_in()

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
        self.assertIn("Only browsers on this laptop that logged in can open this page (listening on 127.0.0.1:%d)"
                      % self.server.port, r.text)
        for link in ("Home", "Pantry", "Board", "Rota", "Sync"):
            self.assertRegex(r.text, r'<a href="[^"]*"[^>]*>%s</a>' % link)
        self.assertIn("Last sync: never", r.text)

    def test_security_headers(self):
        for path in ("/", "/pantry", "/board", "/rota", "/sync", "/nope"):
            r = self.server.get(path)
            self.assertEqual(r.header("Content-Security-Policy"), CSP, path)
            self.assertEqual(r.header("X-Content-Type-Options"), "nosniff", path)
            self.assertEqual(r.header("Referrer-Policy"), "same-origin", path)
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

    def test_csrf_token_is_the_sessions(self):
        fields = {"item": "rice", "qty": "1", "unit": "kg"}
        first = self.server.csrf()
        self.server.log_in()  # a second browser: a new session, its own token
        second = self.server.csrf()
        self.assertNotEqual(first, second)
        before = self.stock_csv()
        self.assertEqual(self.server.post("/pantry/donate", dict(fields, csrf=first),
                                          token=False).status, 403)
        self.assertEqual(self.stock_csv(), before)
        self.assertEqual(self.server.post("/pantry/donate", dict(fields, csrf=second),
                                          token=False).status, 303)

    def test_origin_and_fetch_site(self):
        own = "http://127.0.0.1:%d" % self.server.port
        refused = [{"Origin": "http://evil.example"}, {"Origin": "null"},
                   {"Origin": "http://127.0.0.1:%d" % (self.server.port ^ 1)},  # another port
                   {"Origin": "https://127.0.0.1:%d" % self.server.port},
                   {"Origin": own, "Sec-Fetch-Site": "same-site"},
                   {"Origin": own, "Sec-Fetch-Site": "cross-site"},
                   {"Sec-Fetch-Site": "none"}]
        before = self.stock_csv()
        for extra in refused:
            body = urllib.parse.urlencode({"item": "rice", "qty": "1", "unit": "kg",
                                           "csrf": self.server.csrf("/pantry")})
            r = self.server.request("POST", "/pantry/donate", body=body, headers=dict(
                extra, **{"Content-Type": "application/x-www-form-urlencoded"}))
            self.assertEqual(r.status, 403, extra)
        self.assertEqual(self.stock_csv(), before)
        body = urllib.parse.urlencode({"item": "rice", "qty": "1", "unit": "kg",
                                       "csrf": self.server.csrf("/pantry")})
        r = self.server.request("POST", "/pantry/donate", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Origin": own,
            "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(r.status, 303)
        # A browser's own form under a no-referrer policy says "Origin: null";
        # Sec-Fetch-Site, which no page can set, vouches for it.
        body = urllib.parse.urlencode({"item": "rice", "qty": "1", "unit": "kg",
                                       "csrf": self.server.csrf("/pantry")})
        r = self.server.request("POST", "/pantry/donate", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Origin": "null",
            "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(r.status, 303)

    def test_nul_and_broken_escapes_are_400(self):
        for path in ("/%00%ff/../../etc/passwd", "/board%00", "/%00", "/%zz", "/board%",
                     "/board%4", "/?m=%00", "/?m=%g0", "/pantry?x=%"):
            r = self.server.get(path)
            self.assertEqual(r.status, 400, path)
            self.assertNotIn("School food pantry", r.text, path)
        self.assertEqual(self.server.get("/board?m=%41").status, 200)
        self.assertAlive()

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
                      b"Cookie: mutual_session_%d=%s\r\n"
                      b"Content-Length: 100000\r\n\r\n"
                      % (self.server.port, self.server.port, self.server.session().encode()))
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
                                  "Cookie": "mutual_session_%d=%s" % (self.server.port,
                                                                     self.server.session()),
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


class LoginTest(unittest.TestCase):
    """Loopback is not a trust boundary: another account on this PC reaches
    127.0.0.1 too, so this laptop's browser logs in with the one-time URL."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mutual-web-login-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.store = os.path.join(self.tmp, "store")
        clitest.new_group(self.store, "School food pantry", "pantry-laptop")
        self.server = Server(self.store).start()
        self.addCleanup(lambda: self.assertEqual(self.server.stop(), 0))

    def test_no_data_without_logging_in(self):
        for path in ("/", "/pantry", "/board", "/rota", "/sync", "/pantry/stock.csv",
                     "/pantry/distributions.csv"):
            r = self.server.get(path)
            self.assertEqual(r.status, 303, path)
            self.assertEqual(r.header("Location"), "/login", path)
            self.assertNotIn("School food pantry", r.text, path)
        r = self.server.post_raw("/board/post", "title=x&area=y&kind=offer&category=rides")
        self.assertEqual(r.status, 401)
        login = self.server.get("/login")
        self.assertEqual(login.status, 200)
        self.assertIn("mutual-web --url", login.text)
        self.assertNotIn("School food pantry", login.text)
        self.assertNotIn("Last sync", login.text)
        self.assertNotIn("login-passphrase", login.text)  # on loopback there is no PIN to type
        # A made-up token logs nobody in.
        r = self.server.get("/?token=" + "0" * 64)
        self.assertEqual(r.status, 403)
        self.assertIsNone(self.server.session())
        self.assertEqual(self.server.get("/board").status, 303)

    def test_the_login_url_works_once(self):
        path = os.path.join(self.store, "web-url")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        first = self.server.login_url()
        self.assertRegex(first, r"^http://127\.0\.0\.1:%d/\?token=[0-9a-f]{64}$" % self.server.port)
        self.assertNotIn("token=", "\n".join(self.server.lines))  # not a terminal: not printed
        self.assertIn("mutual-web: to log in on this laptop: mutual-web --url --store %s"
                      % self.store, self.server.lines)
        url = urllib.parse.urlsplit(first)
        r = self.server.get(url.path + "?" + url.query)
        self.assertEqual(r.status, 303)
        self.assertEqual(r.header("Location"), "/")  # the URL bar no longer holds the token
        self.assertEqual(r.header("Referrer-Policy"), "no-referrer")
        self.assertRegex(r.header("Set-Cookie"), r"^mutual_session_%d=[0-9a-f]{64}; HttpOnly; "
                         r"SameSite=Strict; Path=/$" % self.server.port)
        self.assertEqual(self.server.get("/").status, 200)
        # Spent: the same URL again, from a browser without the cookie.
        self.server.cookies.clear()
        r = self.server.get(url.path + "?" + url.query)
        self.assertEqual(r.status, 403)
        self.assertIn("used already", r.text)
        self.assertIsNone(self.server.session())
        second = self.server.login_url()
        self.assertNotEqual(first, second)
        self.server.log_in()
        self.assertEqual(self.server.get("/board").status, 200)

    def test_gone_when_stopped(self):
        self.assertEqual(self.server.stop(), 0)
        self.assertFalse(os.path.exists(os.path.join(self.store, "web-url")))
        r = subprocess.run([WEB, "--url", "--store", self.store], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=child_env(), timeout=TIMEOUT)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no mutual-web is running", r.stderr)

    def test_printed_on_a_terminal(self):
        import pty
        leader, follower = pty.openpty()
        proc = subprocess.Popen([WEB, "--store", self.store, "--listen", "127.0.0.1:0"],
                                stdout=follower, stderr=subprocess.PIPE, env=child_env())
        os.close(follower)
        out = b""
        try:
            while b"it works once" not in out:
                ready, _, _ = select.select([leader], [], [], TIMEOUT)
                self.assertTrue(ready, "nothing printed on the terminal: %r" % out)
                out += os.read(leader, 4096)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=TIMEOUT)
            proc.stderr.close()
            os.close(leader)
        m = re.search(rb"mutual-web: open (http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{64}) on "
                      rb"this laptop", out)
        self.assertTrue(m, out)


class LoopbackRangeTest(WebCase):
    listen = "127.0.0.2:0"

    def test_any_127_address_is_loopback(self):
        r = self.server.get("/")
        self.assertEqual(r.status, 200)
        self.assertIn("Only browsers on this laptop that logged in can open this page (listening on 127.0.0.2:%d)"
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
        server.log_in()
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
        self.assertEqual(s.scheme, "https")  # beyond loopback, by default
        self.assertRegex(s.pin or "", r"^\d{10}$")
        self.assertNotIn(s.pin, "\n".join(s.lines))  # not a terminal: kept for --url, not logged
        self.assertNotIn(s.pin[:5] + " " + s.pin[5:], "\n".join(s.lines))
        self.assertRegex(s.fingerprint or "", r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
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
        self.assertIn(s.fingerprint, login.text)  # to compare with the laptop's screen
        self.assertNotIn("Last sync", login.text)
        self.assertRegex(login.header("Set-Cookie"), r"^mutual_login_%d=[0-9a-f]{64}; HttpOnly; "
                         r"SameSite=Strict; Path=/; Secure$" % s.port)
        # The login form's own token: without the cookie it came with, refused.
        r = s.post_raw("/login", "passphrase=%s&csrf=%s" % (s.pin, "1" * 64))
        self.assertEqual(r.status, 403)

        wrong = "%010d" % ((int(s.pin) + 1) % 10**10)
        r = self.login(s, wrong)
        self.assertEqual(r.status, 401)
        self.assertIsNone(s.session())

        r = self.login(s, s.pin[:5] + " " + s.pin[5:])  # as printed, grouped
        self.assertEqual(r.status, 303)
        self.assertRegex(r.header("Set-Cookie"), r"^mutual_session_%d=[0-9a-f]{64}; HttpOnly; "
                         r"SameSite=Strict; Path=/; Secure$" % s.port)
        r = s.get("/")
        self.assertEqual(r.status, 200)
        self.assertIn("Devices on this network can open this page with the PIN or passphrase, "
                      "over HTTPS (listening on %s:%d)" % (s.addr, s.port), r.text)
        r = s.post("/board/post", {"title": "Soup", "area": "west", "kind": "offer",
                                   "category": "groceries"})
        self.assertEqual(r.status, 303)
        s.cookies["mutual_session_%d" % s.port] = "0" * 64
        self.assertEqual(s.get("/board").status, 303)

    def test_the_laptop_url_works_beyond_loopback_too(self):
        s = self.start()
        self.assertTrue(s.login_url().startswith("https://"))
        s.log_in()
        self.assertEqual(s.get("/board").status, 200)

    def test_insecure_http_says_so(self):
        s = self.start(extra=["--insecure-http"])
        self.assertEqual(s.scheme, "http")
        self.assertIsNone(s.fingerprint)
        self.assertTrue(any(line.startswith("mutual-web: warning: plain HTTP") for line in s.lines))
        self.assertFalse(os.path.exists(os.path.join(self.store, "web-tls.pem")))
        self.assertIn("This connection is not encrypted", s.get("/login").text)
        r = self.login(s, s.pin)
        self.assertEqual(r.status, 303)
        self.assertNotIn("Secure", r.header("Set-Cookie"))
        for path in ("/", "/pantry", "/board", "/rota", "/sync"):
            self.assertIn("This connection is not encrypted", s.get(path).text, path)

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
        self.assertNotIn("PIN for other devices", s.url_file())
        self.assertEqual(s.get("/").status, 303)
        self.assertEqual(self.login(s, "correct horse batter").status, 401)
        self.assertEqual(self.login(s, "correct horse battery!").status, 401)
        r = self.login(s, "correct horse battery")
        self.assertEqual(r.status, 303)
        self.assertEqual(s.get("/").status, 200)


class SlowClientTest(WebCase):
    """Slowloris: connections that trickle their headers are bounded per
    address and closed at their deadline, while a phone keeps being
    answered. Bounded: 240 trickling connections from 20 addresses, 40 more
    from one, a few seconds."""

    def trickler(self, source):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT,
                                     source_address=(source, 0))
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % self.server.port)
        return s

    @staticmethod
    def closed(s):
        """Whether the server has closed `s` (without waiting)."""
        ready, _, _ = select.select([s], [], [], 0)
        if not ready:
            return False
        try:
            return s.recv(4096) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    def test_slow_clients_do_not_starve_a_phone(self):
        slow = []
        self.addCleanup(lambda: [s.close() for s in slow])
        for a in range(20):
            slow += [self.trickler("127.0.3.%d" % (a + 1)) for _ in range(12)]
        greedy = [self.trickler("127.0.4.1") for _ in range(40)]
        self.addCleanup(lambda: [s.close() for s in greedy])
        began = time.monotonic()
        for second in range(4):
            for s in slow:  # one byte a second each: never idle
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            r = self.server.get("/board")  # the phone, from 127.0.0.1
            self.assertEqual(r.status, 200)
            time.sleep(0.5)
        # One address holds at most its share; the rest were closed at once.
        time.sleep(0.5)
        refused = sum(self.closed(s) for s in greedy)
        self.assertGreaterEqual(refused, 40 - 12)
        # And trickling does not keep a connection: each is closed at its
        # header deadline (10 s after it opened), though it kept sending.
        open_now = list(slow)
        while open_now and time.monotonic() - began < TIMEOUT:
            for s in open_now:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            time.sleep(1)
            open_now = [s for s in open_now if not self.closed(s)]
        self.assertEqual(open_now, [], "trickling connections were never closed")
        print("\nslowloris: 240 trickling connections closed after %.1f s (deadline %d s); "
              "%d of 40 from one address refused at once" % (time.monotonic() - began, 10, refused),
              file=sys.stderr)
        self.assertAlive()


class HostileTextTest(WebCase):
    """A hostile member's text through every page: nothing unescaped."""

    CORPUS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
              "javascript:alert(1)", "abc\u202edcba", "\u2066x\u2069",
              "\x1b]0;pwned\x07", "\x1b[2J", "a\u009b31mb", "\x7f"]

    def test_nothing_unescaped(self):
        stored = 0
        for i, text in enumerate(self.CORPUS):
            for path, fields in (
                    ("/board/post", {"title": "t%d %s" % (i, text), "area": text,
                                     "contact": text, "category": "groceries",
                                     "kind": "offer"}),
                    ("/pantry/donate", {"item": "i%d %s" % (i, text), "qty": "1",
                                        "unit": "kg", "source": text})):
                r = self.server.post(path, fields)
                self.assertIn(r.status, (303, 400), (path, text, r.text[:300]))
                stored += r.status == 303
        self.assertGreater(stored, 0)
        pages = {p: self.server.get(p).text for p in ("/", "/pantry", "/board", "/rota", "/sync")}
        for path, text in pages.items():
            main = text.split("<main>", 1)[1]
            self.assertNotIn("<script", main, path)
            self.assertNotIn("<img", main, path)
            self.assertNotIn('href="javascript:', text, path)
            for ch in ["\x1b", "\x07", "\x7f", "\u009b", "\u202e", "\u2066", "\u2069"]:
                self.assertNotIn(ch, text, (path, ch))
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", pages["/board"])
        self.assertIn("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;", pages["/board"])
        for csv_path in ("/pantry/stock.csv", "/pantry/distributions.csv"):
            body = self.server.get(csv_path).text
            for ch in ["\x1b", "\x07", "\u009b", "\u202e"]:
                self.assertNotIn(ch, body, (csv_path, ch))


class LoginLimitTest(unittest.TestCase):
    """Wrong PINs: one address waits, every address together is capped, and
    neither touches a browser with a session or the laptop's URL. Clients
    are told apart by their source address (any 127.x.y.z reaches a server
    listening on every address)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mutual-web-limit-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.store = os.path.join(self.tmp, "store")
        clitest.new_group(self.store, "School food pantry", "pantry-laptop")
        self.s = Server(self.store, listen="0.0.0.0:0", extra=["--insecure-http"]).start()
        self.addCleanup(lambda: self.assertEqual(self.s.stop(), 0))
        self.wrong = "%010d" % ((int(self.s.pin) + 1) % 10**10)

    def login(self, secret, source):
        self.s.cookies.pop("mutual_session_%d" % self.s.port, None)
        return self.s.post("/login", {"passphrase": secret}, page="/login", source=source)

    def test_one_address_waits_another_logs_in(self):
        for _ in range(4):  # three free tries, then the fourth starts a wait
            self.assertEqual(self.login(self.wrong, "127.0.0.2").status, 401)
        r = self.login(self.s.pin, "127.0.0.2")  # even the right PIN waits its turn
        self.assertEqual(r.status, 429)
        self.assertIn("try again in", r.text)
        self.assertIsNone(self.s.session())
        r = self.login(self.s.pin, "127.0.0.3")
        self.assertEqual(r.status, 303)
        self.assertIsNotNone(self.s.session())

    def test_the_hourly_cap_spares_sessions_and_the_url(self):
        r = self.login(self.s.pin, "127.0.0.4")
        self.assertEqual(r.status, 303)
        held = self.s.session()
        for i in range(20):  # 60 wrong tries in all, none of them waiting
            for _ in range(3):
                self.assertEqual(self.login(self.wrong, "127.0.1.%d" % (i + 1)).status, 401)
        r = self.login(self.s.pin, "127.0.2.1")
        self.assertEqual(r.status, 429)
        self.assertIn("paused", r.text)
        self.assertIsNone(self.s.session())
        self.s.cookies["mutual_session_%d" % self.s.port] = held
        self.assertEqual(self.s.get("/board", source="127.0.0.4").status, 200)
        self.s.cookies.clear()
        self.s.log_in()
        self.assertEqual(self.s.get("/board").status, 200)


if __name__ == "__main__":
    unittest.main()
