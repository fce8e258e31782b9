"""Skip or fail when a service a test needs is missing.

On a developer's machine a missing Mosquitto or PostgreSQL skips the tests that need it; with
``STORELINK_REQUIRE_SERVICES=1`` (CI) it fails them, so a green run never hides that the real
broker or database was not exercised. (Re-exported by ``tests/conftest.py``.)
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_SERVICES = os.environ.get("STORELINK_REQUIRE_SERVICES") == "1"


def require_service(available: bool, reason: str) -> None:
    """Do nothing when the service is available; otherwise skip the test, or fail it when
    services are mandatory."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (STORELINK_REQUIRE_SERVICES=1: the service is mandatory)")
    pytest.skip(reason)


def service_missing(reason: str) -> NoReturn:
    """``require_service(False, reason)`` for code paths that cannot continue."""
    require_service(False, reason)
    raise AssertionError("unreachable: require_service(False, ...) always raises")
