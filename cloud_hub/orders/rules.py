"""What order routing needs from the hub's settings, as one value passed down the call chain.

Routing runs from several entry points (a channel's order, a store's rejection in ingest, the
timeout sweep, a kiosk's RPC); each gets the same ``OrderRules``: how long a store has to
answer an allocation, the hub's public key the store seals the pickup secrets to, and the
currency a customer's message names with every amount.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from cloud_hub.settings import DEV_SEAL_KEY, HubSettings
from storelink_contract.sealing import public_key


@dataclass(frozen=True, slots=True)
class OrderRules:
    allocation_timeout: timedelta = timedelta(minutes=5)
    seal_to: str = field(default_factory=lambda: public_key(DEV_SEAL_KEY))
    currency: str = "EUR"

    def money(self, cents: int) -> str:
        """An amount as a customer reads it: ``12.50 EUR``."""
        return f"{cents / 100:.2f} {self.currency}"

    @classmethod
    def from_settings(cls, settings: HubSettings) -> OrderRules:
        return cls(
            allocation_timeout=timedelta(seconds=settings.allocation_timeout_s),
            seal_to=public_key(settings.seal_key.get_secret_value()),
            currency=settings.currency,
        )
