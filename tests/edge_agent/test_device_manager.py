"""The device manager with real device clients: a camera on a real video file, a missing port.

No broker is involved: a store's devices work whether or not the hub is reachable.
"""

from __future__ import annotations

import time
from pathlib import Path

from edge_agent import catalog
from edge_agent.db import StoreDB
from edge_agent.device_actions import DeviceActions
from edge_agent.device_config import CameraConfig, ScannerConfig
from edge_agent.device_manager import DeviceManager
from edge_agent.policy import FulfilmentPolicy
from edge_agent.stock import lookup
from storelink_contract.common import Product
from tests.devices.camera.images import blank, frame, linear_code, write_video

from .conftest import NOW


def wait_until(probe: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_camera_at_receiving_adds_one_unit_per_product_shown(db: StoreDB, tmp_path: Path) -> None:
    with db.write() as conn:
        catalog.upsert(
            conn, [Product(sku="MUG-1", gtin="4006381333931", name="Mug", price_cents=450)], NOW
        )
    ean = linear_code("4006381333931")
    # 1 s of the product in view (10 frames, one unit: debounced), then nothing.
    video = write_video(
        tmp_path / "dock.avi",
        [frame(ean, seed=n) for n in range(10)] + [blank(n) for n in range(5)],
    )
    config = CameraConfig(
        kind="camera", device_id="dock-cam", source=str(video), role="receiving", debounce_s=5.0
    )
    manager = DeviceManager(
        [config], DeviceActions(db, FulfilmentPolicy(store_id="store-a"), [config])
    )
    manager.start()
    try:
        wait_until(
            lambda: (
                lookup(db.read(), "store-a", "MUG-1", NOW) is not None
                and lookup(db.read(), "store-a", "MUG-1", NOW).here.on_hand >= 1
            )
        )
        time.sleep(1.0)  # the rest of the video: still one unit
        assert lookup(db.read(), "store-a", "MUG-1", NOW).here.on_hand == 1
        (health,) = manager.health()
        assert health.kind == "camera"
        assert health.last_frame_at is not None
    finally:
        manager.stop()


def test_a_device_that_is_not_there_is_reported_down_and_retried(
    db: StoreDB, tmp_path: Path
) -> None:
    config = ScannerConfig(
        kind="scanner", device_id="ghost", url=str(tmp_path / "ttyNONE"), role="receiving"
    )
    manager = DeviceManager(
        [config],
        DeviceActions(db, FulfilmentPolicy(store_id="store-a"), [config]),
        backoff_min_s=0.05,
        backoff_max_s=0.2,
    )
    manager.start()
    try:
        wait_until(lambda: manager.slots[0].last_error != "")
        time.sleep(0.5)
        slot = manager.slots[0]
        assert not slot.connected
        assert "ttyNONE" in slot.last_error
        assert manager.health()[0].connected is False
    finally:
        manager.stop()
