"""webdriver_client.py -- drives Debian's headless Chromium through
chromedriver's W3C WebDriver protocol (plain HTTP and JSON, standard
library only), for the browser tests and the benchmark of flor serve."""
import base64
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, width=1400, height=1100):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="flor-chromium-")
        driver = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
        self.proc = subprocess.Popen([driver, "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        for _ in range(100):
            try:
                if self._call("GET", "/status")["ready"]:
                    break
            except OSError:
                time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=%d,%d" % (width, height), "--user-data-dir=" + self.profile,
                "--no-first-run", "--hide-scrollbars"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                   "args": args}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as res:
                return json.loads(res.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError("webdriver %s %s: %s" % (method, path, e.read()[:500])) from None

    def _s(self, method, path, body=None):
        return self._call(method, "/session/%s%s" % (self.session, path), body)

    def get(self, url):
        self._s("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        return self._s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css):
        self._s("POST", "/element/%s/click" % self.find(css), {})

    def type(self, css, text):
        self._s("POST", "/element/%s/value" % self.find(css), {"text": text})

    def clear(self, css):
        self._s("POST", "/element/%s/clear" % self.find(css), {})

    def screenshot(self, path, css=None):
        """Saves a screenshot (of the element CSS, or the window) to PATH;
        returns its PNG bytes."""
        where = "/element/%s/screenshot" % self.find(css) if css else "/screenshot"
        png = base64.b64decode(self._s("GET", where))
        with open(path, "wb") as f:
            f.write(png)
        return png

    def wait(self, script, timeout=20, what=None):
        """Waits until SCRIPT (a JS expression) is truthy; returns its value."""
        end = time.time() + timeout
        while True:
            v = self.js("return (%s);" % script)
            if v:
                return v
            if time.time() > end:
                raise AssertionError("timed out waiting for %s" % (what or script))
            time.sleep(0.1)

    def close(self):
        try:
            self._s("DELETE", "")
        finally:
            self.proc.terminate()
            self.proc.wait()
            subprocess.run(["rm", "-rf", self.profile])
