"""A small driver for a real, headless Chromium through the Chrome DevTools
Protocol (CDP), for tests that use a web page the way a person does.

It finds a field by the text of its <label> and a button by its visible
text, optionally inside the form, article or section under a given heading;
it clicks with real mouse events at the element's centre and types with
real input events, so what it can do is what a person with a phone can do.
Everything the page reports as an error -- console.error and
console.assert, an uncaught exception, a browser log entry of level error
(a blocked script, a refused style, a failed load) -- is collected in
Page.errors for the test to fail on.

Only Debian's packages are needed: chromium and python3-websocket (the
websocket-client library). One Browser owns one chromium process and its
fresh profile folder; Browser.close() (or leaving its `with` block) kills
the process group and removes the folder, whatever happened before.

    with cdp.Browser() as browser:
        page = browser.new_page()
        page.goto("http://127.0.0.1:8080/board")
        page.type_into("Title", "Groceries for a family of four")
        page.press("Post")
        print(page.text())
"""

import base64
import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

try:
    import websocket
except ImportError as e:
    raise ImportError(
        "the Python module 'websocket' is missing: install Debian's python3-websocket "
        "(scripts/deps.sh does) and run the test with /usr/bin/python3") from e

CHROMIUM = "/usr/bin/chromium"

TIMEOUT = 30  # seconds: a hang guard for each wait, not a timing assertion

# The browser as the brief of these tests has it: headless, no sandbox (the
# tests run as root), nothing fetched from the network on its own, a
# DevTools port chosen by the system and written to DevToolsActivePort.
# --no-proxy-server: the pages are on loopback; a proxy from the
# environment must not sit between the browser and the server under test.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-proxy-server", "--remote-debugging-port=0",
]

# Runs in the page: the element a person would mean by `kind` ("field": the
# control of the <label> with this text; "button": the <button> or submit
# input with this text), searched inside the container of the heading
# `within` when given. Throws an Error naming what the page does have,
# so a failing test says what it saw.
FIND_JS = r"""
function (kind, text, within) {
  const norm = s => (s || "").replace(/\s+/g, " ").trim();
  const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  let scope = document;
  if (within !== null) {
    const heads = [...document.querySelectorAll("h1,h2,h3,h4,h5,h6,legend")]
      .filter(h => norm(h.innerText) === within);
    if (heads.length !== 1)
      throw new Error(heads.length + " headings read '" + within + "'; headings: " +
        JSON.stringify([...document.querySelectorAll("h1,h2,h3,h4,h5,h6,legend")]
          .map(h => norm(h.innerText))));
    /* The heading's own article, form, fieldset or section; or, for a
       heading set just before its form, that form. */
    const h = heads[0];
    scope = h.closest("article,form,fieldset,section");
    if (!scope && h.nextElementSibling && h.nextElementSibling.matches("form"))
      scope = h.nextElementSibling;
    if (!scope)
      throw new Error("the heading '" + within + "' is not inside an article, form, " +
        "fieldset or section, nor followed by a form");
  }
  let found, have;
  if (kind === "field") {
    const labels = [...scope.querySelectorAll("label")].filter(shown);
    have = labels.map(l => norm(l.innerText));
    found = labels.filter(l => norm(l.innerText) === text).map(l => {
      if (!l.htmlFor)
        throw new Error("the label '" + text + "' has no for= attribute");
      if (!l.control)
        throw new Error("the label '" + text + "' is for '" + l.htmlFor + "', which is no field");
      return l.control;
    });
  } else {
    const buttons = [...scope.querySelectorAll("button,input[type=submit]")].filter(shown);
    const label = b => norm(b.matches("input") ? b.value : b.innerText);
    have = buttons.map(label);
    found = buttons.filter(b => label(b) === text);
  }
  if (found.length !== 1)
    throw new Error(found.length + " " + kind + "s read '" + text + "'" +
      (within === null ? "" : " under '" + within + "'") + "; there are: " + JSON.stringify(have));
  return found[0];
}
"""

# Runs on an element: whether a click at (x, y) would reach it, rather than
# something drawn over it.
HIT_JS = """
function (x, y) {
  const e = document.elementFromPoint(x, y);
  return e !== null && (e === this || this.contains(e));
}
"""


def die_with_parent():
    """For subprocess.Popen(preexec_fn=...): have the kernel kill the child
    when the test process ends, however it ends (a timeout's SIGTERM, a
    Ctrl-C), so no browser or server outlives its test. Linux only."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class CDPError(Exception):
    """The browser refused a command, the page did not do what was asked in
    time, or there was no element a person could have used."""


class Browser:
    """One headless chromium with a fresh profile, driven over one DevTools
    WebSocket; its pages (tabs) share that connection through sessions."""

    def __init__(self):
        if not os.access(CHROMIUM, os.X_OK):
            raise CDPError(
                "%s is missing: the browser tests need Debian's chromium "
                "(apt-get install chromium python3-websocket, or scripts/deps.sh)" % CHROMIUM)
        self.profile = tempfile.mkdtemp(prefix="mutual-chromium-")
        self.proc = None
        self.ws = None
        self.next_id = 0
        self.pages = {}  # session id -> Page
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        # HOME is the profile too: chromium keeps a crash-report folder and
        # a certificate database under it, which must go with the profile.
        env = dict(os.environ, HOME=self.profile)
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
            env.pop(var, None)
        # A session of its own, so that close() ends chromium's helpers
        # (zygote, renderers, GPU process) with it, by its process group.
        with open(os.path.join(self.profile, "chromium.log"), "wb") as log:
            self.proc = subprocess.Popen(
                [CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + self.profile, "about:blank"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
                preexec_fn=die_with_parent)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + TIMEOUT
        lines = []
        while len(lines) < 2:
            if self.proc.poll() is not None:
                raise CDPError("chromium exited with status %d before it listened:\n%s"
                               % (self.proc.returncode, self._log_tail()))
            if time.monotonic() > deadline:
                raise CDPError("chromium wrote no %s within %d s:\n%s"
                               % (port_file, TIMEOUT, self._log_tail()))
            time.sleep(0.05)
            try:
                with open(port_file) as f:
                    lines = f.read().split()
            except FileNotFoundError:
                pass
        # No Origin header: chromium refuses WebSocket clients that send
        # one it was not told to allow.
        self.ws = websocket.create_connection(
            "ws://127.0.0.1:%s%s" % (lines[0], lines[1]), timeout=TIMEOUT, suppress_origin=True)

    def _log_tail(self):
        try:
            with open(os.path.join(self.profile, "chromium.log"), "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError as e:
            return "(no log: %s)" % e

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Kill chromium and everything it started, remove its profile.
        Safe to call more than once."""
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method, params=None, session=None):
        """Send one command and return its result, dispatching the events
        that arrive meanwhile to their pages."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        want = self.next_id
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._receive(deadline, "the reply to " + method)
            if reply.get("id") == want:
                if "error" in reply:
                    raise CDPError("%s: %s" % (method, reply["error"].get("message")))
                return reply["result"]

    def wait(self, condition, what):
        """Dispatch events until condition() holds; CDPError after TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            self._receive(deadline, what)

    def _receive(self, deadline, what):
        """Read one message; an event goes to its page before returning."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise CDPError("no %s within %d s" % (what, TIMEOUT))
        self.ws.settimeout(left)
        try:
            msg = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            raise CDPError("no %s within %d s" % (what, TIMEOUT)) from None
        page = self.pages.get(msg.get("sessionId"))
        if "method" in msg and page is not None:
            page.on_event(msg["method"], msg.get("params", {}))
        return msg

    def new_page(self, width=390, height=844):
        """A new tab emulating a phone's screen, `width` x `height` CSS
        pixels at 3 device pixels each, with its error reporting on."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, width)
        self.pages[session] = page
        for domain in ("Page", "Runtime", "Log", "DOM", "Network"):
            page.send(domain + ".enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 3, "mobile": True})
        return page


class Page:
    """One tab. Its errors (strings saying what and where) accumulate in
    `errors`; `status` is the HTTP status of the last document loaded."""

    def __init__(self, browser, session, width):
        self.browser = browser
        self.session = session
        self.width = width
        self.errors = []
        self.loads = 0  # load events of the main frame so far
        self.status = None
        self.failed_documents = set()  # URLs of documents answered with a 4xx or 5xx

    def send(self, method, params=None):
        return self.browser.send(method, params, self.session)

    def on_event(self, method, params):
        if method == "Page.loadEventFired":
            self.loads += 1
        elif method == "Network.responseReceived" and params.get("type") == "Document":
            self.status = params["response"]["status"]
            if self.status >= 400:
                self.failed_documents.add(params["response"]["url"])
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            words = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.errors.append("console.%s: %s" % (params["type"], words))
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text", "")
            self.errors.append("uncaught exception at %s:%s: %s"
                               % (d.get("url", "?"), d.get("lineNumber", "?"), text))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            e = params["entry"]
            # A document's own error status is checked by goto() and
            # press(), against what the caller expects; the browser's
            # "Failed to load resource" for it is the same fact again.
            if e["source"] == "network" and e.get("url") in self.failed_documents:
                return
            self.errors.append("log (%s): %s %s" % (e["source"], e["text"], e.get("url", "")))

    # --- loading ---------------------------------------------------------

    def goto(self, url, status=200):
        """Open `url`, wait until it has loaded and check that the server
        answered with HTTP `status`."""
        before = self.loads
        self.status = None
        self.send("Page.bringToFront")  # the tab a person looks at; others render nothing
        r = self.send("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise CDPError("opening %s failed: %s" % (url, r["errorText"]))
        self._wait_load(before, "load of " + url, status)

    def _wait_load(self, before, what, status):
        self.browser.wait(lambda: self.loads > before, what)
        url = self.evaluate("location.href")
        if url.startswith("chrome-error:"):
            raise CDPError("%s ended on the browser's error page" % what)
        if self.status != status:
            raise CDPError("%s: the server answered %s, not %d (%s)" % (what, self.status, status, url))

    def url(self):
        """The address of the page shown."""
        return self.evaluate("location.href")

    # --- reading ---------------------------------------------------------

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-able)."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        self._raise_on_exception(r, expression)
        return r["result"].get("value")

    def _raise_on_exception(self, r, what):
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            # The message, without the stack of our own helper functions.
            raise CDPError("in the page, %s: %s" % (what.strip()[:80], text.split("\n")[0]))

    def text(self, selector="body"):
        """The visible text of the first element matching `selector`, as a
        person reads it (innerText), or None when there is none."""
        return self.evaluate("(e => e && e.innerText)(document.querySelector(%s))"
                             % json.dumps(selector))

    def texts(self, selector):
        """The visible text of every element matching `selector`."""
        return self.evaluate("[...document.querySelectorAll(%s)].map(e => e.innerText)"
                             % json.dumps(selector))

    def value(self, label, within=None):
        """The current value of the field labelled `label`."""
        return self._call(self.field(label, within), "function () { return this.value; }")

    # --- finding ---------------------------------------------------------

    def field(self, label, within=None):
        """The input, select or textarea whose <label> reads `label`
        (inside the container of heading `within`, if given)."""
        return self._find("field", label, within)

    def button(self, text, within=None):
        """The button that reads `text` (inside the container of heading
        `within`, if given)."""
        return self._find("button", text, within)

    def _find(self, kind, text, within):
        r = self.send("Runtime.evaluate", {
            "expression": "(%s)(%s, %s, %s)" % (FIND_JS, json.dumps(kind), json.dumps(text),
                                               json.dumps(within))})
        self._raise_on_exception(r, "looking for the %s '%s'" % (kind, text))
        return r["result"]["objectId"]

    def _call(self, obj, function, *args):
        r = self.send("Runtime.callFunctionOn", {
            "objectId": obj, "functionDeclaration": function, "returnByValue": True,
            "arguments": [{"value": a} for a in args]})
        self._raise_on_exception(r, function)
        return r["result"].get("value")

    # --- acting ----------------------------------------------------------

    def click(self, obj):
        """Scroll the element into view and click its centre with the mouse,
        after checking that nothing covers that point."""
        self.send("Page.bringToFront")
        self.send("DOM.scrollIntoViewIfNeeded", {"objectId": obj})
        quads = self.send("DOM.getContentQuads", {"objectId": obj})["quads"]
        if not quads:
            raise CDPError("the element has no box on screen to click")
        q = quads[0]
        x = sum(q[0::2]) / 4
        y = sum(q[1::2]) / 4
        if not self._call(obj, HIT_JS, x, y):
            raise CDPError("something covers the element at (%.0f, %.0f)" % (x, y))
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent",
                      {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def type_into(self, label, text, within=None):
        """Click the field labelled `label`, select what it holds and type
        `text` over it."""
        field = self.field(label, within)
        self.click(field)
        if not self._call(field, "function () { return document.activeElement === this; }"):
            raise CDPError("clicking the field '%s' did not focus it" % label)
        # Ctrl+A, with the editing command named: headless chromium has no
        # platform key bindings to turn the keys into it.
        key = {"modifiers": 2, "key": "a", "code": "KeyA", "windowsVirtualKeyCode": 65}
        self.send("Input.dispatchKeyEvent", dict(key, type="keyDown", commands=["selectAll"]))
        self.send("Input.dispatchKeyEvent", dict(key, type="keyUp"))
        self.send("Input.insertText", {"text": text})
        if self._call(field, "function () { return this.value; }") != text:
            raise CDPError("typing into '%s' did not leave %r in it" % (label, text))

    def press(self, text, within=None, status=200):
        """Click the button that reads `text`, wait for the page it leads
        to (a form's answer, after any redirect) to load and check that the
        server answered it with HTTP `status`."""
        button = self.button(text, within)
        before = self.loads
        self.status = None
        self.click(button)
        self._wait_load(before, "the page after pressing '%s'" % text, status)

    def screenshot(self, path):
        """Save the whole page, beyond the screen's height, as a PNG."""
        self.send("Page.bringToFront")  # a tab behind another draws no frames to capture
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        r = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": self.width, "height": size["height"], "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
