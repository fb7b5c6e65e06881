"""A real browser for the status-page tests: the app in a uvicorn server on a free port (in a thread of the test
process, on the test's database) and Debian's chromium driven by Playwright (never Playwright's own download)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, sync_playwright

from api.stack import ports

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "status-page"
# axe-core rule tags for WCAG 2.0/2.1/2.2 A and AA, and axe's best practices.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def free_port() -> int:
    """A TCP port nobody listens on right now, outside the kernel's ephemeral range (api.stack.ports)."""
    return ports.free_port()


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` in uvicorn on a free port; yield its base URL; stop it afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):
        if server.started:
            started.set()
            break
        thread.join(0.05)  # waiting for the server to listen (no assertion depends on this delay)
    assert started.is_set(), "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: scripts/test installs it (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
