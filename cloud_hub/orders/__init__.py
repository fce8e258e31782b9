"""Online orders at the hub: intake from the channels, routing to stores, the lifecycle the
stores report, and the views for customers and HQ.

- ``tables`` — the order tables (SQLModel), created with the rest of the hub's schema.
- ``intake`` — validating and recording an order from a channel (idempotent on its id).
- ``routing`` — choosing a store, allocating, re-routing on a rejection or a timeout.
- ``lifecycle`` — what each order event from a store does to the order.
- ``views`` — the order with its lines, tenders (last four digits only) and timeline.
"""
