"""Start and stop an MQTT broker process for the demo, the tests and the benchmarks.

Two kinds:

- Mosquitto (``start_mosquitto``), configured from ``deploy/mosquitto/``: per-store usernames in a
  password file made with ``mosquitto_passwd`` and the per-store pattern ACL, or anonymous with
  no ACL for the raw throughput ceiling. Speaks MQTT 5.
- amqtt (``start_amqtt``), the embedded pure-Python broker (``python -m storelink_demo.broker``):
  anonymous, MQTT 3.1.1 only; the fallback on machines without Mosquitto.

Either way the broker is a child process that ``BrokerProcess.stop()`` ends (SIGTERM, then
SIGKILL after a timeout) and ``BrokerProcess.start()`` brings back on the same port, which is how
tests simulate a broker outage. On Linux the child also gets SIGKILL if the thread that started
it dies, so a killed test run leaves no broker behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from types import TracebackType
from typing import IO, Literal

from storelink_contract.topics import check_store_id

log = logging.getLogger(__name__)

BrokerKind = Literal["mosquitto", "amqtt"]

HUB_USERNAME = "hub"
DEPLOY_MOSQUITTO = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"

# Deliberate queue limits (see the comments in deploy/mosquitto/mosquitto.conf.template).
MAX_QUEUED_MESSAGES = 20_000
MAX_QUEUED_BYTES = 256 * 1024 * 1024
MAX_INFLIGHT_MESSAGES = 100

_PR_SET_PDEATHSIG = 1


class BrokerStartError(RuntimeError):
    """The broker process exited or never started listening; the message carries its log."""


def find_mosquitto() -> str | None:
    """The mosquitto binary: on PATH, else Debian's /usr/sbin (not on a normal user's PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    fallback = Path("/usr/sbin/mosquitto")
    return str(fallback) if fallback.is_file() and os.access(fallback, os.X_OK) else None


def find_mosquitto_passwd(mosquitto: str | None = None) -> str | None:
    """``mosquitto_passwd``: on PATH, else next to the broker binary, else /usr/bin."""
    found = shutil.which("mosquitto_passwd")
    if found:
        return found
    candidates = [Path("/usr/bin/mosquitto_passwd")]
    if mosquitto:
        candidates.insert(0, Path(mosquitto).with_name("mosquitto_passwd"))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (the kernel's choice; a race is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _load_prctl() -> Callable[..., int] | None:
    if sys.platform != "linux":
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Looked up once in the parent: the child runs only the call, no loading, between fork and exec.
_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: ask Linux to SIGKILL it when the thread that
    started it exits (normally the main thread, so: when the test run or the demo dies)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


# MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keepalive 10 s, client id
# "storelink-probe"; then DISCONNECT. Every broker version we run understands level 4.
_PROBE_CLIENT_ID = b"storelink-probe"
_PROBE_CONNECT = (
    bytes([0x10, 12 + len(_PROBE_CLIENT_ID)])
    + b"\x00\x04MQTT\x04\x02\x00\x0a"
    + len(_PROBE_CLIENT_ID).to_bytes(2, "big")
    + _PROBE_CLIENT_ID
)
_DISCONNECT = b"\xe0\x00"


def _answers_connect(host: str, port: int) -> bool:
    """True when the broker on ``host:port`` answers a CONNECT with a CONNACK."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(_PROBE_CONNECT)
            reply = sock.recv(4)
            if reply[:1] == b"\x20":
                with contextlib.suppress(OSError):
                    sock.sendall(_DISCONNECT)
                return True
    except OSError:
        pass
    return False


@dataclass
class BrokerProcess:
    """A broker running as a child process on ``host:port``."""

    kind: BrokerKind
    port: int
    argv: list[str]
    log_path: Path
    host: str = "127.0.0.1"
    users: dict[str, str] = field(default_factory=dict, repr=False)
    """Username → password; empty when the broker is anonymous."""
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_file: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def protocol(self) -> Literal["5", "3.1.1"]:
        """The MQTT protocol clients should ask for: amqtt speaks 3.1.1 only."""
        return "5" if self.kind == "mosquitto" else "3.1.1"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.users)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def credentials(self, store_id: str) -> tuple[str | None, str | None]:
        """The username and password of store ``store_id`` (None, None when auth is off)."""
        if not self.users:
            return None, None
        check_store_id(store_id)
        if store_id == HUB_USERNAME or store_id not in self.users:
            raise KeyError(f"store {store_id!r} has no identity on this broker")
        return store_id, self.users[store_id]

    def hub_credentials(self) -> tuple[str | None, str | None]:
        """The hub's username and password (None, None when auth is off)."""
        if not self.users:
            return None, None
        return HUB_USERNAME, self.users[HUB_USERNAME]

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> BrokerProcess:
        """Start the broker (again, on the same port) and wait until it accepts connections.

        Call it from a long-lived thread (the main thread): on Linux the broker is killed when
        the thread that started it exits, so that a killed test run leaves no orphan."""
        if self.is_running():
            return self
        self._close_log()
        self._log_file = self.log_path.open("ab")
        self._proc = subprocess.Popen(  # noqa: S603 - argv is built here, never from input
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
            # Ctrl-C in a terminal reaches the launcher only, which stops the broker last,
            # after the agents and the hub have said goodbye through it.
            start_new_session=True,
        )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("%s broker (pid %d) listening on %s", self.kind, self._proc.pid, self.url)
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the broker answers an MQTT CONNECT; raise ``BrokerStartError`` if the
        process exits first or the time runs out.

        A bare TCP connect would do for "listening", but amqtt logs an ERROR for every socket
        that closes without a CONNECT; a CONNACK (even "not authorised") also proves the broker
        is serving, not just bound."""
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerStartError(
                    f"{self.kind} exited with status {self._proc.returncode} before listening on "
                    f"{self.url}:\n{self.log_tail()}"
                )
            if _answers_connect(self.host, self.port):
                return
            if time.monotonic() >= deadline:
                raise BrokerStartError(
                    f"{self.kind} not serving on {self.url} after {timeout:.0f} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        """End the process: SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM; killing it", self.kind, proc.pid)
                proc.kill()
                proc.wait()
        elif proc is not None:
            proc.wait()
        self._close_log()

    def log_tail(self, max_bytes: int = 4000) -> str:
        """The end of the broker's log, for error messages."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no log)"
        return data[-max_bytes:].decode("utf-8", "replace")

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> BrokerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- Mosquitto ---------------------------------------------------------------------------------


def _write_password_file(mosquitto_passwd: str, path: Path, users: dict[str, str]) -> None:
    """Write ``username:password`` lines, then let ``mosquitto_passwd -U`` hash them in place
    (one process for the whole fleet instead of one per user)."""
    path.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    path.chmod(0o600)
    result = subprocess.run(  # noqa: S603 - fixed argv
        [mosquitto_passwd, "-U", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BrokerStartError(
            f"mosquitto_passwd -U failed ({result.returncode}): {result.stderr or result.stdout}"
        )


def render_mosquitto_conf(
    *,
    port: int,
    password_file: Path | None,
    acl_file: Path | None,
    bind_address: str = "127.0.0.1",
) -> str:
    """The demo/test configuration from ``deploy/mosquitto/mosquitto.conf.template``."""
    template = Template((DEPLOY_MOSQUITTO / "mosquitto.conf.template").read_text())
    if password_file is not None and acl_file is not None:
        # use_username_as_clientid: a store's credentials cannot connect under another
        # client's id (the hub's, another store's) and kick it off the broker.
        auth_lines = (
            f"password_file {password_file}\nacl_file {acl_file}\nuse_username_as_clientid true"
        )
        allow_anonymous = "false"
    else:
        auth_lines = "# anonymous, no ACL: the raw throughput ceiling for benchmarks only"
        allow_anonymous = "true"
    # Started as root, Mosquitto drops to the "mosquitto" user, which cannot read a private
    # work directory (pytest's tmp_path is 0700); stay root there, as the tests run as root.
    run_as_user_line = "user root" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    return template.substitute(
        port=port,
        bind_address=bind_address,
        max_queued_messages=MAX_QUEUED_MESSAGES,
        max_queued_bytes=MAX_QUEUED_BYTES,
        max_inflight_messages=MAX_INFLIGHT_MESSAGES,
        allow_anonymous=allow_anonymous,
        auth_lines=auth_lines,
        run_as_user_line=run_as_user_line,
    )


def start_mosquitto(
    workdir: Path,
    port: int | None = None,
    *,
    store_ids: list[str] | None = None,
    acl: bool = True,
) -> BrokerProcess:
    """Start Mosquitto on 127.0.0.1 with the project's password file and ACL (a random password
    for the hub and each store id), or anonymous without ACL when ``acl`` is false.

    Raises ``FileNotFoundError`` when Mosquitto is not installed, ``InvalidStoreId`` for a store
    id that is unsafe in an ACL pattern, and ``BrokerStartError`` when it does not come up.
    """
    binary = find_mosquitto()
    if binary is None:
        raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()

    users: dict[str, str] = {}
    password_file: Path | None = None
    acl_file: Path | None = None
    if acl:
        for store_id in store_ids or []:
            check_store_id(store_id)
            if store_id == HUB_USERNAME:
                raise ValueError(f"store id {HUB_USERNAME!r} is reserved for the hub's identity")
        passwd = find_mosquitto_passwd(binary)
        if passwd is None:
            raise FileNotFoundError("mosquitto_passwd is not installed (part of mosquitto)")
        users = {HUB_USERNAME: secrets.token_urlsafe(24)}
        users.update({store_id: secrets.token_urlsafe(24) for store_id in store_ids or []})
        password_file = workdir / "passwd"
        _write_password_file(passwd, password_file, users)
        acl_file = workdir / "acl"
        shutil.copyfile(DEPLOY_MOSQUITTO / "acl", acl_file)

    conf = workdir / "mosquitto.conf"
    conf.write_text(
        render_mosquitto_conf(port=port, password_file=password_file, acl_file=acl_file)
    )
    broker = BrokerProcess(
        kind="mosquitto",
        port=port,
        argv=[binary, "-c", str(conf)],
        log_path=workdir / "mosquitto.log",
        users=users,
    )
    return broker.start()


# -- amqtt -------------------------------------------------------------------------------------


def start_amqtt(port: int | None = None, *, workdir: Path | None = None) -> BrokerProcess:
    """Start the embedded amqtt broker (anonymous, MQTT 3.1.1) as a child process. Its log goes
    to ``workdir`` (a fresh temporary file when omitted)."""
    port = port or free_port()
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="storelink-amqtt-"))
    workdir.mkdir(parents=True, exist_ok=True)
    broker = BrokerProcess(
        kind="amqtt",
        port=port,
        argv=[sys.executable, "-m", "storelink_demo.broker", "--port", str(port)],
        log_path=workdir / "amqtt.log",
    )
    return broker.start()


def start_best_broker(workdir: Path, store_ids: list[str]) -> BrokerProcess:
    """Mosquitto with the per-store ACL when it is installed, else the embedded amqtt broker."""
    if find_mosquitto() is not None:
        return start_mosquitto(workdir, store_ids=store_ids)
    log.warning("mosquitto not installed: using the embedded amqtt broker (no ACL, MQTT 3.1.1)")
    return start_amqtt(workdir=workdir)
