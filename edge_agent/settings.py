"""Settings of one store agent, from ``STORELINK_AGENT_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storelink_contract.topics import check_store_id


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

    @field_validator("store_id")
    @classmethod
    def _store_id_is_topic_safe(cls, value: str) -> str:
        return check_store_id(value)

    @property
    def database_path(self) -> Path:
        return self.data_dir / f"{self.store_id}.db"

    def check_production(self) -> None:
        """Refuse to start a production store with development shortcuts."""
        if self.environment == "production" and self.bootstrap_tokens:
            raise ValueError("bootstrap tokens are for development; provision tokens instead")
