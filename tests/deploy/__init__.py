"""Tests of the broker tooling and the deployment configs (deploy/)."""
