"""Frames from a camera or a video file: the one place ``cv2.VideoCapture`` is used.

A camera index (``0`` for ``/dev/video0``) or a path to a video file (a recorded shelf, or the
MJPG files the tests write). A source that will not open, a failed grab and the end of a file
all become ``DeviceUnavailable``: to the agent a camera that stopped giving frames is down.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import NoReturn

import cv2
import numpy as np

from devices.camera.decode import Frame
from devices.errors import DeviceUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TimedFrame:
    image: Frame
    #: Seconds: the file's own timestamp for a video file, the monotonic clock for a camera.
    t: float


class VideoSource:
    """One ``cv2.VideoCapture``. Not thread-safe: one owner reads."""

    def __init__(self, source: int | str) -> None:
        self.source = source
        self._capture: cv2.VideoCapture | None = None

    @property
    def is_file(self) -> bool:
        return isinstance(self.source, str)

    @property
    def is_open(self) -> bool:
        return self._capture is not None

    def open(self) -> None:
        self.close()
        capture = cv2.VideoCapture(self.source)
        if not capture.isOpened():
            capture.release()
            raise DeviceUnavailable(f"cannot open video source {self.source!r}")
        self._capture = capture

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def skip(self) -> None:
        """Advance one frame without decoding it (cheaper than ``read``)."""
        if not self._require().grab():
            self._lost()

    def read(self) -> TimedFrame:
        """The next frame; blocks for up to a frame interval on a live camera."""
        capture = self._require()
        ok, image = capture.read()
        if not ok or image is None:
            self._lost()
        t = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if self.is_file else time.monotonic()
        return TimedFrame(image=np.asarray(image, dtype=np.uint8), t=t)

    def _require(self) -> cv2.VideoCapture:
        if self._capture is None:
            raise DeviceUnavailable(f"video source {self.source!r} is not open")
        return self._capture

    def _lost(self) -> NoReturn:
        what = "end of video file" if self.is_file else "camera stopped giving frames"
        self.close()
        raise DeviceUnavailable(f"{self.source!r}: {what}")
