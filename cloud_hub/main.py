"""``storelink-hub``: run one hub process (HTTP API + MQTT link) until SIGINT/SIGTERM.

Settings come from ``STORELINK_HUB_*`` environment variables; a few flags override them for
convenience. uvicorn handles the signals and runs the app's lifespan shutdown, which publishes
the hub's offline state before disconnecting.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError

from cloud_hub.app import create_app
from cloud_hub.settings import HubSettings

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


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        workers=1,
        access_log=False,
        loop="uvloop" if has_uvloop else "asyncio",
        http="httptools" if has_httptools else "h11",
        log_config=None,
        log_level=args.log_level,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
