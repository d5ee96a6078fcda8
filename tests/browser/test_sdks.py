"""Segment analytics.js, RudderStack JS v3 and Jitsu, loaded unchanged from npm in a real Chromium,
deliver every call exactly once to a real `footfall serve` on another origin (and, for the SDKs with
a retry queue, across a collector outage)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import orjson
import pytest

from footfall.ingest.loader import load_spool
from footfall.keys import create_write_key
from footfall.lake import Lake
from tests.api.server import Server, free_port

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

TRAITS = {"email": "zoë@example.com", "first_name": "Zoë", "plan": {"tier": "gold", "since": 2021}}
PROPERTIES = {"sku": "BOTTE-42", "name": "Bottes en cuir — 高級", "price": 129.5, "variant": {"size": {"eu": 42}},
              "tags": ["cuir", "hiver"]}
# Each SDK's calls on the first page: (call, arguments); alias only where the SDK has it.
FIRST_PAGE = [("identify", ["cust-1", TRAITS]), ("track", ["Product Viewed", PROPERTIES]),
              ("page", ["Bottes", {}]), ("group", ["acme", {"name": "Acme"}]), ("alias", ["cust-1", "legacy-9"])]


def _page_url(site: str, sdk: str, collector: str, key: str) -> str:
    query = {"sdk": sdk, "host": collector, "key": key, "utm_campaign": "spring", "utm_source": "newsletter"}
    return f"{site}/page.html?{urlencode(query)}"


def _run_calls(page, calls, wait: bool) -> None:
    """Make the calls in the page; `wait`: until each SDK promise settles (delivered or queued)."""
    page.evaluate("""async ([calls, wait]) => {
        const sdk = await window.footfall;
        const sent = calls.filter(([call]) => sdk[call]).map(([call, args]) => sdk[call](...args));
        if (wait) await Promise.allSettled(sent);
    }""", [calls, wait])


def _stored(project, expected: int, timeout_s: float = 30.0) -> list[dict]:
    """The lake's events once `expected` have arrived (or what is there at the timeout)."""
    deadline = time.monotonic() + timeout_s
    rows: list[dict] = []
    while time.monotonic() < deadline:
        load_spool(project)
        if (project.lake_dir / "events").exists():
            rows = Lake(project.lake_dir).read("events").to_pylist()
            if len(rows) >= expected:
                time.sleep(1.0)  # a late duplicate would show up now
                load_spool(project)
                return Lake(project.lake_dir).read("events").to_pylist()
        time.sleep(0.3)
    return rows


def _expected_calls(sdk: str) -> list[str]:
    return [call for call, _ in FIRST_PAGE if not (sdk == "jitsu" and call == "alias")] + ["track"]


def _check_events(rows: list[dict], sdk: str) -> None:
    kinds = sorted(row["type"] for row in rows)
    assert kinds == sorted(_expected_calls(sdk)), [(r["type"], r["event"]) for r in rows]
    assert len({row["message_id"] for row in rows}) == len(rows)
    by_event = {(row["type"], row["event"]): row for row in rows}
    viewed = by_event[("track", "Product Viewed")]
    assert orjson.loads(viewed["properties"]) == PROPERTIES
    assert viewed["channel"] == "web" and viewed["source"] == "web"
    assert viewed["page_path"] == "/page.html" and viewed["utm_campaign"] == "spring"
    assert viewed["page_title"] == "Footfall test shop — Bottes"
    identify = next(row for row in rows if row["type"] == "identify")
    assert (identify["user_id"], identify["email"]) == ("cust-1", "zoë@example.com")
    assert next(row for row in rows if row["type"] == "group")["group_id"] == "acme"
    if sdk != "jitsu":
        alias = next(row for row in rows if row["type"] == "alias")
        assert alias["user_id"] == "cust-1"
    assert ("track", "Came Back") in by_event
    # one browser, one anonymous id: kept in the SDK's storage across page loads
    assert len({row["anonymous_id"] for row in rows}) == 1 and rows[0]["anonymous_id"]


@pytest.mark.parametrize("sdk", ["segment", "rudder", "jitsu"])
def test_sdk_delivers_every_call_once_across_page_loads(sdk, project, chromium, shop_site):
    key = create_write_key(project, "web", [shop_site])[1]
    server = Server(project.root).start()
    collector = f"http://localhost:{server.port}"
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(_page_url(shop_site, sdk, collector, key))
        _run_calls(page, FIRST_PAGE, wait=True)
        if sdk == "rudder":
            _stored(project, len(FIRST_PAGE))  # its XHR queue sends after the calls return
        page.goto(f"{shop_site}/elsewhere.html")
        page.goto(_page_url(shop_site, sdk, collector, key))
        _run_calls(page, [("track", ["Came Back", {"visit": 2}])], wait=True)
        rows = _stored(project, len(_expected_calls(sdk)))
    finally:
        context.close()
        server.stop()
    _check_events(rows, sdk)


@pytest.mark.parametrize("sdk", ["segment", "rudder"])
def test_events_sent_while_footfall_is_down_arrive_once_after_restart(sdk, project, chromium, shop_site):
    key = create_write_key(project, "web", [shop_site])[1]
    port = free_port()
    collector = f"http://localhost:{port}"
    server = Server(project.root, port=port).start()
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(_page_url(shop_site, sdk, collector, key))
        page.evaluate("async () => { await window.footfall; }")  # settings / sourceConfig fetched
        server.stop()
        _run_calls(page, FIRST_PAGE, wait=False)  # every send fails: the SDK queues them
        page.wait_for_timeout(3000)
        page.goto(f"{shop_site}/elsewhere.html")
        server = Server(project.root, port=port).start()
        page.goto(_page_url(shop_site, sdk, collector, key))
        _run_calls(page, [("track", ["Came Back", {"visit": 2}])], wait=True)
        rows = _stored(project, len(_expected_calls(sdk)), timeout_s=60)
    finally:
        context.close()
        server.stop()
    _check_events(rows, sdk)
