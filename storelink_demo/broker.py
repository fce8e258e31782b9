"""``storelink-broker``: the embedded MQTT broker (amqtt) for machines without Mosquitto.

Used by the local demo and as the test fallback (``storelink_demo.brokers.start_amqtt`` runs
this module as a subprocess). amqtt speaks MQTT 3.1.1 only, keeps retained messages in memory and
publishes a client's will when its connection drops without a DISCONNECT; it is anonymous and has
no ACL, so it is never for production (use Mosquitto or EMQX, see ``deploy/``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger(__name__)

# amqtt logs every connection and packet at INFO; the demo's own logs drown in it otherwise.
_NOISY_LOGGERS = ("amqtt", "transitions")


class StoreLinkBroker(Broker):  # type: ignore[misc]  # amqtt ships no type information
    """amqtt's broker, with retained messages sent only for the client's own subscriptions.

    amqtt 0.12, on every CONNECT, sends the new client the retained messages matching *every*
    topic filter that any client holds (its loop over ``self._subscriptions`` was meant for the
    resumed session's own filters). A store would receive other stores' retained births
    unasked, and a client subscribing to a filter someone else also holds gets each retained
    message twice. Sending only for filters this session holds keeps the SUBSCRIBE path and a
    resumed persistent session working. ``tests/deploy/test_broker_acl.py`` covers it.
    """

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        holders = self._subscriptions.get(subscription[0], ())
        if any(held.client_id == session.client_id for held, _ in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)


def broker_config(host: str, port: int) -> dict[str, Any]:
    """amqtt's configuration: one TCP listener, anonymous, and none of the default plugins that
    log every packet or publish ``$SYS`` topics."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


async def serve(host: str, port: int, stop: asyncio.Event) -> None:
    """Run the broker until ``stop`` is set."""
    broker = StoreLinkBroker(broker_config(host, port))
    await broker.start()
    log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) on mqtt://%s:%d", host, port)
    try:
        await stop.wait()
    finally:
        log.info("embedded MQTT broker stopping")
        await broker.shutdown()


async def _main_async(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(host, port, stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="storelink-broker",
        description="Embedded MQTT 3.1.1 broker (amqtt) for the demo and tests; not production.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=1883, help="TCP port to listen on")
    parser.add_argument("--log-level", default="INFO", help="log level for StoreLink's own logs")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main_async(args.host, args.port))


if __name__ == "__main__":
    main()
