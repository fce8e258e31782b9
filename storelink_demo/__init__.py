"""The local all-in-one chain and broker tooling: the embedded MQTT broker and helpers that start
and stop a broker process (Mosquitto with the project ACL, or amqtt) for the demo, tests and
benchmarks. Nothing in ``edge_agent`` or ``cloud_hub`` imports this package.
"""
