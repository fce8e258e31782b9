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
from starlette.types import Scope

HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)
#: On every page and asset: nothing from other hosts, no frames, no type sniffing (a script
#: is run only when served as one).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


#: The pages themselves are never cached: a shared kiosk must not keep them around, and a
#: new version of a page reaches every device at once.
PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}


class _Assets(StaticFiles):
    """The pages' scripts and styles, with the same security headers as the pages."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def assets() -> StaticFiles:
    return _Assets(directory=HERE / "assets")


def _page(name: str) -> Response:
    return FileResponse(HERE / name, media_type="text/html", headers=PAGE_HEADERS)


@router.get("/kiosk")
def kiosk() -> Response:
    return _page("kiosk.html")


@router.get("/locker")
def locker() -> Response:
    return _page("locker.html")


@router.get("/staff")
def staff() -> Response:
    return _page("staff.html")
