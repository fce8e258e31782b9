"""The StoreLink hub: ingests every store's event stream, keeps the fleet and stock views,
sends commands back down, and serves the HQ API.

Layout (domain first, adapters last):

- ``db`` — table models and the engine factory (SQLite by default, PostgreSQL by URL).
- ``ingest``, ``fleet``, ``commands``, ``fanout``, ``quarantine``, ``views`` — the domain, plain
  functions over a SQLAlchemy ``Connection``; no MQTT or HTTP inside.
- ``inbound`` — what one MQTT message from a store does (decode, check, apply, what to reply).
- ``link`` — the MQTT adapter: one worker thread, acks, resend requests, command sending.
- ``service`` — owns the engine, the link and the fan-out for one hub process.
- ``api`` / ``app`` / ``main`` — the HQ HTTP API and the ``storelink-hub`` console script.
"""
