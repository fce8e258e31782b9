"""The HQ HTTP API: one router per resource, thin routes over the domain modules."""
