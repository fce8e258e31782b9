"""The HQ dashboard and the store pages in a real browser (headless Chromium), against the
running demo chain: broker, hub, two stores with their simulated devices.

Every page is opened with requests to other hosts refused and recorded (none may happen), and
a screenshot of each page is saved under ``test-artifacts/pages/``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from storelink_demo.main import Demo
from tests.conftest import owned_by_wide_fixtures
from tests.e2e.browser import OffSiteGuard, browser, screenshot
from tests.e2e.chain import wait_for

ROOT = Path(__file__).resolve().parents[2]
DOOR = 2  # the demo banks' door 3: the first medium compartment


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = Demo(tmp_path_factory.mktemp("demo"), ["store-001", "store-002"])
    try:
        running.start(None)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def chromium(demo: Demo) -> Iterator[Any]:
    with browser() as launched:
        # Playwright starts helper threads on first use: start them here, so they belong to
        # this module-wide fixture and not to the first test.
        context = launched.new_context()
        context.route("**/*", OffSiteGuard())
        warm = context.new_page()
        warm.goto(f"{hub(demo)}/login")
        screenshot(warm, "hq-sign-in-empty")  # file writes start an executor thread
        context.close()
        yield launched


@pytest.fixture
def guard() -> OffSiteGuard:
    return OffSiteGuard()


@pytest.fixture
def page(chromium: Any, guard: OffSiteGuard) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    context.route("**/*", guard)
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    try:
        yield opened
    finally:
        context.close()
        # Playwright's event loop grows its default executor as it needs (screenshots, file
        # writes): those threads are the module-wide browser's, not a leak of this test.
        owned_by_wide_fixtures.update(
            t for t in threading.enumerate() if t.name.startswith("asyncio_")
        )
    assert guard.refused == [], f"pages asked other hosts for {guard.refused}"


def hub(demo: Demo) -> str:
    assert demo.hub is not None
    return demo.hub.url


def sign_in(page: Any, demo: Demo) -> None:
    page.goto(f"{hub(demo)}/login")
    page.fill("#username", demo.hq_user[0])
    page.fill("#password", demo.hq_user[1])
    page.click("#signin-button")
    page.wait_for_url("**/dashboard")
    page.wait_for_selector("#live.ok")


def device_sign_in(page: Any, url: str, token: str) -> None:
    page.goto(url)
    page.fill("#device-token", token)
    page.click("#device-signin button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def staff(demo: Demo, store_id: str) -> httpx.Client:
    return httpx.Client(
        base_url=demo.stores[store_id].url,
        headers={"Authorization": f"Bearer {demo.tokens['staff']}"},
        timeout=10,
    )


def test_nothing_is_readable_without_signing_in(demo: Demo, page: Any) -> None:
    page.goto(f"{hub(demo)}/dashboard")
    # The dashboard page itself needs a sign-in (the hub may add where to go back to).
    page.wait_for_url(re.compile(r"/login(\?|$)"))
    for path in ("/v1/stores", "/v1/dashboard/summary", "/v1/orders", "/v1/alerts"):
        assert httpx.get(f"{hub(demo)}{path}").status_code == 401, path
    page.fill("#username", demo.hq_user[0])
    page.fill("#password", "not the password")
    page.click("#signin-button")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert "wrong user name or password" in page.inner_text("#signin-error")
    screenshot(page, "hq-sign-in")


def test_the_fleet_shows_a_store_going_offline_and_back_live(demo: Demo, page: Any) -> None:
    sign_in(page, demo)
    row = 'tr[data-store="store-002"] td.status'
    page.wait_for_selector(f"{row}.online")
    screenshot(page, "hq-dashboard")
    # The store's staff page stays open while its agent is down: it says so, then recovers.
    store_page = page.context.new_page()
    device_sign_in(store_page, f"{demo.stores['store-002'].url}/staff", demo.tokens["staff"])
    demo.stores["store-002"].stop()  # its agent stops: the hub marks it offline, live
    try:
        page.wait_for_selector(f"{row}.offline", timeout=30_000)
        assert page.locator('tr[data-store="store-002"]').get_attribute("class") == "trouble"
        assert page.locator("#stores tbody tr").first.get_attribute("data-store") == "store-002"
        screenshot(page, "hq-dashboard-store-offline")
        store_page.wait_for_selector("#store-offline:not([hidden])")
        assert "store system not reachable, retrying" in store_page.inner_text("#store-offline")
    finally:
        # Restarted whatever happened above: the later tests need both stores.
        restarted = demo.stores["store-002"].start()
        assert restarted.proc is not None
        owned_by_wide_fixtures.add(restarted.proc.pid)  # the demo's again, stopped with it
    page.wait_for_selector(f"{row}.online", timeout=30_000)
    store_page.wait_for_selector("#store-offline[hidden]", state="attached", timeout=30_000)


def test_a_sale_moves_the_stock_chart(demo: Demo, page: Any) -> None:
    sign_in(page, demo)
    page.select_option("#sku", "MUG-1")
    # The chart of the sku chosen before may still be drawn: wait for MUG-1's own.
    bar = '#stock-chart[data-sku="MUG-1"] rect[data-store="store-001"][data-series="on hand"]'
    page.wait_for_selector(bar)
    before = int(page.get_attribute(bar, "data-value"))
    with httpx.Client(
        base_url=demo.stores["store-001"].url,
        headers={"Authorization": f"Bearer {demo.tokens['pos']}"},
    ) as till:
        r = till.post(
            "/v1/sales",
            json={"sale_id": f"chart-{time.time_ns()}", "lines": [{"sku": "MUG-1", "quantity": 3}]},
        )
        assert r.status_code == 201, r.text
    page.wait_for_selector(f'{bar}[data-value="{before - 3}"]', timeout=30_000)
    screenshot(page, "hq-stock-chart")


def test_the_kiosk_page_finds_a_product_here_and_nearby(demo: Demo, page: Any) -> None:
    device_sign_in(page, f"{demo.stores['store-001'].url}/kiosk", demo.tokens["kiosk"])
    assert "store-001" in page.inner_text("#store-name")
    page.fill("#q", "mug")
    page.click("#search button")
    product = page.locator('article.product[data-sku="MUG-1"]')
    product.wait_for()
    assert "available in this store" in product.locator(".here").inner_text()
    nearby = product.locator('li[data-store="store-002"]')
    nearby.wait_for(timeout=30_000)
    text = nearby.inner_text()
    assert re.search(r"Prenzlauer Berg · \d+(\.\d)? km: \d+ available", text), text
    assert "as of" in text
    screenshot(page, "store-kiosk")
    with httpx.Client(
        base_url=demo.stores["store-001"].url,
        headers={"Authorization": f"Bearer {demo.tokens['kiosk']}"},
    ) as kiosk:
        me = kiosk.get("/v1/me").json()
    assert me["role"] == "kiosk"
    assert me["store_name"] == "Mitte"  # the name the kiosk shows, from the store directory


def test_the_kiosk_page_takes_only_a_kiosk_token(demo: Demo, page: Any) -> None:
    url = f"{demo.stores['store-001'].url}/kiosk"
    stored = "() => Object.keys(localStorage)"
    page.goto(url)
    page.fill("#device-token", demo.tokens["staff"])
    page.click("#device-signin button[type=submit]")
    page.wait_for_selector("#device-error:not([hidden])")
    assert "needs a kiosk device token" in page.inner_text("#device-error")
    assert page.is_hidden("#app")
    assert page.evaluate(stored) == []  # a staff token is never left on a public kiosk
    screenshot(page, "store-kiosk-refuses-staff")

    # One left behind by an earlier version of the page is dropped at the next load.
    page.evaluate(
        "t => localStorage.setItem(`storelink-device-token:${location.pathname}`, t)",
        demo.tokens["staff"],
    )
    page.reload()
    page.wait_for_selector("#device-error:not([hidden])")
    assert page.evaluate(stored) == []

    device_sign_in(page, url, demo.tokens["kiosk"])
    assert page.evaluate(stored) == ["storelink-device-token:/kiosk"]
    # Signed in, but the agent does not answer: the page says so and retries by itself.
    page.route("**/v1/me", lambda route: route.abort())
    page.reload()
    page.wait_for_selector("#store-offline:not([hidden])")
    assert "store system not reachable, retrying" in page.inner_text("#store-offline")
    assert page.is_hidden("#app")
    assert page.is_hidden("#device-signin")
    page.unroute("**/v1/me")
    page.wait_for_selector("#app:not([hidden])")
    assert page.is_hidden("#store-offline")


def test_the_kiosk_orders_for_home_delivery_and_forgets_the_shopper(demo: Demo, page: Any) -> None:
    here, there = demo.stores["store-001"], demo.stores["store-002"]
    with httpx.Client(
        base_url=here.url, headers={"Authorization": f"Bearer {demo.tokens['pos']}"}
    ) as till:
        on_hand = till.get("/v1/stock/BOT-4").json()["here"]["on_hand"]
        r = till.post(  # the bottles sell out here: the kiosk offers them from store-002
            "/v1/sales",
            json={
                "sale_id": f"sellout-{time.time_ns()}",
                "lines": [{"sku": "BOT-4", "quantity": on_hand}],
            },
        )
        assert r.status_code == 201, r.text
    with httpx.Client(
        base_url=here.url, headers={"Authorization": f"Bearer {demo.tokens['kiosk']}"}
    ) as kiosk:
        wait_for(
            "the bottles to be orderable from store-002 only",
            lambda: (
                (found := kiosk.get("/v1/stock/BOT-4").json())["here"]["available"] == 0
                and found["online_available"] > 0
            ),
        )
    page.clock.install()  # the kiosk's idle reset is fast-forwarded below
    device_sign_in(page, f"{here.url}/kiosk", demo.tokens["kiosk"])
    page.fill("#q", "BOT-4")
    page.click("#search button")
    page.click('article.product[data-sku="BOT-4"] button.order-elsewhere')
    page.wait_for_selector("#order-dialog[open]")
    address = "#delivery-address"
    assert page.is_hidden(address)  # collect here: no address asked for
    assert page.input_value("#order-token") == ""  # no made-up payment: the terminal's
    assert page.input_value("#order-last4") == ""
    page.check("input[name=method][value=ship_from_store]")
    page.wait_for_selector(f"{address}:not([hidden])")
    page.check("input[name=method][value=ship_to_store]")
    page.wait_for_selector(address, state="hidden")
    page.check("input[name=method][value=ship_from_store]")
    page.fill("#addr-line1", "Torstraße 1")
    page.fill("#addr-postcode", "10119")
    page.fill("#addr-city", "Berlin")
    page.fill("#addr-country", "de")
    page.fill("#order-name", "Grace Hopper")
    page.fill("#order-email", "grace@example.com")
    assert "12.00" in page.inner_text("#order-total")
    page.fill("#order-token", "123")  # not a reference the terminal prints
    page.fill("#order-last4", "4242")
    page.click("#order-submit")
    page.wait_for_selector("#order-error:not([hidden])")
    assert "approval reference" in page.inner_text("#order-error")
    assert page.is_visible("#order-dialog")  # still open, to correct it
    screenshot(page, "store-kiosk-order")
    page.fill("#order-token", "APPR:483920-01")
    page.click("#order-submit")
    status = page.locator("#order-status[data-status]")
    status.wait_for()
    assert status.get_attribute("data-status") != "refused", status.inner_text()
    order_id = re.search(r"Order (\S+):", status.inner_text()).group(1)  # type: ignore[union-attr]
    assert page.input_value("#order-name") == ""  # the form forgets the shopper at once

    # The store that ships it sees where to, once packed.
    with staff(demo, "store-002") as s:
        wait_for("the order at store-002", lambda: s.get(f"/v1/orders/{order_id}").is_success)
        assert s.post(f"/v1/orders/{order_id}/picking", json={}).is_success
        assert s.post(f"/v1/orders/{order_id}/picks", json={"code": "BOT-4"}).is_success
        packed = s.post(f"/v1/orders/{order_id}/pack", json={"parcel_size": "M"})
        assert packed.is_success, packed.text
    shipping = page.context.new_page()
    device_sign_in(shipping, f"{there.url}/staff", demo.tokens["staff"])
    label = shipping.locator(f'#open-orders div.order[data-order="{order_id}"] address.ship-to')
    label.wait_for()
    text = label.inner_text()
    assert "Torstraße 1" in text
    assert "10119 Berlin" in text
    assert "DE" in text
    shipping.close()

    page.clock.fast_forward(61_000)  # nobody touches the kiosk for a minute
    page.wait_for_selector("#kiosk-order", state="hidden")
    assert page.inner_text("#order-status") == ""
    assert page.locator("#results > *").count() == 0
    assert page.input_value("#q") == ""


def test_staff_pick_and_load_then_the_customer_collects_at_the_locker(
    demo: Demo, page: Any
) -> None:
    store = demo.stores["store-001"]
    with httpx.Client(
        base_url=hub(demo), headers={"Authorization": f"Bearer {demo.web_token}"}
    ) as web:
        r = web.post(
            "/v1/orders",
            json={
                "client_order_id": f"pages-{time.time_ns()}",
                "method": "locker_pickup",
                "store_id": "store-001",
                "lines": [{"sku": "TEE-2", "quantity": 1}],
                "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
                "tenders": [
                    {
                        "kind": "card",
                        "amount_cents": 1500,
                        "processor_token": "tok_visa_4242",
                        "last4": "4242",
                    }
                ],
            },
        )
        assert r.status_code == 201, r.text
        order_id = r.json()["order_id"]
    code = wait_for(
        "the customer's pickup code",
        lambda: next(
            (
                n["pickup"]["code"]
                for n in _notes(demo)
                if n["order_id"] == order_id and n["pickup"]
            ),
            None,
        ),
    )

    device_sign_in(page, f"{store.url}/staff", demo.tokens["staff"])
    page.click(f'div.order[data-order="{order_id}"] button')
    page.fill("#pick-code", "0012345678905")  # the tee's barcode, as the scanner types it
    page.click("#pick-scan button")
    page.wait_for_selector("#pick-message.ok")
    page.click('#pack-buttons button[data-size="M"]')
    page.wait_for_selector("#pack-result:has-text('load code')")
    load_code = re.search(r"load code (\d{8})", page.inner_text("#pack-result")).group(1)  # type: ignore[union-attr]
    screenshot(page, "store-staff")

    device_sign_in(page, f"{store.url}/locker", demo.tokens["locker"])
    for digit in load_code:
        page.click(f'button[data-key="{digit}"]')
    page.click('button[data-key="enter"]')
    page.wait_for_selector("#locker-message.ok")
    locker = demo._devices["store-001"].locker
    assert locker.is_open(DOOR)
    locker.put_item(DOOR)
    locker.close_door(DOOR)  # the door sensor confirms the load
    with staff(demo, "store-001") as s:
        wait_for(
            "the order to be ready",
            lambda: s.get(f"/v1/orders/{order_id}").json()["status"] == "ready",
        )

    for digit in code:
        page.click(f'button[data-key="{digit}"]')
    page.click('button[data-key="enter"]')
    page.wait_for_selector("#locker-message.ok")
    assert page.get_attribute("#locker-message", "data-door") == "locker-bank-a door 3"
    assert "take your order" in page.inner_text("#locker-message")
    screenshot(page, "store-locker")
    locker.remove_item(DOOR)
    locker.close_door(DOOR)


def test_the_staff_page_finds_a_purchase_for_a_return(demo: Demo, page: Any) -> None:
    with httpx.Client(
        base_url=demo.stores["store-002"].url,
        headers={"Authorization": f"Bearer {demo.tokens['pos']}"},
    ) as till:
        sale = till.post(
            "/v1/sales",
            json={
                "sale_id": f"pages-ret-{time.time_ns()}",
                "lines": [{"sku": "CAP-3", "quantity": 1}],
                "tenders": [
                    {
                        "kind": "card",
                        "amount_cents": 900,
                        "processor_token": "tok_mc_5454",
                        "last4": "5454",
                    }
                ],
            },
        ).json()
    device_sign_in(page, f"{demo.stores['store-002'].url}/staff", demo.tokens["staff"])
    page.select_option("#return-by", "receipt")
    page.fill("#return-value", sale["receipt_code"])
    page.click("#return-lookup button")
    found = page.locator("article.purchase").first
    found.wait_for()
    assert "1 \u00d7 Canvas cap" in found.inner_text()
    assert "card ••5454" in found.inner_text()
    assert "tok_mc" not in page.content()  # tokens are never shown


#: What the off-site scan below looks for: a URL to another host in markup, styles or scripts.
REMOTE = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\(\s*)?["']?(?:https?:)?//"""
    r"""|(?:fetch|EventSource|WebSocket)\(\s*["'`](?:https?:|wss?:)?//"""
    r"""|\bimport\b[^;\n]*["'`](?:https?:)?//""",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    "text",
    [
        '<script src="https://cdn.example.com/x.js"></script>',
        "<link href='//fonts.example.com/a.css'>",
        "body { background: url(https://example.com/a.png) }",
        '@import "https://example.com/a.css";',
        "@import url(//example.com/a.css);",
        'await fetch("https://api.example.com/v1")',
        "new EventSource(`https://example.com/stream`)",
        'import { x } from "https://example.com/mod.js";',
    ],
)
def test_the_off_site_scan_catches_absolute_urls(text: str) -> None:
    assert REMOTE.search(text)


def test_the_off_site_scan_lets_own_urls_through() -> None:
    for text in (
        'fetch("/v1/me")',
        'new EventSource("/v1/dashboard/stream")',
        'import { $ } from "/assets/store.js";',
        "url(data:image/png;base64,AAAA)",
        "// a comment: https://example.com explains why",
    ):
        assert not REMOTE.search(text), text


def test_the_pages_ship_everything_they_need(demo: Demo, page: Any) -> None:
    """No asset of any page points at another host (the guard above proves it for the pages
    the tests opened; this covers every file), and every page and script is served with the
    headers that keep it so."""
    files = [*ROOT.glob("cloud_hub/web/**/*.*"), *ROOT.glob("edge_agent/web/**/*.*")]
    assert files
    offenders = [
        str(f)
        for f in files
        if f.suffix in (".html", ".js", ".css") and REMOTE.search(f.read_text())
    ]
    assert offenders == []
    for path in ("/login", "/assets/dashboard.js", "/assets/charts.js", "/assets/hq.css"):
        r = httpx.get(f"{hub(demo)}{path}")
        assert r.status_code == 200, path
        if path.endswith(".js"):
            assert r.headers["x-content-type-options"] == "nosniff", path
    sign_in(page, demo)  # the dashboard is served only with a session
    pages = {
        "/login": httpx.get(f"{hub(demo)}/login").headers,
        "/dashboard": page.request.get(f"{hub(demo)}/dashboard", max_redirects=0).headers,
    }
    store = demo.stores["store-001"].url
    for path in ("/kiosk", "/locker", "/staff"):
        r = httpx.get(f"{store}{path}")
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store", path
        pages[path] = r.headers
    for path, headers in pages.items():
        assert "default-src 'self'" in headers["content-security-policy"], path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff", path
    for name in ("store.js", "kiosk.js", "locker.js", "staff.js", "store.css"):
        r = httpx.get(f"{store}/assets/{name}")
        assert r.status_code == 200, name
        assert r.headers["x-content-type-options"] == "nosniff", name
        assert "default-src 'self'" in r.headers["content-security-policy"], name


def _notes(demo: Demo) -> list[dict[str, Any]]:
    import json

    path = demo.notifications_file
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
