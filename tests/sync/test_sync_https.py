"""`mutual sync https://...` against a real git host on loopback (issue 21).

Run from the source tree with the path of the built binary in MUTUAL_CLI:

    MUTUAL_CLI=build/cli/mutual python3 -m unittest -v tests/sync/test_sync_https.py

Each test makes a test CA with openssl, starts Debian's lighttpd with
`git-http-backend` behind TLS and basic authentication on a free port of
127.0.0.1 (the hub of docs/hub.md: one repository per group, one account
per group, and a read-only account), and, for the proxy tests, tinyproxy
as a CONNECT proxy. `mutual` runs with an empty test HOME whose
~/.gitconfig gives the git identity, `credential.helper store` and
`http.sslCAInfo`, as a volunteer's would. Nothing is skipped: a server
that cannot start fails the test with its output.

What is checked:
 - three stores converge through the hub, stock `git fsck` passes on it,
   stock git clones it with the same settings, and the password is
   nowhere in the stores, their outputs, the servers' logs or the hub;
 - refusals, each at once (no prompt, no askpass run, no hang) with a
   message saying which: no credentials, a wrong password (forgotten by the
   helper, as git does), a CA the client does not know (also with
   http.sslVerify=false), an expired certificate, a read-only account and a
   read-only repository (fetch works, push refused, the store untouched and
   still sending later), another group's repository (fetch and push), a URL
   holding a password (refused before anything is sent or kept);
 - a CONNECT proxy (tinyproxy) from $https_proxy and from http.proxy, and
   $no_proxy bypassing a proxy that is down.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sync_servers as servers  # noqa: E402  (the server tests' harness: stores, sync, hub checks)

LIGHTTPD = "/usr/sbin/lighttpd"
TINYPROXY = "/usr/bin/tinyproxy"
BACKEND = "/usr/lib/git-core/git-http-backend"
FAST = 20  # seconds: a refusal comes at once, well under this (a hang guard, not a benchmark)
EXIT_OK, EXIT_FAIL = servers.EXIT_OK, servers.EXIT_FAIL
describe = servers.describe


def setUpModule():
    servers.setUpModule()


class HttpsHubTestCase(servers.ServerTestCase):
    """A test CA, lighttpd + git-http-backend over TLS with basic auth, two
    groups' repositories (pantry.git, rent.git) and three accounts."""

    def setUp(self):
        super().setUp()
        for tool in (LIGHTTPD, BACKEND, "/usr/lib/lighttpd/mod_openssl.so"):
            if not os.path.exists(tool):
                self.fail("%s is missing: run scripts/deps.sh" % tool)
        self.password = {"pantry": "pw-" + os.urandom(12).hex(), "rent": "pw-" + os.urandom(12).hex(),
                         "reader": "pw-" + os.urandom(12).hex()}
        self.pki = self.path("pki")
        os.makedirs(self.pki)
        self.ca = self.make_ca("ca", "mutual test CA")
        self.base = self.path("git")
        os.makedirs(self.base)
        for repo in ("pantry.git", "rent.git"):
            self.git("init", "--quiet", "--bare", os.path.join(self.base, repo))
        self.bare = os.path.join(self.base, "pantry.git")
        with open(self.path("users"), "w") as f:
            f.write("".join("%s:%s\n" % kv for kv in self.password.items()))
        self.port = self.start_hub("hub", self.server_cert("ca", "localhost"))
        self.url = self.hub_url(self.port, "pantry")
        self.home = self.make_home("home")

    # -- certificates (openssl, at test time)

    def openssl(self, *args):
        r = self.run_cmd(["openssl"] + list(args))
        self.assertEqual(r.returncode, 0, describe(r))

    def make_ca(self, name, cn):
        key, crt = os.path.join(self.pki, name + ".key"), os.path.join(self.pki, name + ".pem")
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=" + cn,
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return crt

    def server_cert(self, ca, host, expired=False):
        """A key and certificate for `host` signed by the CA `ca`, as one
        PEM file (lighttpd's ssl.pemfile); `expired`: valid in 2020 only."""
        stem = os.path.join(self.pki, "%s-%s%s" % (ca, host, "-expired" if expired else ""))
        ca_key, ca_crt = os.path.join(self.pki, ca + ".key"), os.path.join(self.pki, ca + ".pem")
        self.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", stem + ".key", "-out", stem + ".csr", "-subj", "/CN=" + host)
        ext = stem + ".ext"
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                    "basicConstraints=CA:FALSE\n" % host)
        if expired:
            # `openssl ca` is the stock tool that takes a start and end date
            db = stem + ".db"
            os.makedirs(db)
            open(os.path.join(db, "index.txt"), "w").close()
            conf = stem + ".cnf"
            with open(conf, "w") as f:
                f.write("[ca]\ndefault_ca=test\n[test]\ndir=%s\ndatabase=$dir/index.txt\n"
                        "new_certs_dir=$dir\nserial=$dir/serial\ndefault_md=sha256\npolicy=any\n"
                        "copy_extensions=none\nunique_subject=no\n[any]\ncommonName=supplied\n" % db)
            with open(os.path.join(db, "serial"), "w") as f:
                f.write("01\n")
            self.openssl("ca", "-batch", "-config", conf, "-cert", ca_crt, "-keyfile", ca_key,
                         "-in", stem + ".csr", "-out", stem + ".crt", "-extfile", ext,
                         "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-notext")
        else:
            self.openssl("x509", "-req", "-in", stem + ".csr", "-CA", ca_crt, "-CAkey", ca_key,
                         "-CAcreateserial", "-out", stem + ".crt", "-days", "7", "-extfile", ext)
        with open(stem + ".pem", "w") as out:
            for part in (".crt", ".key"):
                with open(stem + part) as f:
                    out.write(f.read())
        return stem + ".pem"

    # -- the hub

    def lighttpd_conf(self, name, pem, port):
        """docs/hub.md's lighttpd setup, on loopback: every request to a
        group's repository needs that group's account (the reader account may
        read pantry.git, never write)."""
        def require(users):
            return '( "" => ( "method" => "basic", "realm" => "mutual hub", "require" => "%s" ) )' % (
                "|".join("user=" + u for u in users))
        logs = self.path(name + "-logs")
        os.makedirs(logs, exist_ok=True)
        return "\n".join([
            'server.modules = ( "mod_access", "mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", '
            '"mod_cgi", "mod_openssl", "mod_accesslog" )',
            'server.document-root = "%s"' % self.base,
            'server.bind = "127.0.0.1"',
            "server.port = %d" % port,
            'server.errorlog = "%s/error.log"' % logs,
            'accesslog.filename = "%s/access.log"' % logs,
            'accesslog.format = "%h %u \\"%r\\" %>s"',
            'ssl.engine = "enable"',
            'ssl.pemfile = "%s"' % pem,
            'auth.backend = "plain"',
            'auth.backend.plain.userfile = "%s"' % self.path("users"),
            'alias.url = ( "/git/" => "%s/" )' % BACKEND,
            '$HTTP["url"] =~ "^/git/" {',
            '  cgi.assign = ( "" => "" )',
            '  setenv.set-environment = ( "GIT_PROJECT_ROOT" => "%s", "GIT_HTTP_EXPORT_ALL" => "1", '
            '"GIT_CONFIG_NOSYSTEM" => "1", "PATH" => "/usr/bin:/bin" )' % self.base,
            '}',
            '$HTTP["url"] =~ "^/git/pantry\\.git/" {',
            '  auth.require = %s' % require(["pantry", "reader"]),
            '  $HTTP["url"] =~ "/git-receive-pack$" { auth.require = %s }' % require(["pantry"]),
            '  $HTTP["querystring"] =~ "service=git-receive-pack" { auth.require = %s }' % require(["pantry"]),
            '}',
            '$HTTP["url"] =~ "^/git/rent\\.git/" { auth.require = %s }' % require(["rent"]),
            '$HTTP["url"] !~ "^/git/" { url.access-deny = ( "" ) }',
            ""])

    def start_hub(self, name, pem):
        conf = self.path(name + ".conf")

        def argv(port):
            with open(conf, "w") as f:
                f.write(self.lighttpd_conf(name, pem, port))
            return [LIGHTTPD, "-D", "-f", conf]
        return self.start_server("lighttpd (%s)" % name, argv, self.path(name + ".log"))

    def hub_url(self, port, group):
        return "https://localhost:%d/git/%s.git" % (port, group)

    def access_log(self, name="hub"):
        # lighttpd buffers its access log and writes it out once a second:
        # wait for that, so a request just made is in what is read.
        time.sleep(1.5)
        return servers.read_text(self.path(name + "-logs", "access.log"))

    # -- a volunteer's HOME

    def make_home(self, name, ca=True, helper=True, creds=(), extra=""):
        """An empty HOME with the git identity, and as asked: http.sslCAInfo
        naming the test CA, `credential.helper store` (useHttpPath: one
        account per group's repository, docs/hub.md) and its file holding
        `creds`, (user, password, URL) triples."""
        home = self.path(name)
        os.makedirs(home)
        lines = ["[user]", "\tname = Test Volunteer", "\temail = volunteer@example.org"]
        if helper:
            lines += ["[credential]", "\thelper = store", "\tuseHttpPath = true"]
        if ca:
            lines += ["[http]", "\tsslCAInfo = %s" % self.ca]
        with open(os.path.join(home, ".gitconfig"), "w") as f:
            f.write("\n".join(lines) + "\n" + extra)
        if helper:
            path = os.path.join(home, ".git-credentials")
            with open(path, "w") as f:
                for user, password, url in creds:
                    host_path = url.split("://", 1)[1]
                    f.write("https://%s:%s@%s\n" % (user, password, host_path))
            os.chmod(path, 0o600)
        return home

    def env_for(self, home, **extra):
        env = dict(self.env, HOME=home, **extra)
        env.pop("GIT_CONFIG_GLOBAL", None)  # the test HOME's ~/.gitconfig is the one read
        for k in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY",
                  "no_proxy", "NO_PROXY", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE",
                  "SSL_CERT_DIR", "GIT_SSL_NO_VERIFY", "GIT_ASKPASS", "SSH_ASKPASS"):
            env.pop(k, None)
        for k, v in extra.items():
            env[k] = v
        return env

    def home_with(self, name, *accounts, **kw):
        """A HOME whose credential store holds `accounts`: (account, group)."""
        creds = [(acct, self.password[acct], self.hub_url(self.port, group)) for acct, group in accounts]
        return self.env_for(self.make_home(name, creds=creds, **kw))

    # -- assertions

    def assertNoSecret(self, *extra_texts):
        """No password of any account in any file under the test folder but
        the accounts file and the credential helpers' own files, nor in
        `extra_texts` (the commands' outputs)."""
        allowed = {self.path("users")}
        for root, _, files in os.walk(self.tmp):
            for fn in files:
                p = os.path.join(root, fn)
                if fn == ".git-credentials" or p in allowed or os.path.islink(p):
                    continue
                with open(p, "rb") as f:
                    data = f.read()
                for pw in self.password.values():
                    self.assertNotIn(pw.encode(), data, "a password is in %s" % p)
        for text in extra_texts:
            for pw in self.password.values():
                self.assertNotIn(pw, text, "a password was printed")

    def assertRefusedAtOnce(self, store, env, words, url=None):
        """The sync fails (exit 1) at once, sends and keeps nothing, and its
        message says which of `words`; the same as one line on stderr."""
        before = self.log_raw(store, env=env)
        t0 = time.monotonic()
        st, r = self.sync(store, url or self.url, expect=EXIT_FAIL, env=env)
        self.assertLess(time.monotonic() - t0, FAST, "a refusal should come at once\n" + describe(r))
        self.assertIs(st["safe_to_remove"], False, describe(r))
        self.assertEqual((st["events_sent"], st["events_received"]), (0, 0), describe(r))
        err = st["error"]
        self.assertTrue(any(w.lower() in err.lower() for w in words),
                        "the error should say %r\n%s" % (words, describe(r)))
        self.assertEqual(self.log_raw(store, env=env), before)
        self.verify(store, env=env)
        r2 = self.mutual(store, "sync", url or self.url, env=env)
        self.assertEqual(r2.returncode, EXIT_FAIL, describe(r2))
        self.assertTrue(r2.stderr.startswith("mutual: ") and r2.stderr.count("\n") == 1, describe(r2))
        self.assertNoSecret(r.stdout, r.stderr, r2.stdout, r2.stderr)
        return err


class TestHttpsHub(HttpsHubTestCase):

    def test_three_stores_converge_with_the_users_credentials_and_ca(self):
        env = self.home_with("volunteer", ("pantry", "pantry"))
        self.env = env  # stock git too (fsck, the clone) reads the volunteer's ~/.gitconfig
        self.scenario_three_stores_converge(self.url, self.bare, env=env, clone_url=self.url)
        log = self.access_log()
        self.assertRegex(log, r'127\.0\.0\.1 pantry "POST /git/pantry\.git/git-receive-pack',
                         "the pushes should reach the hub as the pantry account")
        self.assertIn(" 401", log, "the hub should have asked for the password")
        # the helper was told the password worked: it is still there, once
        with open(os.path.join(self.path("volunteer"), ".git-credentials")) as f:
            self.assertEqual(f.read().count(self.password["pantry"]), 1)
        self.assertNoSecret()

    def test_no_credentials_fails_at_once_and_never_prompts(self):
        marker = self.path("askpass-ran")
        askpass = self.path("askpass.sh")
        with open(askpass, "w") as f:
            f.write("#!/bin/sh\ntouch %s\necho from-askpass\n" % marker)
        os.chmod(askpass, 0o755)
        for name, helper in (("no-helper", False), ("empty-helper", True)):
            env = self.env_for(self.make_home(name, helper=helper), GIT_ASKPASS=askpass, SSH_ASKPASS=askpass,
                               DISPLAY=":0")
            a = self.init("a-" + name, "Food pantry", "pantry-laptop", env=env)
            err = self.assertRefusedAtOnce(a, env, ("credential helper",))
            self.assertIn("git ls-remote %s" % self.url, err, "the message should say what to run once")
        self.assertFalse(os.path.exists(marker), "an askpass program was run")
        self.assertEqual(self.hub_refs(self.bare), {})

    def test_a_wrong_password_fails_at_once_and_is_forgotten(self):
        home = self.make_home("volunteer", creds=[("pantry", "not-" + self.password["pantry"], self.url)])
        env = self.env_for(home)
        a = self.init("a", "Food pantry", "pantry-laptop", env=env)
        err = self.assertRefusedAtOnce(a, env, ("refused the user name and password",))
        self.assertNotIn("certificate", err)
        with open(os.path.join(home, ".git-credentials")) as f:
            self.assertEqual(f.read(), "", "the helper should forget a refused password, as git does")
        self.assertEqual(self.hub_refs(self.bare), {})

    def test_a_ca_the_client_does_not_know_is_refused(self):
        for name, extra in (("no-ca", ""), ("no-verify", "[http]\n\tsslVerify = false\n")):
            env = self.env_for(self.make_home(name, ca=False, creds=[("pantry", self.password["pantry"], self.url)],
                                              extra=extra))
            a = self.init("a-" + name, "Food pantry", "pantry-laptop", env=env)
            err = self.assertRefusedAtOnce(a, env, ("certificate",))
            self.assertIn("http.sslCAInfo", err, "the message should say how to name the group's CA")
            self.assertNotIn("password", err.lower())
            if extra:
                self.assertIn("never honoured", err)
        # GIT_SSL_NO_VERIFY is not honoured either; GIT_SSL_CAINFO is
        env = self.env_for(self.make_home("env-ca", ca=False, creds=[("pantry", self.password["pantry"], self.url)]))
        self.assertRefusedAtOnce(self.path("a-no-ca"), dict(env, GIT_SSL_NO_VERIFY="1"), ("never honoured",))
        self.sync(self.path("a-no-ca"), self.url, env=dict(env, GIT_SSL_CAINFO=self.ca))
        self.assertEqual(len(self.hub_refs(self.bare)), 1)

    def test_another_cas_certificate_and_an_expired_one_are_refused(self):
        self.make_ca("other", "another CA")
        for name, pem, words in (("other-ca", self.server_cert("other", "localhost"), ("certificate",)),
                                 ("expired", self.server_cert("ca", "localhost", expired=True), ("has expired",))):
            port = self.start_hub(name, pem)
            url = self.hub_url(port, "pantry")
            env = self.env_for(self.make_home("home-" + name, creds=[("pantry", self.password["pantry"], url)]))
            a = self.init("a-" + name, "Food pantry", "pantry-laptop", env=env)
            err = self.assertRefusedAtOnce(a, env, words, url=url)
            self.assertIn("certificate", err)
        self.assertEqual(self.hub_refs(self.bare), {})

    def test_a_read_only_account_fetches_but_cannot_push(self):
        writer_env = self.home_with("writer", ("pantry", "pantry"))
        a = self.init("a", "Food pantry", "pantry-laptop", env=writer_env)
        b = self.join(a, "b", "office-pc", env=writer_env)
        self.append(a, "pantry.stock.in", {"item": "rice", "qty": 40}, env=writer_env)
        self.sync(a, self.url, env=writer_env)
        refs = self.hub_refs(self.bare)

        reader_env = self.home_with("reader", ("reader", "pantry"))
        own = self.append(b, "pantry.stock.in", {"item": "oil", "qty": 5}, env=reader_env)
        before = self.log_ids(b, env=reader_env)
        t0 = time.monotonic()
        st, r = self.sync(b, self.url, expect=EXIT_FAIL, env=reader_env)
        self.assertLess(time.monotonic() - t0, FAST, describe(r))
        self.assertIn("may only read", st["error"], describe(r))
        self.assertIn("nothing was sent", st["error"], describe(r))
        self.assertEqual(self.hub_refs(self.bare), refs, "the read-only account changed the hub")
        after = self.log_ids(b, env=reader_env)
        self.assertIn(own, after)
        self.assertTrue(before < after, "the fetch should still have brought a's events")
        self.verify(b, env=reader_env)
        with open(os.path.join(self.path("reader"), ".git-credentials")) as f:
            self.assertIn(self.password["reader"], f.read(), "a password that reads is not a wrong one")

        # a repository the host keeps read-only for everyone: HTTP 403
        self.git("-C", self.bare, "config", "http.receivepack", "false")
        self.append(a, "pantry.stock.in", {"item": "salt", "qty": 1}, env=writer_env)
        st, r = self.sync(a, self.url, expect=EXIT_FAIL, env=writer_env)
        self.assertIn("403", st["error"], describe(r))
        self.assertIn("may only read", st["error"], describe(r))
        self.assertEqual(self.hub_refs(self.bare), refs)
        self.verify(a, env=writer_env)

        # once the hub takes writes again, what waited is sent
        self.git("-C", self.bare, "config", "http.receivepack", "true")
        st, r = self.sync(a, self.url, env=writer_env)
        self.assertEqual(st["events_sent"], 1, describe(r))
        self.assertNoSecret(r.stdout, r.stderr)

    def test_another_groups_credentials_get_nothing_of_its_repository(self):
        # the rent group's volunteer points the rent account at the pantry's repository
        env = self.env_for(self.make_home("rent", creds=[("rent", self.password["rent"], self.url)]))
        c = self.init("c", "Rent fund", "treasurer", env=env)
        self.append(c, "rent.paid", {"who": "x", "amount": 1}, env=env)
        self.assertRefusedAtOnce(c, env, ("refused the user name and password",))
        # and stock git, with the same account, can neither read nor write it
        hub_env = self.home_with("rent-git", ("rent", "rent"))
        r = self.run_cmd(["git", "-c", "credential.helper=", "ls-remote",
                          self.url.replace("://", "://rent:%s@" % self.password["rent"])], env=hub_env)
        self.assertNotEqual(r.returncode, 0, describe(r))
        self.assertIn("Authentication failed", r.stderr, describe(r))
        own = self.path("rent-own.git")
        self.git("init", "--quiet", "--bare", own)
        self.git("-C", own, "fetch", "--quiet", os.path.join(c, "sync.git"), "+refs/mutual/*:refs/mutual/*")
        r = self.run_cmd(["git", "-c", "credential.helper=", "-C", own, "push",
                          self.url.replace("://", "://rent:%s@" % self.password["rent"]),
                          "refs/mutual/*:refs/mutual/*"], env=hub_env)
        self.assertNotEqual(r.returncode, 0, describe(r))
        self.assertIn("Authentication failed", r.stderr, describe(r))
        self.assertEqual(self.hub_refs(self.bare), {})
        # the rent group's own repository is the rent account's
        rent_url = self.hub_url(self.port, "rent")
        st, r = self.sync(c, rent_url, env=hub_env)
        self.assertGreater(st["events_sent"], 0, describe(r))
        self.check_hub(os.path.join(self.base, "rent.git"), [self.device_id(c, env=hub_env)])

    def test_a_hub_that_is_down_or_a_wrong_path_says_so(self):
        env = self.home_with("volunteer", ("pantry", "pantry"))
        a = self.init("a", "Food pantry", "pantry-laptop", env=env)
        self.append(a, "pantry.stock.in", {"item": "rice", "qty": 40}, env=env)
        self.assertRefusedAtOnce(a, env, ("cannot reach the hub",), url=self.hub_url(servers.free_port(), "pantry"))
        self.assertRefusedAtOnce(a, env, ("no such repository (HTTP 404)",), url=self.hub_url(self.port, "nothing"))
        st, r = self.sync(a, self.url, env=env)  # and later it syncs, nothing lost
        self.assertEqual(st["events_sent"], len(self.log_ids(a, env=env)), describe(r))

    def test_a_url_holding_a_password_is_refused_before_anything(self):
        env = self.home_with("volunteer", ("pantry", "pantry"))
        a = self.init("a", "Food pantry", "pantry-laptop", env=env)
        time.sleep(1.5)
        before_log = self.access_log()
        for url in (self.url.replace("://", "://pantry:%s@" % self.password["pantry"]),
                    "ssh://pantry:%s@127.0.0.1:1/x.git" % self.password["pantry"]):
            st, r = self.sync(a, url, expect=EXIT_FAIL, env=env)
            self.assertIn("holds a password", st["error"], describe(r))
            r2 = self.mutual(a, "sync", url, env=env)
            self.assertEqual(r2.returncode, EXIT_FAIL, describe(r2))
            self.assertNoSecret(r.stdout, r.stderr, r2.stdout, r2.stderr)
        time.sleep(1.5)  # lighttpd writes its access log out once a second
        self.assertEqual(self.access_log(), before_log, "the hub was contacted")
        self.assertEqual(self.hub_refs(self.bare), {})
        # a user name alone is fine: the helper gives its password
        st, r = self.sync(a, self.url.replace("://", "://pantry@"), env=env)
        self.assertGreater(st["events_sent"], 0, describe(r))


class TestHttpsProxy(HttpsHubTestCase):
    """tinyproxy on loopback as the CONNECT proxy between mutual and the hub."""

    def start_proxy(self):
        if not os.path.exists(TINYPROXY):
            self.fail("%s is missing: run scripts/deps.sh" % TINYPROXY)
        conf = self.path("tinyproxy.conf")
        self.proxy_log = self.path("tinyproxy.log")

        def argv(port):
            with open(conf, "w") as f:
                f.write("User nobody\nGroup nogroup\nPort %d\nListen 127.0.0.1\nTimeout 60\n"
                        "LogLevel Connect\nMaxClients 20\nAllow 127.0.0.1\n" % port)
            return [TINYPROXY, "-d", "-c", conf]
        return self.start_server("tinyproxy", argv, self.proxy_log)

    def proxied(self):
        return [ln for ln in servers.read_text(self.proxy_log).splitlines()
                if "CONNECT" in ln and "localhost:%d" % self.port in ln]

    def test_a_connect_proxy_from_the_environment_and_from_http_proxy(self):
        proxy = self.start_proxy()
        env = self.home_with("volunteer", ("pantry", "pantry"))
        a = self.init("a", "Food pantry", "pantry-laptop", env=env)
        b = self.join(a, "b", "office-pc", env=env)
        self.append(a, "pantry.stock.in", {"item": "rice", "qty": 40}, env=env)
        hub = set()
        self.sync_tracked(a, self.url, hub, env=dict(env, https_proxy="http://127.0.0.1:%d" % proxy))
        self.assertTrue(self.proxied(), "the sync did not go through the proxy:\n" +
                        servers.read_text(self.proxy_log))
        n = len(self.proxied())
        # http.proxy, without a scheme as git allows, and HTTPS_PROXY pointing nowhere is overridden
        env_b = self.env_for(self.make_home("proxied-home", creds=[("pantry", self.password["pantry"], self.url)],
                                            extra="[http]\n\tproxy = 127.0.0.1:%d\n" % proxy),
                             HTTPS_PROXY="http://127.0.0.1:1")
        self.sync_tracked(b, self.url, hub, env=env_b)
        self.assertGreater(len(self.proxied()), n, "http.proxy was not used")
        self.assertNoSecret()

    def test_no_proxy_bypasses_a_proxy_that_is_down(self):
        dead = servers.free_port()
        env = self.home_with("volunteer", ("pantry", "pantry"))
        a = self.init("a", "Food pantry", "pantry-laptop", env=env)
        down = dict(env, https_proxy="http://someone:%s@127.0.0.1:%d" % (self.password["reader"], dead))
        st, r = self.sync(a, self.url, expect=EXIT_FAIL, env=down)
        self.assertIn("through the proxy http://127.0.0.1:%d" % dead, st["error"], describe(r))
        self.assertNotIn(self.password["reader"], r.stdout + r.stderr, "the proxy's password was shown")
        self.assertEqual(self.hub_refs(self.bare), {})
        for no_proxy in ("localhost", ".localhost,example.org", "*"):
            st, r = self.sync(a, self.url, env=dict(down, no_proxy=no_proxy))
        self.assertEqual(len(self.hub_refs(self.bare)), 1)


if __name__ == "__main__":
    unittest.main()
