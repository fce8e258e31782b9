"""The hub's one settings class, read from ``STORELINK_HUB_*`` environment variables.

The HQ API token has a development default so a laptop demo works out of the box; outside
development the hub refuses to start with it (or with an empty token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storelink_contract.sealing import public_key

#: Only good for development; ``environment=production`` refuses them.
DEV_SEAL_KEY = "qO4B-O3e8lVhjJCzMLUY0TFkq1i6wYn-Tsia8_u2FlY="
DEV_API_TOKEN = "dev-hq-token"  # noqa: S105 - a documented development default, refused in production


class HubSettings(BaseSettings):
    """Everything one hub process needs to know, with safe local defaults."""

    model_config = SettingsConfigDict(env_prefix="STORELINK_HUB_", extra="ignore")

    database_url: str = "sqlite:///var/hub/hub.db"
    broker_url: str = "mqtt://127.0.0.1:1883"
    broker_username: str | None = "hub"
    broker_password: SecretStr | None = None
    broker_ca_file: str | None = None
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = "auto"
    client_id: str = Field(default="storelink-hub", min_length=1, max_length=64)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8800, ge=0, le=65535)
    api_token: SecretStr = SecretStr(DEV_API_TOKEN)
    environment: Literal["development", "production"] = "development"
    #: How often changed stock is fanned out to the other stores as ``StockView`` commands.
    #: Coalescing over a couple of seconds matters at fleet scale; kiosks show each figure's
    #: age anyway.
    fanout_interval_s: float = Field(default=2.0, gt=0)
    #: Other stores whose figures each store's kiosks list (its nearest, by profile location);
    #: every store still gets the fleet's per-sku total for its "online" figure.
    nearby_stores: int = Field(default=10, ge=1, le=100)
    #: No ack progress for this long with commands in flight: send again from acked + 1.
    ack_timeout_s: float = Field(default=10.0, gt=0)
    #: Commands per MQTT message, and the cap of unacknowledged commands per store.
    command_batch_size: int = Field(default=200, ge=1, le=5000)
    max_inflight_commands: int = Field(default=2000, ge=1)

    # -- online orders ---------------------------------------------------------------------------
    #: Tokens of the sales channels that place orders, "name:token,...", e.g. "web:...,app:...".
    #: A channel sees only the orders it placed.
    channel_tokens: SecretStr = SecretStr("")
    #: A store that has not accepted or rejected an allocation by then loses it (re-routed).
    allocation_timeout_s: float = Field(default=300.0, gt=0)
    #: How often allocations past their deadline and unsent notifications are looked for.
    jobs_interval_s: float = Field(default=1.0, gt=0)
    #: Customer notifications: "log" (JSON lines in ``notifications_file``, for development
    #: and as an audit trail) or "package.module:Class" of your own ``Notifier``.
    notifier: str = "log"
    notifications_file: Path = Path("var/hub/notifications.jsonl")
    #: X25519 private key (base64url) that opens the pickup secrets stores seal to the hub;
    #: ``python -c "from storelink_contract.sealing import new_private_key as k; print(k())"``.
    seal_key: SecretStr = SecretStr(DEV_SEAL_KEY)

    # -- the HQ dashboard ----------------------------------------------------------------------
    #: ISO 4217 code of the currency every price and refund is in (the dashboard shows it).
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    #: HQ users "name:viewer|operator:password,..." created at start (development and the
    #: demo); production adds users with ``storelink-hub user add``.
    bootstrap_users: SecretStr = SecretStr("")
    #: A dashboard sign-in lasts this long.
    session_ttl_s: float = Field(default=12 * 3600, gt=0)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> HubSettings:
        token = self.api_token.get_secret_value()
        if not token:
            raise ValueError("STORELINK_HUB_API_TOKEN must not be empty")
        if self.environment != "development" and token == DEV_API_TOKEN:
            raise ValueError(
                "STORELINK_HUB_API_TOKEN is the development default; set a real token "
                "before running with STORELINK_HUB_ENVIRONMENT=production"
            )
        if self.environment != "development":
            if self.bootstrap_users.get_secret_value():
                raise ValueError(
                    "bootstrap users are for development; use 'storelink-hub user add'"
                )
            if self.seal_key.get_secret_value() == DEV_SEAL_KEY:
                raise ValueError("STORELINK_HUB_SEAL_KEY is the development key; make a new one")
            if self.notifier == "log":
                raise ValueError(
                    "STORELINK_HUB_NOTIFIER=log writes pickup codes to a file: plug in a real "
                    "notifier (package.module:Class) in production"
                )
        public_key(self.seal_key.get_secret_value())  # a malformed key fails here, not later
        for name, channel_token in self.channels().items():
            if len(channel_token) < 16:
                raise ValueError(f"channel {name!r}: its token must be at least 16 characters")
        return self

    def channels(self) -> dict[str, str]:
        """Channel name -> token, from ``channel_tokens``."""
        out: dict[str, str] = {}
        for part in filter(
            None, (p.strip() for p in self.channel_tokens.get_secret_value().split(","))
        ):
            name, sep, channel_token = part.partition(":")
            if not sep or not name or not channel_token:
                raise ValueError(f"STORELINK_HUB_CHANNEL_TOKENS: {name!r} is not name:token")
            out[name] = channel_token
        return out
