"""The locker camera: a customer shows the pickup QR and the right door opens.

A real video file of the QR on a phone screen goes through OpenCV's QR detector, the device
manager hands the read to the locker desk, and the simulated board (real pty) opens the door.
"""

from __future__ import annotations

import time
from pathlib import Path

from edge_agent import fulfilment, picking
from edge_agent.db import StoreDB
from edge_agent.device_actions import DeviceActions
from edge_agent.device_config import CameraConfig
from edge_agent.device_manager import DeviceManager
from tests.devices.camera.images import blank, frame, qr_code, write_video
from tests.edge_agent.fulfilment_helpers import open_shop

DOOR_M = 2


def test_showing_the_qr_to_the_locker_camera_opens_the_door_once(
    db: StoreDB, tmp_path: Path
) -> None:
    shop = open_shop(db)
    try:
        shop.allocate("W3001", {"MUG-1": 1})
        qr = shop.pickup("W3001").qr
        with shop.db.write() as conn:
            picking.pick(conn, "W3001", "MUG-1", 1, shop.clock.now)
            load_code = picking.pack(conn, shop.policy, "W3001", "M", shop.clock.now).load_code
        assert load_code is not None
        shop.desk.enter_code("locker-1", load_code)
        shop.sim.put_item(DOOR_M)
        shop.sim.close_door(DOOR_M)
        shop.poll()
        assert fulfilment.latest(shop.db.read(), "W3001").status == "ready"

        # Three seconds of the phone in front of the camera, longer than its debounce.
        video = write_video(
            tmp_path / "locker-cam.avi",
            [blank(n) for n in range(3)] + [frame(qr_code(qr), seed=n) for n in range(30)],
        )
        config = CameraConfig(
            kind="camera",
            device_id="locker-cam",
            source=str(video),
            role="locker_bank",
            debounce_s=0.5,
        )
        actions = DeviceActions(db, shop.policy, [config])
        actions.desk = shop.desk
        manager = DeviceManager([config], actions, backoff_min_s=0.05, backoff_max_s=0.2)
        manager.start()
        try:
            deadline = time.monotonic() + 30
            while fulfilment.latest(db.read(), "W3001").status != "collected":
                assert time.monotonic() < deadline, "the QR never opened the door"
                time.sleep(0.05)
            time.sleep(1.0)  # the QR stays in view: nothing more may happen
            slot = manager.slot("locker-cam")
            assert slot is not None
            last = slot.extra["last_pickup"]
        finally:
            manager.stop()
        assert last["opened"]
        assert last["door"] == "bank-a door 3"
        assert shop.sim.unlock_count(DOOR_M) == 2  # loading, and the customer's one pickup
        assert "last_scan" not in slot.extra  # a pickup QR is a secret: not on the device view
        limits = shop.db.read().execute("SELECT count(*) FROM attempt_limit").fetchone()[0]
        assert limits == 0  # the QR held in view was not counted as wrong codes
    finally:
        shop.board.close()
        shop.sim.close()
