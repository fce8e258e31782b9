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
    page.wait_for_url("**/login")  # the dashboard page itself needs a sign-in
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
    demo.stores["store-002"].stop()  # its agent stops: the hub marks it offline, live
    page.wait_for_selector(f"{row}.offline", timeout=30_000)
    assert page.locator('tr[data-store="store-002"]').get_attribute("class") == "trouble"
    assert page.locator("#stores tbody tr").first.get_attribute("data-store") == "store-002"
    screenshot(page, "hq-dashboard-store-offline")
    restarted = demo.stores["store-002"].start()
    assert restarted.proc is not None
    owned_by_wide_fixtures.add(restarted.proc.pid)  # the demo's again, stopped with it
    page.wait_for_selector(f"{row}.online", timeout=30_000)


def test_a_sale_moves_the_stock_chart(demo: Demo, page: Any) -> None:
    sign_in(page, demo)
    page.select_option("#sku", "MUG-1")
    bar = 'rect[data-store="store-001"][data-series="on hand"]'
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


def test_the_pages_ship_everything_they_need(demo: Demo) -> None:
    """No asset of any page points at another host (the guard above proves it for the pages
    the tests opened; this covers every file)."""
    remote = re.compile(
        r"""(?:src|href)\s*=\s*["']https?://|url\(\s*["']?https?://|import\s.*https?://"""
    )
    files = [*ROOT.glob("cloud_hub/web/**/*.*"), *ROOT.glob("edge_agent/web/**/*.*")]
    assert files
    offenders = [
        str(f)
        for f in files
        if f.suffix in (".html", ".js", ".css") and remote.search(f.read_text())
    ]
    assert offenders == []
    for path in ("/login", "/assets/dashboard.js", "/assets/charts.js", "/assets/hq.css"):
        r = httpx.get(f"{hub(demo)}{path}")
        assert r.status_code == 200, path
    r = httpx.get(f"{hub(demo)}/login")
    assert "default-src 'self'" in r.headers["content-security-policy"]


def _notes(demo: Demo) -> list[dict[str, Any]]:
    import json

    path = demo.notifications_file
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
