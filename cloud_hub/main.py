"""``storelink-hub``: run one hub process (HTTP API + MQTT link) until SIGINT/SIGTERM, or
manage the HQ dashboard's users::

    storelink-hub [--port N] ...                      run the hub
    storelink-hub user add --name alice --role operator   (password from stdin or a prompt)
    storelink-hub user remove --name alice


Settings come from ``STORELINK_HUB_*`` environment variables; a few flags override them for
convenience. uvicorn handles the signals and runs the app's lifespan shutdown, which publishes
the hub's offline state before disconnecting.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import logging
import sys
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from cloud_hub import users
from cloud_hub.app import create_app
from cloud_hub.db import create_schema, make_engine
from cloud_hub.service import HubService
from cloud_hub.settings import HubSettings
from storelink_contract.common import utcnow

log = logging.getLogger("cloud_hub")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="storelink-hub", description="Run the StoreLink hub (STORELINK_HUB_* env vars)."
    )
    parser.add_argument(
        "--database-url", help="e.g. sqlite:///var/hub/hub.db or postgresql+psycopg://user@host/db"
    )
    parser.add_argument("--broker-url", help="e.g. mqtt://127.0.0.1:1883")
    parser.add_argument("--host", help="HTTP listen address")
    parser.add_argument("--port", type=int, help="HTTP port")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    return parser.parse_args(argv)


GRACEFUL_SHUTDOWN_S = 5


class _Server(uvicorn.Server):
    """uvicorn waits for open responses before the app's shutdown runs, and an open dashboard
    is a response that never ends by itself: the signal tells the live streams to end first."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        service = getattr(self._app.state, "hub", None)
        if isinstance(service, HubService):
            service.stopping.set()
        super().handle_exit(sig, frame)


def _users(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="storelink-hub user")
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="add a user, or reset their role and password")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=list(users.ROLES))
    remove = sub.add_parser("remove", help="remove a user and end their sessions")
    remove.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    try:
        settings = HubSettings()
    except ValidationError as exc:
        print(f"storelink-hub: bad settings:\n{exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        with engine.begin() as conn:
            if args.action == "remove":
                if not users.remove_user(conn, args.name):
                    print(f"no user {args.name}", file=sys.stderr)
                    return 1
                return 0
            if sys.stdin.isatty():
                password = getpass.getpass(f"password for {args.name}: ")
            else:
                password = sys.stdin.readline().rstrip("\n")
            try:
                users.add_user(conn, args.name, args.role, password, utcnow())
            except ValueError as exc:
                print(f"storelink-hub: {exc}", file=sys.stderr)
                return 2
    finally:
        engine.dispose()
    print(f"{args.name} can sign in as {args.role}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["user"]:
        return _users(argv[1:])
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run is noise
    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "database_url": args.database_url,
            "broker_url": args.broker_url,
            "http_host": args.host,
            "http_port": args.port,
        }.items()
        if value is not None
    }
    try:
        settings = HubSettings(**overrides)
    except ValidationError as exc:
        print(f"storelink-hub: bad settings:\n{exc}", file=sys.stderr)
        return 2
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    has_httptools = importlib.util.find_spec("httptools") is not None
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        workers=1,
        access_log=False,
        loop="uvloop" if has_uvloop else "asyncio",
        http="httptools" if has_httptools else "h11",
        log_config=None,
        log_level=args.log_level,
        # A backstop: streams end on the signal already (``_Server``), anything else still
        # open after this is closed, so the hub always stops and says it is offline.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    _Server(config, app).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
