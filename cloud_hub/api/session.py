"""Dashboard sign-in: ``POST /v1/session`` sets the session cookie, ``DELETE`` ends it.

The cookie is HttpOnly (scripts cannot read it), SameSite=Strict (other sites cannot send it)
and Secure outside development. The answer carries the session's CSRF token, which the
dashboard sends as ``X-CSRF-Token`` with every change it asks for.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from cloud_hub import users
from cloud_hub.api.deps import SESSION_COOKIE, HQUser, Now, ServiceDep, WriteConn
from cloud_hub.users import Role

router = APIRouter(prefix="/v1/session", tags=["session"])


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    username: str
    role: Role
    csrf_token: str | None


@router.post(
    "",
    responses={
        401: {"description": "Refused: the reason, safe to show"},
        429: {"description": "Too many failed sign-ins from this address; see Retry-After"},
    },
)
def sign_in(
    body: SignIn, request: Request, service: ServiceDep, now: Now, response: Response
) -> SessionOut:
    ttl = timedelta(seconds=service.settings.session_ttl_s)
    address = request.client.host if request.client else "unknown"
    throttle = service.sign_in_throttle
    wait = throttle.retry_after(address, now)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed sign-ins from this address: try again in {wait:.0f} s",
            headers={"Retry-After": f"{wait:.0f}"},
        )
    try:
        token, who = users.sign_in(service.engine, body.username, body.password, now, ttl)
    except users.SignInRefused as exc:
        throttle.failed(address, now)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    earlier = request.cookies.get(SESSION_COOKIE)
    if earlier:  # signing in again ends the session this browser had
        with service.engine.begin() as conn:
            users.sign_out(conn, earlier)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=service.settings.environment != "development",
        path="/",
    )
    return SessionOut(username=who.username, role=who.role, csrf_token=who.csrf_token)


@router.get("")
def who_am_i(user: HQUser) -> SessionOut:
    return SessionOut(username=user.name, role=user.role, csrf_token=user.csrf_token)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(request: Request, conn: WriteConn, response: Response) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        users.sign_out(conn, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not signed in")
