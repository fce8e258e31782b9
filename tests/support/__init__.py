"""Helpers shared by the tests (import as ``tests.support``): an MQTT probe client for
asserting what a broker delivers, and the thread/process leak snapshot used by the top-level
``tests/conftest.py``. Plain code, no fixtures: those live in the conftest files."""
