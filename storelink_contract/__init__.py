"""The wire contract between store agents and the hub.

Both ``edge_agent`` and ``cloud_hub`` import this package and nothing of each other. It holds
only what crosses the wire: topic names, the batch envelope, the event and command schemas and
the session-state messages. Every message carries ``v`` (the schema version); a receiver that
meets a version or a type it does not know quarantines that item and keeps the stream going.
"""

SCHEMA_VERSION = 1
