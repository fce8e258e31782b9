"""``storelink-agent``: run a store agent, or manage its device tokens.

    storelink-agent run [--store-id S] [--data-dir D] [--broker-url U] [--port N]
    storelink-agent token add --device till-1 --role pos
    storelink-agent token revoke --device till-1
    storelink-agent stream rebase --after N     (agent stopped; N from the hub's alert)

Settings come from ``STORELINK_AGENT_*`` environment variables; flags override them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pydantic import ValidationError

from edge_agent import auth, outbox
from edge_agent.db import DatabaseInUse, StoreDB
from edge_agent.device_config import BadDeviceConfig
from edge_agent.settings import AgentSettings
from storelink_contract.common import utcnow

log = logging.getLogger("edge_agent")

_FLAG_TO_ENV = {
    "store_id": "STORELINK_AGENT_STORE_ID",
    "data_dir": "STORELINK_AGENT_DATA_DIR",
    "broker_url": "STORELINK_AGENT_BROKER_URL",
    "port": "STORELINK_AGENT_HTTP_PORT",
    "host": "STORELINK_AGENT_HTTP_HOST",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storelink-agent", description=__doc__.split("\n")[0])
    for flag in ("--store-id", "--data-dir", "--broker-url", "--port", "--host"):
        parser.add_argument(flag)
    parser.add_argument("--log-level", default=os.environ.get("STORELINK_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the agent and its HTTP API (the default)")
    token = sub.add_parser("token", help="manage device tokens").add_subparsers(
        dest="action", required=True
    )
    add = token.add_parser("add", help="issue a token for a device (printed once)")
    add.add_argument("--device", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in auth.Role])
    revoke = token.add_parser("revoke", help="revoke a device's token")
    revoke.add_argument("--device", required=True)
    stream = sub.add_parser("stream", help="repair the event stream").add_subparsers(
        dest="action", required=True
    )
    rebase = stream.add_parser(
        "rebase",
        help="renumber unsent events after the hub's position (after this database was "
        "wiped or restored; the hub's stream-conflict alert gives N)",
    )
    rebase.add_argument("--after", type=int, required=True, metavar="N")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run is noise
    for flag, env in _FLAG_TO_ENV.items():
        value = getattr(args, flag)
        if value is not None:
            os.environ[env] = str(value)
    try:
        settings = AgentSettings()  # store_id and the rest come from the environment
        settings.check_production()
    except (ValidationError, ValueError) as exc:
        print(f"storelink-agent: bad settings: {exc}", file=sys.stderr)
        return 2
    if args.command == "token":
        return _tokens(settings, args)
    if args.command == "stream":
        return _rebase(settings, args.after)
    return _run(settings)


def _tokens(settings: AgentSettings, args: argparse.Namespace) -> int:
    db = StoreDB(settings.database_path)
    try:
        with db.write() as conn:
            if args.action == "add":
                print(auth.issue_token(conn, args.device, auth.Role(args.role), utcnow()))
                return 0
            if auth.revoke(conn, args.device, utcnow()):
                return 0
            print(f"no active token for device {args.device}", file=sys.stderr)
            return 1
    finally:
        db.close()


def _rebase(settings: AgentSettings, after: int) -> int:
    if after < 0:
        print("--after must be >= 0", file=sys.stderr)
        return 2
    db = StoreDB(settings.database_path)
    try:
        with db.exclusive(), db.write() as conn:
            moved = outbox.rebase(conn, after)
    except DatabaseInUse as exc:
        print(f"{exc}: stop the agent first", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(f"{moved} unsent events now follow sequence {after}; start the agent to send them")
    return 0


def _run(settings: AgentSettings) -> int:
    import uvicorn

    from edge_agent.api.app import create_app
    from edge_agent.service import StoreAgent

    try:
        agent = StoreAgent(settings)  # reads and validates the devices file
    except BadDeviceConfig as exc:
        print(f"storelink-agent: {exc}", file=sys.stderr)
        return 2
    app = create_app(agent)
    log.info(
        "store %s ready: http://%s:%d/docs",
        settings.store_id,
        settings.http_host,
        settings.http_port,
    )
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
