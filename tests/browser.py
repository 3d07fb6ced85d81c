"""A headless Chromium (Debian's package) driven over the DevTools protocol: open a page, evaluate
JavaScript, click with real mouse events at an element's position, take a screenshot."""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests
import websocket

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1280,1000"]  # fmt: skip


class Browser:
    def __init__(self, url: str, timeout: float = 60.0):
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.ids = itertools.count(1)
        try:
            port = self._devtools_port(timeout)
            client = requests.Session()
            client.trust_env = False  # never through a proxy
            deadline = time.monotonic() + timeout
            while True:
                pages = [t for t in client.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                         if t["type"] == "page"]  # fmt: skip
                if pages or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=timeout,
                                                  suppress_origin=True)  # fmt: skip
            self.call("Page.navigate", url=url)
            self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'", timeout)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            seen.append(line)
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if found:
                return int(found[1])
        raise RuntimeError(f"chromium did not start its DevTools endpoint: {''.join(seen)[-2000:]}")

    def call(self, method: str, **params) -> dict:
        ident = next(self.ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            time.sleep(0.1)

    def click(self, selector: str) -> None:
        """A real click: mouse pressed and released at the centre of the element, as a user does."""
        box = self.evaluate(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            e.scrollIntoView({{block: "center"}}); const r = e.getBoundingClientRect();
            return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()""")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)

    def screenshot(self, target: Path) -> Path:
        target.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return target

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)
