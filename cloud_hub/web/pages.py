"""Serves the dashboard: ``/login``, ``/dashboard`` and the files under ``/assets``.

The dashboard page itself is served only to a signed-in user (anyone else is sent to the
sign-in page); its data comes from the API, which checks the session on every call. Every
asset is served from this package: the pages load nothing from other hosts. Security headers
are added to every answer by ``cloud_hub.web.headers``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cloud_hub import users
from cloud_hub.api.deps import SESSION_COOKIE
from cloud_hub.db import READ_ONLY
from cloud_hub.service import HubService
from storelink_contract.common import utcnow

HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)


def assets() -> StaticFiles:
    return StaticFiles(directory=HERE / "assets")


def _page(name: str) -> Response:
    return FileResponse(HERE / name, media_type="text/html")


def _signed_in(request: Request) -> bool:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    service: HubService = request.app.state.hub
    with service.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        return users.session(conn, token, utcnow()) is not None


def require_signed_in_page(request: Request) -> None:
    """For pages: a browser that is not signed in is sent to sign in, then back here."""
    if not _signed_in(request):
        raise HTTPException(
            status.HTTP_303_SEE_OTHER, headers={"Location": f"/login?next={request.url.path}"}
        )


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/dashboard" if _signed_in(request) else "/login", status_code=303)


@router.get("/login")
def login_page() -> Response:
    return _page("login.html")


@router.get("/dashboard")
def dashboard_page(request: Request) -> Response:
    if not _signed_in(request):
        return RedirectResponse("/login?next=/dashboard", status_code=303)
    return _page("dashboard.html")
