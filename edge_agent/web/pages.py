"""Serves the store's pages: ``/kiosk``, ``/locker``, ``/staff`` and their ``/assets``.

The pages hold no data: each device signs in with its own device token (kept on the device),
and every call the page makes goes to the API with it, where the device's role decides what
it may do. Every asset is served from here: the pages work on a store network with no
internet at all.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def assets() -> StaticFiles:
    return StaticFiles(directory=HERE / "assets")


def _page(name: str) -> Response:
    return FileResponse(HERE / name, media_type="text/html", headers=SECURITY_HEADERS)


@router.get("/kiosk")
def kiosk() -> Response:
    return _page("kiosk.html")


@router.get("/locker")
def locker() -> Response:
    return _page("locker.html")


@router.get("/staff")
def staff() -> Response:
    return _page("staff.html")
