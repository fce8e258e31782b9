"""Domain errors of the hub. The API layer alone turns them into HTTP problems.

HubError
├── NotFound        404: no such order, store or alert (for this caller)
├── Conflict        409: the request clashes with what exists (an order id reused)
└── Invalid         422: a request that names things that cannot be (an unknown sku)
"""


class HubError(Exception):
    """Base of every refusal the hub explains to its caller; the message is shown."""


class NotFound(HubError):
    pass


class Conflict(HubError):
    pass


class Invalid(HubError):
    pass


class EventRefused(ValueError):
    """A store event that cannot be applied (an allocation the store does not hold): it is
    quarantined with this reason and the stream goes on."""
