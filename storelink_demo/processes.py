"""Run the hub and store agents as child processes, the way an operator would.

Used by the local demo and by the end-to-end tests: each service is its own OS process started
with its settings in the environment, so a SIGKILL really interrupts it mid-transaction and a
restart really reopens its database file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

HUB_ARGV = [sys.executable, "-m", "cloud_hub.main"]
AGENT_ARGV = [sys.executable, "-m", "edge_agent.main", "run"]


class ServiceFailed(RuntimeError):
    """A service exited or never answered its health check; the message has its log tail."""


def service_env(prefix: str, settings: Mapping[str, str | None]) -> dict[str, str]:
    """This process's environment without other StoreLink settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORELINK_")}
    for key, value in settings.items():
        if value is not None:
            env[f"{prefix}{key.upper()}"] = value
    return env


@dataclass
class ManagedService:
    """One child process with an HTTP health check at ``/healthz``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> ManagedService:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal reaches the launcher only
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceFailed(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            if self._healthy():
                return self
            time.sleep(0.05)
        self.stop()
        raise ServiceFailed(f"{self.name} did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1.0) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not finished shutting down in ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def log_tail(self, size: int = 6000) -> str:
        data = self.log_path.read_bytes() if self.log_path.exists() else b""
        return data[-size:].decode(errors="replace")
