"""Settings of one store agent, from ``STORELINK_AGENT_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storelink_contract.topics import check_store_id

#: Only good for development; ``environment=production`` refuses it.
DEV_CODE_KEY = "dev-code-key-not-for-production"


class AgentSettings(BaseSettings):
    """Everything one store agent needs; validated at start so a typo fails loudly, not later."""

    model_config = SettingsConfigDict(env_prefix="STORELINK_AGENT_", extra="ignore")

    store_id: str
    data_dir: Path = Path("var/store")
    environment: Literal["development", "production"] = "development"

    broker_url: str = "mqtt://127.0.0.1:1883"
    broker_username: str | None = None
    broker_password: SecretStr | None = None
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = "auto"
    broker_ca_file: str | None = None

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8801, ge=0, le=65535)

    #: Events per MQTT message; batching is what lets sync outrun one round trip per event.
    batch_size: int = Field(default=500, ge=1, le=5000)
    #: Events sent but not yet acknowledged by the hub, at most. Four batches keep the hub's
    #: pipeline full; with many more, a fleet draining at once queues more work at the hub than
    #: ``ack_timeout_s`` allows and stores resend what the hub has not reached yet (measured:
    #: 20 stores x 10,000 in flight timed out and resent; x 2,000 did not).
    max_in_flight: int = Field(default=2_000, ge=1)
    #: With events in flight and no ack progress for this long, resend from the last ack.
    ack_timeout_s: float = Field(default=10.0, gt=0)
    status_interval_s: float = Field(default=5.0, gt=0)
    digest_interval_s: float = Field(default=60.0, gt=0)

    #: JSON list of the store's devices (scanners, cameras, RFID readers, locker boards).
    devices_file: Path | None = None

    #: Bootstrap device tokens "device_id:role:token,..." (development and demo); production
    #: provisions tokens with ``storelink-agent token add`` instead.
    bootstrap_tokens: str = ""

    # -- online orders and lockers -----------------------------------------------------------
    #: Key of the keyed hashes (HMAC-SHA256) under which pickup and load codes are stored. It
    #: lives outside the database, so a copied store database reveals no code.
    code_key: SecretStr = SecretStr(DEV_CODE_KEY)
    #: How long an accepted order's stock stays reserved for picking and packing.
    pick_deadline_s: float = Field(default=48 * 3600, gt=0)
    #: How long a ready order waits for its customer (lockers commonly hold 48-72 h).
    pickup_hold_s: float = Field(default=72 * 3600, gt=0)
    #: A ship-to-store parcel that has not arrived by then expires (the customer is refunded).
    transfer_deadline_s: float = Field(default=7 * 24 * 3600, gt=0)
    #: A reminder this long after the order became ready, if still not collected.
    reminder_after_s: float = Field(default=24 * 3600, gt=0)
    #: An "expiring soon" warning this long before the hold ends.
    expiring_before_s: float = Field(default=12 * 3600, gt=0)
    #: A locker door open for longer than this raises an alert.
    door_open_alert_s: float = Field(default=120.0, gt=0)
    #: Wrong codes at one terminal (or for one order) within the window before a lockout.
    wrong_codes_allowed: int = Field(default=5, ge=1, le=100)
    wrong_codes_window_s: float = Field(default=15 * 60, gt=0)
    lockout_s: float = Field(default=15 * 60, gt=0)
    fulfilment_job_interval_s: float = Field(default=30.0, gt=0)
    #: How long a till or kiosk waits for the hub's answer before it takes the offline answer.
    hub_rpc_timeout_s: float = Field(default=3.0, gt=0, le=30)
    #: A kiosk cart holds its units this long (renewed with every change to the cart).
    cart_hold_s: float = Field(default=15 * 60, gt=0)

    @field_validator("store_id")
    @classmethod
    def _store_id_is_topic_safe(cls, value: str) -> str:
        return check_store_id(value)

    @property
    def database_path(self) -> Path:
        return self.data_dir / f"{self.store_id}.db"

    def check_production(self) -> None:
        """Refuse to start a production store with development shortcuts."""
        if self.environment != "production":
            return
        if self.bootstrap_tokens:
            raise ValueError("bootstrap tokens are for development; provision tokens instead")
        key = self.code_key.get_secret_value()
        if key == DEV_CODE_KEY or len(key) < 32:
            raise ValueError(
                "STORELINK_AGENT_CODE_KEY must be set to a random secret of 32+ characters in "
                "production (it keys the hashes of pickup codes)"
            )
