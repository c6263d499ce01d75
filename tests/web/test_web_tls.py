"""Black-box tests of `mutual-web` beyond loopback: HTTPS by default with
its own certificate, and plain HTTP only when asked for, saying so.

Run from the source tree, as root, with the built binaries named by the
environment:

    cd tests && MUTUAL_WEB=../build/examples/web/mutual-web MUTUAL_CLI=../build/cli/mutual \
        python3 -m unittest -v test_web_tls

A server that listens beyond loopback needs an address that is not
127.x.y.z, and these tests must neither depend on this machine's network
nor show a server to it. So the module re-executes itself under
`unshare --net` (util-linux) in a network namespace of its own, where it
brings up lo and gives a dummy interface (a veth pair where the kernel has
no dummy driver) the address 10.77.0.1/24 with `ip` (iproute2). Nothing
outside that namespace can reach it, and it ends with the process. Without
root, unshare or ip, or where the namespace cannot be made, the module is
skipped, saying why.

Each test starts its own servers (port 0: the kernel picks one, read back
from the "listening on" line) over stores made with the CLI, speaks HTTPS
to them pinned to the fingerprint they print (as a person compares it with
the laptop's screen) and checks what `openssl s_client` receives, and
stops each server with SIGTERM, which must end it with status 0. Only the
Python standard library and the openssl command are used.
"""

import hashlib
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
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402  (the shared helpers, tests/helpers)

WEB = None  # the absolute path, set by setUpModule()

TIMEOUT = 120  # seconds: a hang guard for children and sockets, not a timing assertion
ADDR = "10.77.0.1"  # this namespace's one address beyond loopback
TLS_FILE = "web-tls.pem"
NETNS_VAR = "MUTUAL_WEB_TLS_NETNS"  # set in the re-executed run: the namespace it left
MODULE = "test_web_tls"
FINGERPRINT = r"(?:[0-9A-F]{2}:){31}[0-9A-F]{2}"
BANNER = "This connection is not encrypted: "


# ------------------------------------------------ the private network

def tool(name):
    """The path of the command `name`, looking in the sbin folders too
    (where Debian keeps ip), or None."""
    path = os.environ.get("PATH", os.defpath) + ":/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def netns_id():
    """Which network namespace this process is in."""
    return str(os.stat("/proc/self/ns/net").st_ino)


def names_only_this_module(argv):
    """Whether the command line `argv` (sys.orig_argv) runs this module's
    tests and nothing else: re-executing a run that names other modules too
    would run those again, in the namespace."""
    args = argv[1:]
    if __name__ == "__main__":  # python3 tests/web/test_web_tls.py
        return True
    if "-m" not in args or args[args.index("-m") + 1:args.index("-m") + 2] != ["unittest"]:
        return False
    rest = args[args.index("-m") + 2:]
    names, skip = [], False
    for a in rest:
        if skip:
            skip = False
        elif a in ("-k", "-p", "-s", "-t"):
            skip = True  # an option's value
        elif not a.startswith("-"):
            names.append(a)
    return bool(names) and all(
        n == MODULE or n.startswith(MODULE + ".") or os.path.basename(n) == MODULE + ".py"
        for n in names)


def reexec_in_private_network():
    """Run this same command again under `unshare --net`, in place of this
    process (its output and exit status are the run's); or SkipTest."""
    unshare = tool("unshare")
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root: the test makes a network namespace of its own "
                                "(unshare --net) with the address %s in it" % ADDR)
    if not unshare:
        raise unittest.SkipTest("needs unshare(1) (util-linux, installed by scripts/deps.sh) "
                                "to make a private network namespace")
    if not tool("ip"):
        raise unittest.SkipTest("needs ip(8) (iproute2, installed by scripts/deps.sh) to give "
                                "a private network namespace the address %s" % ADDR)
    probe = subprocess.run([unshare, "--net", "true"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=TIMEOUT)
    if probe.returncode != 0:
        raise unittest.SkipTest("cannot make a private network namespace here (unshare --net: "
                                "%s)" % probe.stderr.strip())
    if not names_only_this_module(sys.orig_argv):
        raise unittest.SkipTest("run this module on its own (python3 -m unittest -v %s): it "
                                "re-executes itself in a private network namespace" % MODULE)
    env = dict(os.environ)
    env[NETNS_VAR] = netns_id()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(unshare, [unshare, "--net", "--", sys.executable] + sys.orig_argv[1:], env)


def set_up_private_network():
    """In the namespace the re-executed run is in: lo up, and ADDR on an
    interface of its own; or SkipTest, saying what failed."""
    if os.environ.get(NETNS_VAR) == netns_id():
        raise RuntimeError("%s is set but this is the namespace it names: refusing to change "
                           "this machine's network" % NETNS_VAR)
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        raise RuntimeError("not a fresh network namespace (it has %s): refusing to change it"
                           % ", ".join(names))
    ip = tool("ip")

    def run(*args):
        r = subprocess.run([ip] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=TIMEOUT)
        return r.returncode == 0, "ip %s: %s" % (" ".join(args), r.stderr.strip())

    ok, why = run("link", "set", "lo", "up")
    if ok:
        ok, why = run("link", "add", "mw0", "type", "dummy")
        if not ok:  # no dummy driver (many containers): a veth pair does as well
            ok, why = run("link", "add", "mw0", "type", "veth", "peer", "name", "mw0p")
            if ok:
                ok, why = run("link", "set", "mw0p", "up")
    for step in (("addr", "add", ADDR + "/24", "dev", "mw0"), ("link", "set", "mw0", "up")):
        if ok:
            ok, why = run(*step)
    if not ok:
        raise unittest.SkipTest("cannot give the private network namespace the address %s (%s)"
                                % (ADDR, why))
    with socket.socket() as s:
        s.bind((ADDR, 0))  # the address is usable


def setUpModule():
    global WEB
    clitest.cli_path()  # fail early when MUTUAL_CLI is not set
    WEB = clitest.binary_path("MUTUAL_WEB", "build/examples/web/mutual-web")
    if NETNS_VAR not in os.environ:
        reexec_in_private_network()  # does not return
    set_up_private_network()


# ------------------------------------------------------------ helpers

def child_env():
    env = dict(os.environ)
    for name in ("MUTUAL_STORE", "MUTUAL_APPS_NOW_MS", NETNS_VAR):
        env.pop(name, None)
    return env


def openssl(args, stdin=None):
    """`openssl ARGS` with `stdin` (text); its stdout, or an AssertionError."""
    r = subprocess.run(["openssl"] + args, input=stdin if stdin is not None else "",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=TIMEOUT)
    if r.returncode != 0:
        raise AssertionError("openssl %s exited %d: %s" % (" ".join(args), r.returncode,
                                                           r.stderr))
    return r.stdout


def served_certificate(host, port):
    """The certificate (PEM) `openssl s_client` receives from host:port."""
    r = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (host, port)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=TIMEOUT)
    m = re.search(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", r.stdout, re.S)
    if not m:
        raise AssertionError("openssl s_client got no certificate from %s:%d (exit %d): %s"
                             % (host, port, r.returncode, r.stderr))
    return m.group(0)


def fingerprint_of(pem):
    """The SHA-256 fingerprint openssl gives the (first) certificate in `pem`."""
    out = openssl(["x509", "-noout", "-fingerprint", "-sha256"], pem)
    m = re.search(r"Fingerprint=(%s)$" % FINGERPRINT, out.strip(), re.I)
    if not m:
        raise AssertionError("no fingerprint in openssl's answer: %r" % out)
    return m.group(1).upper()


def alt_names(pem):
    """The subjectAltName entries of the certificate in `pem`, as openssl
    writes them ("DNS:localhost", "IP Address:127.0.0.1", ...)."""
    out = openssl(["x509", "-noout", "-ext", "subjectAltName"], pem)
    lines = [line.strip() for line in out.splitlines()[1:] if line.strip()]
    return [name.strip() for line in lines for name in line.split(",")]


def certificate_in(path):
    with open(path) as f:
        text = f.read()
    m = re.search(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", text, re.S)
    assert m, "no certificate in %s" % path
    return m.group(0)


def cookie_parts(set_cookie):
    """("name", "value", {"HttpOnly", "Path=/", ...}) of a Set-Cookie value."""
    first, *attrs = [part.strip() for part in set_cookie.split(";")]
    name, value = first.split("=", 1)
    return name, value, set(attrs)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.text = body.decode("utf-8", "replace")

    def header(self, name):
        return self.headers.get(name)


class Server:
    """One mutual-web process, started with start(); stop() sends SIGTERM and
    returns its exit status. HTTPS connections are pinned: each one's
    certificate must have the fingerprint the server printed at start."""

    def __init__(self, store, listen=ADDR + ":0", extra=()):
        self.argv = [WEB, "--store", store, "--listen", listen] + list(extra)
        self.proc = None
        self.lines = []
        self.pin = self.grouped_pin = self.fingerprint = None
        self.scheme = self.addr = self.port = None
        self.cookies = {}  # name -> value, as a browser keeps them for this server

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=child_env())
        pending = b""
        while True:
            while b"\n" in pending:
                raw, pending = pending.split(b"\n", 1)
                line = raw.decode("utf-8", "replace")
                if self.scheme is not None:  # the line after "listening": how to log in
                    self.lines.append(line)
                    if self.pin is None:
                        self.read_pin_from_url()
                    return self
                self.read_line(line)
            # Raw reads: a buffered reader could hold a line select() misses.
            ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
            chunk = os.read(self.proc.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                if self.proc.poll() is None:
                    self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
                raise AssertionError("mutual-web (exit %s) did not print its listening line "
                                     "and the next; it said %r and on stderr: %s"
                                     % (self.proc.returncode, self.lines + [pending],
                                        self.proc.stderr.read().decode("utf-8", "replace")))
            pending += chunk

    def read_pin(self, line, prefix):
        m = re.match(prefix + r"PIN for other devices: ((\d{5}) (\d{5}))$", line)
        if m:
            self.pin, self.grouped_pin = m.group(2) + m.group(3), m.group(1)

    def read_pin_from_url(self):
        """Printed at start on a terminal only (a service's log would keep
        it); else `mutual-web --url` says it, with the laptop's URL."""
        r = subprocess.run([WEB, "--url", "--store", self.argv[2]], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=child_env(), timeout=TIMEOUT)
        assert r.returncode == 0, "mutual-web --url: %s" % r.stderr
        for line in r.stdout.splitlines():
            self.read_pin(line, "")

    def read_line(self, line):
        self.lines.append(line)
        self.read_pin(line, "mutual-web: ")
        m = re.match(r"mutual-web: certificate fingerprint \(SHA-256\): (%s)$" % FINGERPRINT, line)
        if m:
            self.fingerprint = m.group(1)
        m = re.match(r"mutual-web: listening on (https?)://(.+):(\d+)/$", line)
        if m:
            self.scheme, self.addr, self.port = m.group(1), m.group(2), int(m.group(3))

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=TIMEOUT)
        for f in (self.proc.stdout, self.proc.stderr):
            if not f.closed:
                f.close()
        return self.proc.returncode

    def connection(self):
        if self.scheme != "https":
            return http.client.HTTPConnection(ADDR, self.port, timeout=TIMEOUT)
        # No authority vouches for this certificate: the check is that its
        # SHA-256 is the one printed on the laptop's screen.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(ADDR, self.port, timeout=TIMEOUT, context=ctx)
        conn.connect()
        der = conn.sock.getpeercert(binary_form=True)
        seen = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
        if seen != self.fingerprint:
            conn.close()
            raise AssertionError("the server's certificate is %s, not the %s it printed"
                                 % (seen, self.fingerprint))
        return conn

    def request(self, method, path, fields=None):
        conn = self.connection()
        headers = {"Host": "%s:%d" % (ADDR, self.port)}
        if self.cookies:
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            got = Response(r.status, r.headers, r.read())
        finally:
            conn.close()
        if got.header("Set-Cookie"):
            name, value, _ = cookie_parts(got.header("Set-Cookie"))
            self.cookies[name] = value
        return got

    def get(self, path):
        return self.request("GET", path)

    def log_in(self, test):
        """Log in with the PIN, typed as printed (grouped), as another
        device does: the login form, then its POST. Returns the POST's
        answer."""
        form = self.get("/login")
        test.assertEqual(form.status, 200, form.text[:300])
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', form.text)
        test.assertIsNotNone(m, "no CSRF field on the login form")
        test.assertEqual(self.cookies.get("mutual_login_%d" % self.port), m.group(1),
                         "the login form's token is not the login cookie's")
        return self.request("POST", "/login", {"csrf": m.group(1), "passphrase": self.grouped_pin})


class WebTlsCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mutual-web-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.store = self.new_store("store")
        self.pem = os.path.join(self.store, TLS_FILE)

    def new_store(self, name):
        return clitest.new_group(os.path.join(self.tmp, name), "School food pantry",
                                 "pantry-laptop")

    def start(self, store=None, **kw):
        server = Server(store or self.store, **kw).start()
        self.addCleanup(self.stopped_cleanly, server)
        return server

    def stopped_cleanly(self, server):
        self.assertEqual(server.stop(), 0, "mutual-web did not exit 0 on SIGTERM")

    def footer(self, server):
        return "This server's certificate (SHA-256): <code>%s</code>" % server.fingerprint


# -------------------------------------------------------------- tests

class HttpsByDefaultTest(WebTlsCase):
    def test_certificate_made_served_and_kept(self):
        s = self.start()
        self.assertEqual((s.scheme, s.addr), ("https", ADDR), s.lines)
        self.assertIn("mutual-web: listening on https://%s:%d/" % (ADDR, s.port), s.lines)
        self.assertRegex(s.pin or "", r"^\d{10}$", "no PIN at start nor from mutual-web --url")
        self.assertRegex(s.fingerprint or "", "^%s$" % FINGERPRINT, s.lines)

        # The key and certificate, kept where only this user can read them.
        st = os.lstat(self.pem)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, "%s is %03o" % (TLS_FILE, st.st_mode))
        self.assertEqual(st.st_uid, os.geteuid())
        with open(self.pem) as f:
            kept = f.read()
        self.assertRegex(kept, r"-----BEGIN (EC )?PRIVATE KEY-----")
        self.assertIn("-----BEGIN CERTIFICATE-----", kept)

        # What a client receives is that certificate, with the printed
        # fingerprint, and it names the address a phone reaches.
        served = served_certificate(ADDR, s.port)
        self.assertEqual(fingerprint_of(served), s.fingerprint)
        self.assertEqual(fingerprint_of(kept), s.fingerprint)
        self.assertIn("IP Address:%s" % ADDR, alt_names(served))
        text = openssl(["x509", "-noout", "-text"], served)
        self.assertIn("id-ecPublicKey", text)
        self.assertIn("NIST CURVE: P-256", text)
        # A client that trusts just this certificate, checking names as a
        # browser does, accepts it for the address.
        ctx = ssl.create_default_context(cadata=certificate_in(self.pem))
        with socket.create_connection((ADDR, s.port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname=ADDR) as tls:
                self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))

        # Every page's footer shows the same fingerprint, the login included.
        login = s.get("/login")
        self.assertEqual(login.status, 200)
        self.assertIn(self.footer(s), login.text)
        self.assertNotIn(BANNER, login.text)

        # A second start over the same store serves the same certificate.
        first = s.fingerprint
        self.assertEqual(s.stop(), 0)
        again = self.start()
        self.assertEqual(again.fingerprint, first)
        self.assertEqual(fingerprint_of(served_certificate(ADDR, again.port)), first)
        with open(self.pem) as f:
            self.assertEqual(f.read(), kept, "the certificate file was rewritten")
        self.assertIn(self.footer(again), again.get("/login").text)
        self.assertEqual(again.stop(), 0)

    def test_listening_on_every_address_names_them_all(self):
        s = self.start(listen="0.0.0.0:0")
        self.assertEqual(s.scheme, "https")
        served = served_certificate(ADDR, s.port)
        self.assertEqual(fingerprint_of(served), s.fingerprint)
        names = alt_names(served)
        for name in ("IP Address:%s" % ADDR, "IP Address:127.0.0.1", "DNS:localhost"):
            self.assertIn(name, names)

    def test_the_pin_check_of_these_tests_refuses_another_certificate(self):
        s = self.start()
        s.fingerprint = ":".join(["00"] * 32)
        with self.assertRaisesRegex(AssertionError, "not the .* it printed"):
            s.get("/login")


class PlainHttpToHttpsTest(WebTlsCase):
    def test_plain_http_gets_no_http_answer(self):
        s = self.start()
        request = b"GET /login HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n" % (
            ADDR.encode(), s.port)
        # As http.client sees it: no status line.
        conn = http.client.HTTPConnection(ADDR, s.port, timeout=TIMEOUT)
        try:
            with self.assertRaises((http.client.HTTPException, OSError)):
                conn.request("GET", "/login", headers={"Host": "%s:%d" % (ADDR, s.port)})
                r = conn.getresponse()
                self.fail("a plain HTTP answer, status %d" % r.status)
        finally:
            conn.close()
        # As bytes: whatever comes back (a TLS alert, or nothing) is not HTTP.
        with socket.create_connection((ADDR, s.port), timeout=TIMEOUT) as raw:
            raw.sendall(request)
            got = b""
            try:
                while len(got) < 65536:
                    chunk = raw.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except ConnectionResetError:
                pass
        self.assertNotIn(b"HTTP/", got)
        self.assertNotIn(b"<html", got.lower())
        # And the server goes on answering over HTTPS.
        self.assertEqual(s.get("/login").status, 200)


class PinLoginOverHttpsTest(WebTlsCase):
    def test_pin_login_gets_secure_cookies(self):
        s = self.start()
        r = s.get("/")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.header("Location"), "/login")

        form = s.get("/login")
        name, value, attrs = cookie_parts(form.header("Set-Cookie") or "=")
        self.assertEqual(name, "mutual_login_%d" % s.port)
        self.assertRegex(value, r"^[0-9a-f]{64}$")
        self.assertEqual(attrs, {"HttpOnly", "SameSite=Strict", "Path=/", "Secure"})

        r = s.log_in(self)
        self.assertEqual(r.status, 303, r.text[:300])
        self.assertRegex(r.header("Location") or "", r"^/(\?m=[0-9a-f]{16})?$")  # home
        name, value, attrs = cookie_parts(r.header("Set-Cookie") or "=")
        self.assertEqual(name, "mutual_session_%d" % s.port)
        self.assertRegex(value, r"^[0-9a-f]{64}$")
        self.assertEqual(attrs, {"HttpOnly", "SameSite=Strict", "Path=/", "Secure"})

        home = s.get("/")
        self.assertEqual(home.status, 200)
        self.assertIn("<h1>School food pantry</h1>", home.text)
        self.assertIn(self.footer(s), home.text)
        self.assertNotIn(BANNER, home.text)
        for path in ("/pantry", "/board", "/rota", "/sync"):
            r = s.get(path)
            self.assertEqual(r.status, 200, path)
            self.assertIn(self.footer(s), r.text, path)


class InsecureHttpTest(WebTlsCase):
    def test_insecure_http_says_so_on_every_page(self):
        s = self.start(extra=["--insecure-http"])
        self.assertEqual((s.scheme, s.addr), ("http", ADDR), s.lines)
        self.assertIn("mutual-web: listening on http://%s:%d/" % (ADDR, s.port), s.lines)
        self.assertTrue(any(line.startswith("mutual-web: warning: plain HTTP: ")
                            for line in s.lines), s.lines)
        self.assertIsNone(s.fingerprint)
        self.assertFalse(any("fingerprint" in line for line in s.lines), s.lines)
        self.assertRegex(s.pin or "", r"^\d{10}$")
        self.assertFalse(os.path.lexists(self.pem), "a certificate was made for plain HTTP")

        login = s.get("/login")
        self.assertEqual(login.status, 200)
        self.assertIn(BANNER, login.text)
        self.assertNotIn("This server's certificate", login.text)
        _, _, attrs = cookie_parts(login.header("Set-Cookie") or "=")
        self.assertEqual(attrs, {"HttpOnly", "SameSite=Strict", "Path=/"})

        r = s.log_in(self)
        self.assertEqual(r.status, 303, r.text[:300])
        name, _, attrs = cookie_parts(r.header("Set-Cookie") or "=")
        self.assertEqual(name, "mutual_session_%d" % s.port)
        self.assertEqual(attrs, {"HttpOnly", "SameSite=Strict", "Path=/"})
        for path in ("/", "/pantry", "/board", "/rota", "/sync", "/nope"):
            r = s.get(path)
            self.assertEqual(r.status, 404 if path == "/nope" else 200, path)
            self.assertIn(BANNER, r.text, path)
        self.assertEqual(s.stop(), 0)
        self.assertFalse(os.path.lexists(self.pem), "a certificate was made for plain HTTP")


class RefusedCertificateFileTest(WebTlsCase):
    """A web-tls.pem mutual-web did not keep as it should: refused at
    start, with a message, a non-zero exit (no crash) and the file left
    as it was."""

    def setUp(self):
        super().setUp()
        s = self.start()
        self.assertEqual(s.stop(), 0)
        with open(self.pem, "rb") as f:
            self.made = f.read()

    def write_pem(self, data, mode=0o600):
        os.unlink(self.pem)
        with open(self.pem, "wb") as f:
            f.write(data)
        os.chmod(self.pem, mode)

    def refused(self):
        """Start mutual-web over the store: it must refuse. Its stderr."""
        r = subprocess.run([WEB, "--store", self.store, "--listen", ADDR + ":0"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=child_env(), timeout=TIMEOUT)
        self.assertGreater(r.returncode, 0, "mutual-web did not exit with an error status "
                           "(%d; negative: killed by that signal): %s" % (r.returncode, r.stderr))
        self.assertNotIn("listening", r.stdout)
        self.assertNotIn("Sanitizer", r.stderr)
        self.assertTrue(r.stderr.startswith("mutual-web: "), r.stderr)
        return r.stderr

    def assertKept(self, data, mode):
        st = os.lstat(self.pem)
        self.assertEqual(stat.S_IMODE(st.st_mode), mode, "the file's mode was changed")
        with open(self.pem, "rb") as f:
            self.assertEqual(f.read(), data, "the refused file was changed")

    def test_readable_by_others_refused(self):
        for mode in (0o644, 0o640, 0o604):
            with self.subTest(mode="%04o" % mode):
                os.chmod(self.pem, mode)
                err = self.refused()
                self.assertIn("0600", err)
                self.assertIn(TLS_FILE, err)
                self.assertKept(self.made, mode)
        os.chmod(self.pem, 0o600)
        s = self.start()  # put right, it is served again
        self.assertEqual(fingerprint_of(self.made.decode()), s.fingerprint)

    def test_a_link_refused(self):
        elsewhere = os.path.join(self.tmp, "elsewhere.pem")
        os.rename(self.pem, elsewhere)
        os.symlink(elsewhere, self.pem)
        err = self.refused()
        self.assertIn(TLS_FILE, err)
        self.assertTrue(os.path.islink(self.pem))

    def test_not_a_key_and_certificate_refused(self):
        text = self.made.decode()
        key = re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----\n",
                        text, re.S).group(0)
        cert = certificate_in(self.pem)
        cases = {
            "random bytes": os.urandom(3000),
            "text": b"hello, this is not a certificate\n",
            "empty": b"",
            "only the key": key.encode(),
            "only the certificate": cert.encode(),
            "cut short": self.made[:len(self.made) // 2],
        }
        for what, data in cases.items():
            with self.subTest(what):
                self.write_pem(data)
                err = self.refused()
                self.assertIn(TLS_FILE, err)
                self.assertIn("not a key and certificate", err)
                self.assertKept(data, 0o600)

    def test_a_key_that_is_not_the_certificates_refused(self):
        """Our key with another certificate (made by openssl): refused, with
        the reason, before any attempt to listen."""
        other_key = os.path.join(self.tmp, "other-key.pem")
        other_cert = os.path.join(self.tmp, "other-cert.pem")
        openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-subj", "/CN=not-mutual-web", "-days", "1",
                 "-keyout", other_key, "-out", other_cert])
        key = re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----\n",
                        self.made.decode(), re.S).group(0)
        with open(other_cert) as f:
            data = (key + f.read()).encode()
        self.write_pem(data)
        err = self.refused()
        self.assertIn("not a key and certificate", err)
        self.assertNotIn("cannot listen", err)
        self.assertKept(data, 0o600)


if __name__ == "__main__":
    unittest.main()
