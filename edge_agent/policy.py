"""The store's fulfilment rules as one value, built once from the settings.

The domain functions take a ``FulfilmentPolicy`` instead of the whole settings object, so every
rule (how long a reservation or a pickup hold lasts, how many wrong codes a terminal gets) is
visible at the call and a test can state exactly the rules it runs under.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from edge_agent.settings import DEV_CODE_KEY, AgentSettings


@dataclass(frozen=True, slots=True)
class FulfilmentPolicy:
    store_id: str
    code_key: bytes = DEV_CODE_KEY.encode()
    pick_deadline: timedelta = timedelta(hours=48)
    pickup_hold: timedelta = timedelta(hours=72)
    transfer_deadline: timedelta = timedelta(days=7)
    cart_hold: timedelta = timedelta(minutes=15)
    reminder_after: timedelta = timedelta(hours=24)
    expiring_before: timedelta = timedelta(hours=12)
    door_open_alert: timedelta = timedelta(minutes=2)
    wrong_codes_allowed: int = 5
    wrong_codes_window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: AgentSettings) -> FulfilmentPolicy:
        return cls(
            store_id=settings.store_id,
            code_key=settings.code_key.get_secret_value().encode(),
            pick_deadline=timedelta(seconds=settings.pick_deadline_s),
            pickup_hold=timedelta(seconds=settings.pickup_hold_s),
            transfer_deadline=timedelta(seconds=settings.transfer_deadline_s),
            cart_hold=timedelta(seconds=settings.cart_hold_s),
            reminder_after=timedelta(seconds=settings.reminder_after_s),
            expiring_before=timedelta(seconds=settings.expiring_before_s),
            door_open_alert=timedelta(seconds=settings.door_open_alert_s),
            wrong_codes_allowed=settings.wrong_codes_allowed,
            wrong_codes_window=timedelta(seconds=settings.wrong_codes_window_s),
            lockout=timedelta(seconds=settings.lockout_s),
        )
