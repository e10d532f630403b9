"""Headless Debian chromium driven by Playwright for the browser tests.

Never a downloaded browser: Playwright gets ``executable_path=/usr/bin/chromium`` (override with
CMO_CHROMIUM). Every request the page makes is recorded, and any request that would leave
loopback is aborted and listed in ``BrowserSession.external_requests`` so a test can assert that
nothing left the machine. Screenshots go to ``test-artifacts/`` (kept by CI as artifacts).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chromium_path() -> str:
    return os.environ.get("CMO_CHROMIUM", "/usr/bin/chromium")


def require_chromium() -> str:
    """The chromium binary, or skip the test with the reason (outside CI only)."""
    path = chromium_path()
    if not Path(path).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Debian chromium not found at {path}: scripts/install.sh installs it")
        pytest.skip(f"Debian chromium not found at {path} (apt-get install chromium)")
    return path


@dataclass
class BrowserSession:
    page: Any
    requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "chrome-extension"):
        return True
    return (parts.hostname or "") in LOOPBACK_HOSTS


@contextmanager
def browser_session(viewport: tuple[int, int] = (1366, 900)) -> Iterator[BrowserSession]:
    """A fresh headless chromium page; requests off loopback are blocked and recorded."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            session = BrowserSession(page=context.new_page())

            def route(r: Any) -> None:
                url = r.request.url
                session.requests.append(url)
                if _is_loopback(url):
                    r.continue_()
                else:
                    session.external_requests.append(url)
                    r.abort()

            context.route("**/*", route)
            yield session
        finally:
            browser.close()
