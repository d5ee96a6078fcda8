"""How the events leave the browser, beyond each SDK's default: RudderStack's beacon mode
(`navigator.sendBeacon` to `/beacon/v1/batch` when the page is left) and analytics.js sending where
`footfall serve --public-url` tells it to, not where it loaded its settings from."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from footfall.keys import create_write_key
from tests.api.server import Server, free_port
from tests.browser.test_sdks import FIRST_PAGE, _check_events, _expected_calls, _page_url, _run_calls, _stored

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


# Neither Playwright nor the DevTools protocol reports `navigator.sendBeacon` requests, so the page
# notes each beacon's URL in its session storage, which outlives the page that sent it.
RECORD_BEACONS = """
const sendBeacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, data) => {
  const sent = JSON.parse(sessionStorage.getItem("beacons") || "[]");
  sessionStorage.setItem("beacons", JSON.stringify([...sent, String(url)]));
  return sendBeacon(url, data);
};
"""


def _record_requests(page) -> list[tuple[str, str]]:
    """(method, URL) of every request `page` makes but beacons, as Chromium's DevTools protocol reports them."""
    seen: list[tuple[str, str]] = []
    devtools = page.context.new_cdp_session(page)
    devtools.on("Network.requestWillBeSent",
                lambda event: seen.append((event["request"]["method"], event["request"]["url"])))
    devtools.send("Network.enable")
    return seen


def test_rudder_beacon_mode_delivers_every_call_once_through_beacon_batch(project, chromium, shop_site):
    context = chromium.new_context()
    context.add_init_script(RECORD_BEACONS)
    key = create_write_key(project, "web", [shop_site])[1]
    server = Server(project.root).start()
    collector = f"http://localhost:{server.port}"
    try:
        page = context.new_page()
        requests = _record_requests(page)
        page.goto(_page_url(shop_site, "rudder", collector, key) + "&beacon=1")
        _run_calls(page, FIRST_PAGE, wait=True)
        # The beacon queue holds up to 10 events for up to 10 minutes: leaving the page sends them.
        page.goto(f"{shop_site}/elsewhere.html")
        page.goto(_page_url(shop_site, "rudder", collector, key) + "&beacon=1")
        _run_calls(page, [("track", ["Came Back", {"visit": 2}])], wait=True)
        page.goto(f"{shop_site}/elsewhere.html")
        rows = _stored(project, len(_expected_calls("rudder")))
        beacons = page.evaluate("JSON.parse(sessionStorage.getItem('beacons') || '[]')")
    finally:
        context.close()
        server.stop()
    _check_events(rows, "rudder")
    assert beacons == [f"{collector}/beacon/v1/batch?writeKey={key}"] * 2  # one per page left
    assert [url for method, url in requests if method == "POST"] == []  # no XHR to /v1/<call>


def test_analytics_js_sends_events_to_the_public_url_of_its_settings(project, chromium, shop_site):
    key = create_write_key(project, "web", [shop_site])[1]
    port = free_port()
    public_url = f"http://localhost:{port}"
    server = Server(project.root, port=port, serve_args=("--public-url", public_url)).start()
    context = chromium.new_context()
    try:
        page = context.new_page()
        requests = _record_requests(page)
        # The page loads its settings from 127.0.0.1; only the settings can send it to localhost.
        page.goto(_page_url(shop_site, "segment", f"http://127.0.0.1:{port}", key))
        _run_calls(page, FIRST_PAGE, wait=True)
        rows = _stored(project, len(FIRST_PAGE))
    finally:
        context.close()
        server.stop()
    assert sorted(row["type"] for row in rows) == sorted(call for call, _ in FIRST_PAGE)
    assert len({row["message_id"] for row in rows}) == len(rows)
    settings = [url for method, url in requests if method == "GET" and url.endswith(f"/v1/projects/{key}/settings")]
    assert settings == [f"http://127.0.0.1:{port}/v1/projects/{key}/settings"]
    posted = sorted(urlsplit(url).path for method, url in requests if method == "POST")
    assert posted == sorted(["/v1/i", "/v1/t", "/v1/p", "/v1/g", "/v1/a"])
    assert all(url.startswith(f"{public_url}/v1/") for method, url in requests if method == "POST")
