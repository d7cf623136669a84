"""Headless Chromium for the tests that look at a page as its reader does (tests/unit/test_report.py,
test_data_docs.py): driven over the DevTools protocol on a pipe, network closed.

The rendering tests prove what a reader sees in a real browser, and that the page asks for
nothing on the network: the requests counted are those of the page's own target (the document,
its styles, fonts and scripts). The browser's background services are switched off, and whatever
of them remains is not the page's, so it cannot make a test fail. No request leaves the machine:
the proxy is a closed local port.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Chromium's own services (component updater, sync, safe browsing, ...) stay off; what remains of
# the browser's own traffic is not the page's and is not counted (see Browser).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-breakpad", "--disable-crash-reporter", "--metrics-recording-only",
    "--disable-features=OptimizationHints,MediaRouter,Translate,CertificateTransparencyComponentUpdater",
    # Nothing leaves the machine: every proxied request goes to a closed local port.
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]  # fmt: skip
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "devtools:")


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4, no port).

    The page's own requests are the Network events of the page's target: every URL the document,
    its styles and scripts ask for, including requests the dead proxy then fails. The browser's
    background traffic belongs to no page and never appears there.
    """

    def __init__(self, binary: str, profile: Path) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def pipes_on_3_and_4() -> None:
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)
            # dup2 onto itself (the pipe already was fd 3 or 4, in a process with few files
            # open) keeps the close-on-exec flag: clear it so Chromium inherits both.
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=pipes_on_3_and_4, close_fds=False,
        )  # fmt: skip
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_child], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("no answer from Chromium's DevTools pipe")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60, **params: str) -> None:
        """Until the page sends `method` with these `params`, keeping every event."""

        def seen(event: dict) -> bool:
            return event.get("method") == method and all(
                event["params"].get(k) == v for k, v in params.items()
            )

        deadline = time.monotonic() + timeout
        while not any(seen(e) for e in self.events):
            self.events.append(self._read_message(deadline))

    def open(self, url: str, width: int, height: int) -> None:
        """Load `url` in the page and wait until its network is idle (500 ms without a request)."""
        page = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": page, "flatten": True})["sessionId"]
        self.call("Network.enable")
        self.call("Page.enable")
        self.call("Page.setLifecycleEventsEnabled", {"enabled": True})
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.events.clear()
        loader = self.call("Page.navigate", {"url": url})["loaderId"]
        self.wait_for("Page.loadEventFired")
        self.wait_for("Page.lifecycleEvent", name="networkIdle", loaderId=loader)

    def page_requests(self) -> list[str]:
        """The URLs the page asked for that are not local (file, data, blob, about)."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
            and e.get("sessionId") == self.session
            and not e["params"]["request"]["url"].startswith(LOCAL_SCHEMES)
        ]

    def dom(self) -> str:
        return self.call("Runtime.evaluate", {"expression": "document.documentElement.outerHTML"})["result"][
            "value"
        ]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get(
            "value"
        )

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)


needs_chromium = pytest.mark.skipif(
    chromium_binary() is None, reason="chromium is not installed (make test-deps installs it as root)"
)
