"""Device errors, one tree for every family (the only exceptions clients raise).

    DeviceError
    ├── DeviceUnavailable   the port, socket or camera cannot be opened or was lost
    ├── DeviceTimeout       the device did not answer a command in time
    └── FrameError          bytes that are not a valid frame (the reason says why)

Transports translate their library's errors (``serial.SerialException``, ``OSError``, OpenCV's
failed reads) into these, so the agent's device manager handles one vocabulary.
"""


class DeviceError(Exception):
    """Base of every device problem."""


class DeviceUnavailable(DeviceError):
    """The link to the device is down; the manager reconnects with backoff."""


class DeviceTimeout(DeviceError):
    """No (complete) answer within the deadline."""


class FrameError(DeviceError, ValueError):
    """Malformed input: bad checksum, bad length, unknown command, bad check digit."""
