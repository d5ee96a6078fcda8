"""Real-browser fixtures: Debian's Chromium driven by Playwright, a page origin and a `footfall serve`.

The page is served from http://127.0.0.1:<port> and Footfall listens on http://localhost:<other port>:
two origins, so every SDK request is cross-origin, as on a real site. The SDK bundle is built by
`make browser-deps` (npm ci + esbuild from the committed lock file); these tests never download a browser.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.api.server import free_port

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).parent
SDK_DIR = HERE / "sdk"
BUNDLE = SDK_DIR / "dist" / "sdks.js"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _ensure_bundle() -> None:
    """The SDK bundle, built from the lock file if `make browser-deps` has not run."""
    if BUNDLE.exists():
        return
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: run `make browser-deps`")
    if not (SDK_DIR / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=SDK_DIR, check=True, capture_output=True)
    subprocess.run(["npm", "run", "bundle"], cwd=SDK_DIR, check=True, capture_output=True)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture(scope="session")
def shop_site(tmp_path_factory) -> Iterator[str]:
    """The test shop's origin: page.html, elsewhere.html and the SDK bundle on 127.0.0.1."""
    _ensure_bundle()
    root = tmp_path_factory.mktemp("shop")
    for name in ("page.html", "elsewhere.html"):
        shutil.copy(HERE / name, root / name)
    shutil.copy(BUNDLE, root / "sdks.js")
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def chromium():
    """Debian's Chromium under Playwright, with an empty profile and no background networking.

    Per test, not per session: Playwright's sync API keeps an asyncio loop running in the thread
    while it is started, which would break every later test of the worker that calls `asyncio.run`.
    """
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: run `make browser-deps` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright starts it with a new, empty --user-data-dir of its own (it refuses one in `args`).
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
