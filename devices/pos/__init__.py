"""POS terminals: HTTP clients of the store agent's local API (sales with idempotency keys)."""
