"""Domain errors. The API layer alone turns them into HTTP problems."""


class StoreError(Exception):
    """Base of every business-rule refusal; the message is shown to the user."""


class UnknownProduct(StoreError):
    """A line names a sku or GTIN the store cannot price or identify."""


class IdempotencyConflict(StoreError):
    """The same request id was used before for a different request."""


class HubUnreachable(StoreError):
    """The hub cannot answer now (no broker, hub offline, no answer in time): use the
    offline answer."""


class HubRefused(StoreError):
    """The hub answered, and said no; the message is its reason."""
