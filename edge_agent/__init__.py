"""The store agent: one process per store.

It keeps the store working on its own (SQLite ledger, local HTTP API for POS, kiosks and staff)
and syncs with the hub over MQTT through a transactional outbox. The domain core
(``inventory``, ``commands``) is plain Python over a sqlite3 connection; the HTTP routes, the
uplink and the scheduled jobs are thin adapters around it.
"""

__version__ = "0.1.0"
