"""The store's local HTTP API for tills, kiosks and staff devices (one router per resource)."""
