"""Store devices: wire protocols, transports, clients and simulators, one sub-package per family.

Nothing here knows about stores, orders or MQTT: the agent integrates devices; devices are
libraries.
"""
