"""Helpers shared by the benchmark scripts: result line, percentiles, a broker to measure on.

Every benchmark prints, as its last line, one JSON object with at least ``benchmark``,
``value`` and ``unit``, and ``ceiling``/``ratio`` where a ceiling measured in the same run
applies. Figures are machine-specific; ratios against the same run's ceiling are what compare.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storelink_demo.brokers import (
    BrokerProcess,
    find_mosquitto,
    start_amqtt,
    start_mosquitto,
)


def emit(benchmark: str, value: float, unit: str, **extra: Any) -> None:
    """Print the result as the last line (JSON), after a human-readable summary."""
    result: dict[str, Any] = {"benchmark": benchmark, "value": round(value, 3), "unit": unit}
    for key, item in extra.items():
        result[key] = round(item, 4) if isinstance(item, float) else item
    if result.get("ceiling"):
        result["ratio"] = round(value / float(result["ceiling"]), 3)
    result["machine"] = (
        f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}"
    )
    print(json.dumps(result), flush=True)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def start_bench_broker(workdir: Path | None = None) -> BrokerProcess:
    """Mosquitto without ACL (the raw ceiling) when installed, else the embedded amqtt."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="storelink-bench-broker-"))
    if find_mosquitto() is not None:
        return start_mosquitto(workdir, acl=False)
    return start_amqtt(workdir=workdir)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
