"""The devices a store declares: kind, where it is plugged in, and what it is for.

Read from the JSON file at ``STORELINK_AGENT_DEVICES_FILE`` (a list of objects) and validated
at start-up: a typo in a port or a zone stops the agent with the reason, instead of a device that
silently never reports. Example::

    [
      {"kind": "scanner", "device_id": "rcv-1", "url": "/dev/ttyACM0", "role": "receiving"},
      {"kind": "scanner", "device_id": "kiosk-1-scan", "url": "/dev/ttyACM1", "role": "kiosk"},
      {"kind": "rfid_serial", "device_id": "floor-reader", "url": "/dev/ttyUSB0",
       "antennas": {"1": "sales_floor", "2": "backroom"}},
      {"kind": "locker_board", "device_id": "bank-a", "url": "/dev/ttyUSB1", "board": 0,
       "compartments": {"1": "S", "2": "S", "3": "M", "4": "L"}}
    ]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from storelink_contract.orders import ParcelSize

DeviceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Zone = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]


class _Device(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: DeviceId


class ScannerConfig(_Device):
    """A serial (or USB-CDC) barcode scanner in text mode."""

    kind: Literal["scanner"]
    url: str = Field(min_length=1, description="/dev/ttyACM0, a pty path or socket://host:port")
    #: ``picking``: a pack-station scanner (scans pick the order bound to it); ``locker_bank``:
    #: the scanner of a locker terminal (pickup QR codes).
    role: Literal["receiving", "checkout", "kiosk", "picking", "locker_bank"]
    baudrate: int = 9600
    prefix: str = ""
    suffix: Literal["\r", "\r\n"] = "\r"
    #: The same code again within this window is one read (a double trigger), not two units.
    repeat_window_s: float = Field(default=0.5, ge=0)


class CameraConfig(_Device):
    """A camera (index) or a video file that shows QR codes and EAN/UPC barcodes."""

    kind: Literal["camera"]
    source: int | str
    role: Literal["kiosk", "locker_bank", "receiving"]
    debounce_s: float = Field(default=1.0, ge=0)


class RfidSerialConfig(_Device):
    """A Chafon-family serial UHF reader; ``antennas`` maps antenna number to zone."""

    kind: Literal["rfid_serial"]
    url: str = Field(min_length=1)
    baudrate: int = 57600
    address: int = Field(default=0, ge=0, le=255)
    antennas: dict[int, Zone] = Field(min_length=1)


class RfidLlrpConfig(_Device):
    """A fixed UHF reader speaking LLRP (port 5084)."""

    kind: Literal["rfid_llrp"]
    host: str = Field(min_length=1)
    port: int = Field(default=5084, ge=1, le=65535)
    antennas: dict[int, Zone] = Field(min_length=1)


class LockerBoardConfig(_Device):
    """An RS485 lock-control board (Kerong KR-CU16 family)."""

    kind: Literal["locker_board"]
    url: str = Field(min_length=1)
    board: int = Field(default=0, ge=0, le=15)
    baudrate: int = 19200
    poll_interval_s: float = Field(default=2.0, gt=0)
    #: Boards differ on bit polarity: the value of a hook bit when the lock is open, and of
    #: a sensor bit when it is active; and whether the sensors watch items or doors.
    lock_open_bit: Literal[0, 1] = 0
    sensor_active_bit: Literal[0, 1] = 1
    sensors: Literal["item", "door"] = "item"
    #: Compartments for online orders: the door number printed on the locker (1-16) and its
    #: size. Doors not listed are not used for orders.
    compartments: dict[Annotated[int, Field(ge=1, le=16)], ParcelSize] = Field(default_factory=dict)


DeviceConfig = Annotated[
    ScannerConfig | CameraConfig | RfidSerialConfig | RfidLlrpConfig | LockerBoardConfig,
    Field(discriminator="kind"),
]
_DEVICE_LIST: TypeAdapter[list[DeviceConfig]] = TypeAdapter(list[DeviceConfig])


class BadDeviceConfig(ValueError):
    """The devices file cannot be used; the message says where and why."""


def load_devices(path: Path | None) -> list[DeviceConfig]:
    """The store's devices, or none when no file is configured."""
    if path is None:
        return []
    try:
        devices = _DEVICE_LIST.validate_json(path.read_bytes())
    except OSError as exc:
        raise BadDeviceConfig(f"cannot read devices file {path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadDeviceConfig(f"{path}: device {where}: {first['msg']}") from exc
    ids = [d.device_id for d in devices]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise BadDeviceConfig(f"{path}: device ids used twice: {', '.join(duplicates)}")
    return devices
