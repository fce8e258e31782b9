"""What the agent calls to take codes from a camera (or a video file standing in for one).

    camera = CameraClient(0, debounce_s=1.0, every_nth_frame=2)
    camera.open()
    for read in camera.read(timeout=0.5):    # each code once while it stays in view
        ...
    camera.close()

``read`` raises ``DeviceUnavailable`` when frames stop (camera unplugged, end of a file); the
caller closes, backs off and opens again (a file then plays from the start).
"""

from __future__ import annotations

import logging
import time

from devices.camera.decode import CameraRead, Debouncer, FrameDecoder
from devices.camera.transport import VideoSource
from devices.stats import DeviceStats

log = logging.getLogger(__name__)


class CameraClient:
    """One camera. Not thread-safe: one owner calls ``read``."""

    def __init__(
        self,
        source: int | str,
        *,
        debounce_s: float = 1.0,
        every_nth_frame: int = 1,
        qr: bool = True,
        barcodes: bool = True,
    ) -> None:
        if every_nth_frame < 1:
            raise ValueError("every_nth_frame must be >= 1")
        self.source = source
        self.every_nth_frame = every_nth_frame
        self.stats = DeviceStats()
        self.frames_decoded = 0
        self._video = VideoSource(source)
        self._decoder = FrameDecoder(qr=qr, barcodes=barcodes)
        self._debouncer = Debouncer(debounce_s)
        self._frame_no = 0

    @property
    def is_open(self) -> bool:
        return self._video.is_open

    def open(self) -> None:
        """Open the source (``DeviceUnavailable`` if it cannot be opened)."""
        self._video.open()
        self._debouncer.reset()
        self._frame_no = 0
        log.info("camera %r open", self.source)

    def close(self) -> None:
        self._video.close()

    def read(self, timeout: float) -> list[CameraRead]:
        """New codes seen within ``timeout`` seconds: returns after the first frame that shows
        a code not reported within the debounce window, or ``[]`` at the deadline."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            self._frame_no += 1
            if (self._frame_no - 1) % self.every_nth_frame:
                self._video.skip()
            else:
                frame = self._video.read()
                self.frames_decoded += 1
                fresh = self._debouncer.update(self._decoder.decode(frame.image), frame.t)
                if fresh:
                    self.stats.accepted(len(fresh))
                    return fresh
            if time.monotonic() >= deadline:
                return []

    def __enter__(self) -> CameraClient:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
