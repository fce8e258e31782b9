"""What the agent serves the store's pages: their headers, who the device is, and the locker
camera's answers numbered so the locker screen shows each one once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient

from edge_agent.device_config import CameraConfig
from edge_agent.device_manager import DeviceSlot
from edge_agent.service import StoreAgent
from tests.edge_agent.conftest import auth


def test_pages_and_their_assets_carry_the_security_headers(api: TestClient) -> None:
    for path in ("/kiosk", "/locker", "/staff"):
        r = api.get(path)
        assert r.status_code == 200, path
        assert "default-src 'self'" in r.headers["content-security-policy"], path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["cache-control"] == "no-store", path  # not kept on a shared kiosk
    for name in ("store.js", "kiosk.js", "locker.js", "staff.js", "store.css"):
        r = api.get(f"/assets/{name}")
        assert r.status_code == 200, name
        assert r.headers["x-content-type-options"] == "nosniff", name
        assert "default-src 'self'" in r.headers["content-security-policy"], name


def test_me_names_the_store_once_the_directory_has_it(api: TestClient, agent: StoreAgent) -> None:
    me = api.get("/v1/me", headers=auth("kiosk")).json()
    assert me == {
        "device_id": "kiosk-1",
        "role": "kiosk",
        "store_id": "store-a",
        "store_name": None,
    }
    with agent.db.write() as conn:
        conn.execute(
            "INSERT INTO peer_store (store_id, name, lat, lon) VALUES ('store-a', 'Mitte', 0, 0)"
        )
    assert api.get("/v1/me", headers=auth("kiosk")).json()["store_name"] == "Mitte"


def test_each_locker_camera_answer_is_numbered_and_aged(api: TestClient, agent: StoreAgent) -> None:
    config = CameraConfig(kind="camera", device_id="locker-cam", source=0, role="locker_bank")
    source: Any = None  # never started: the answers are handed to the actions directly
    slot = DeviceSlot(config, source)
    agent.devices.slots.append(slot)
    url = "/v1/devices/locker-cam/last-pickup"
    assert api.get(url, headers=auth("staff")).status_code == 404  # nothing shown yet

    agent.device_actions(slot, [SimpleNamespace(data="SLP1:store-a:not-a-real-code-000000")])
    first = api.get(url, headers=auth("staff")).json()
    assert first["opened"] is False
    assert first["message"]
    assert 0 <= first["age_s"] < 5
    assert "recorded_at" not in first  # the agent's own clock stays inside

    agent.device_actions(slot, [SimpleNamespace(data="SLP1:store-a:another-wrong-code-0000")])
    second = api.get(url, headers=auth("staff")).json()
    assert second["seq"] > first["seq"]  # a new answer: the screen shows it
    assert api.get(url, headers=auth("staff")).json()["seq"] == second["seq"]  # shown once
