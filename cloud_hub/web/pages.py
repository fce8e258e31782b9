"""Serves the dashboard: ``/login``, ``/dashboard`` and the files under ``/assets``.

The dashboard page itself is served only to a signed-in user (anyone else is sent to the
sign-in page); its data comes from the API, which checks the session on every call. Every
asset is served from this package: the pages load nothing from other hosts.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cloud_hub import users
from cloud_hub.api.deps import SESSION_COOKIE
from cloud_hub.db import READ_ONLY
from cloud_hub.service import HubService
from storelink_contract.common import utcnow

HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)
#: Pages are the app's own: no frames, no scripts or styles from anywhere else.
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


def _signed_in(request: Request) -> bool:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    service: HubService = request.app.state.hub
    with service.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        return users.session(conn, token, utcnow()) is not None


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/dashboard" if _signed_in(request) else "/login", status_code=303)


@router.get("/login")
def login_page() -> Response:
    return _page("login.html")


@router.get("/dashboard")
def dashboard_page(request: Request) -> Response:
    if not _signed_in(request):
        return RedirectResponse("/login", status_code=303)
    return _page("dashboard.html")
