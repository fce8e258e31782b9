"""Store devices end to end: simulated hardware on real ptys, the agent as its own process.

The agent process opens the simulators' pty paths exactly as it would open /dev/ttyACM0, so
everything between the wire and the hub is the production path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.locker.simulator import LockerBoardSimulator
from devices.scanner.simulator import ScannerSimulator
from tests.e2e.chain import KIOSK_TOKEN, Chain, Service, wait_for
from tests.e2e.test_sync import CATALOG, catalog_arrived, converged


@pytest.fixture
def hardware(tmp_path: Path) -> Iterator[dict[str, Any]]:
    receiving = ScannerSimulator(link=tmp_path / "ttyRCV")
    kiosk = ScannerSimulator(suffix=b"\r\n", link=tmp_path / "ttyKIOSK")
    board = LockerBoardSimulator()
    devices = [
        {
            "kind": "scanner",
            "device_id": "rcv-1",
            "url": receiving.path,
            "role": "receiving",
            "repeat_window_s": 0.3,
        },
        {
            "kind": "scanner",
            "device_id": "kiosk-1-scan",
            "url": kiosk.path,
            "role": "kiosk",
            "suffix": "\r\n",
        },
        {
            "kind": "locker_board",
            "device_id": "bank-a",
            "url": board.path,
            "board": 0,
            "poll_interval_s": 0.5,
        },
    ]
    devices_file = tmp_path / "devices.json"
    devices_file.write_text(json.dumps(devices))
    try:
        yield {"file": devices_file, "receiving": receiving, "kiosk": kiosk, "board": board}
    finally:
        receiving.close()
        kiosk.close()
        board.close()


def device(store: Service, device_id: str) -> dict[str, Any]:
    views = store.get("/v1/devices")
    return next(v for v in views if v["health"]["device_id"] == device_id)


def test_scans_at_receiving_and_kiosk_and_device_health(
    chain: Chain, hardware: dict[str, Any]
) -> None:
    chain.start_hub()
    a = chain.start_store("store-a", devices_file=str(hardware["file"]))
    chain.push_catalog(CATALOG)
    wait_for("the catalog at store-a", lambda: catalog_arrived(a))
    for device_id in ("rcv-1", "kiosk-1-scan", "bank-a"):
        wait_for(f"{device_id} connected", lambda d=device_id: device(a, d)["health"]["connected"])

    receiving: ScannerSimulator = hardware["receiving"]
    for _ in range(3):
        assert receiving.scan("4006381333931")  # three mugs off the delivery, one scan each
        time.sleep(0.5)  # beyond the repeat window: each scan is a unit
    assert receiving.scan("4006381333931")
    assert receiving.scan("4006381333931")  # a double trigger: the same unit twice at once
    time.sleep(0.5)
    assert receiving.scan("4006381333930")  # a misread: bad check digit
    received = wait_for(
        "4 mugs received at store-a (3 scans and one double trigger)",
        lambda: converged(chain, "store-a") == {"MUG-1": 4} or None,
        30,
    )
    assert received
    assert device(a, "rcv-1")["health"]["errors"] >= 1  # the misread was rejected and counted

    kiosk: ScannerSimulator = hardware["kiosk"]
    assert kiosk.scan("4006381333931")
    lookup = wait_for(
        "the kiosk scan's lookup",
        lambda: a.get("/v1/devices/kiosk-1-scan/last-lookup", KIOSK_TOKEN),
    )
    assert lookup["sku"] == "MUG-1"
    assert lookup["here"]["on_hand"] == 4

    def hub_sees_devices() -> dict[str, Any] | None:
        fleet = chain.hub.get("/v1/stores/store-a")  # type: ignore[union-attr]
        health = {d["device_id"]: d for d in fleet["devices"]}
        return health if len(health) == 3 and health["rcv-1"]["errors"] >= 1 else None

    health = wait_for("device health in the store's status at the hub", hub_sees_devices)
    assert health["bank-a"]["kind"] == "locker_board"
    assert health["bank-a"]["connected"]

    receiving.unplug()  # the scanner's cable is pulled: reported, then recovered
    wait_for("rcv-1 to be reported down", lambda: not device(a, "rcv-1")["health"]["connected"])
    receiving.replug()
    wait_for("rcv-1 back", lambda: device(a, "rcv-1")["health"]["connected"], 60)
    log = (chain.workdir / "store-a.log").read_text()
    assert log.count("device rcv-1 (scanner) unavailable") == 1  # logged once, not per retry


def test_an_rfid_count_of_a_shelf_with_missing_items_adjusts_the_ledger_and_the_hub(
    chain: Chain, tmp_path: Path
) -> None:
    from devices.rfid.epc import encode_sgtin96
    from devices.rfid.simulator import ChafonSimulator

    mug_gtin_prefix, mug_item = "0614141", "812345"  # GTIN 80614141123458 (GS1 TDS example)
    shelf = [encode_sgtin96(mug_gtin_prefix, mug_item, serial) for serial in range(1, 6)]
    reader = ChafonSimulator(shelf).start()
    devices_file = tmp_path / "rfid.json"
    devices_file.write_text(
        json.dumps(
            [
                {
                    "kind": "rfid_serial",
                    "device_id": "floor-reader",
                    "url": reader.path,
                    "antennas": {"1": "sales_floor"},
                },
            ]
        )
    )
    try:
        chain.start_hub()
        a = chain.start_store("store-a", devices_file=str(devices_file))
        chain.push_catalog(
            [{"sku": "TAG-MUG", "gtin": "80614141123458", "name": "Tagged mug", "price_cents": 500}]
        )
        wait_for("the catalog", lambda: a.get("/v1/stock/TAG-MUG", KIOSK_TOKEN)["name"])
        with a.client() as staff:
            staff.post(
                "/v1/receipts",
                json={"receipt_id": "books", "lines": [{"sku": "TAG-MUG", "quantity": 7}]},
            ).raise_for_status()
        wait_for(
            "5 tagged mugs present",
            lambda: a.get("/v1/rfid/presence")["by_sku"].get("TAG-MUG") == 5,
        )

        def count_accepted() -> Any:
            with a.client() as staff:
                r = staff.post(
                    "/v1/rfid/counts", json={"count_id": "floor-2026-11-23", "skus": ["TAG-MUG"]}
                )
            assert r.status_code in (201, 409), r.text  # 409: the reader is still warming up
            return r if r.status_code == 201 else None

        count = wait_for("the count to be accepted", count_accepted, 40)
        assert count.status_code == 201, count.text
        assert [(d["sku"], d["delta"], d["reason"]) for d in count.json()["deltas"]] == [
            ("TAG-MUG", -2, "count")
        ]
        wait_for(
            "the count to reach the hub", lambda: chain.hub_on_hand("store-a") == {"TAG-MUG": 5}
        )
        presence = a.get("/v1/rfid/presence")
        assert presence["duplicates_dropped"] > 0  # repeated inventory rounds, deduplicated
    finally:
        reader.stop()
