"""Real code images for the camera tests and the benchmark: generated, framed at 640x480, with
the sensor noise that OpenCV's 1-D detector needs (it often misses perfectly clean EANs)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

Image = npt.NDArray[np.uint8]

WIDTH, HEIGHT = 640, 480


def qr_code(text: str, module_px: int = 6) -> Image:
    """A QR code with a 4-module quiet zone, black on white, grey."""
    modules = cv2.QRCodeEncoder.create().encode(text)
    code = cv2.resize(modules, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)
    return np.pad(code, 4 * module_px, constant_values=255)


def linear_code(digits: str, kind: str = "EAN13", scale: int = 3) -> Image:
    """EAN-13 / EAN-8 / UPC-A (zxing-cpp's writer), with quiet zones."""
    barcode = zxingcpp.create_barcode(digits, getattr(zxingcpp, kind))
    return np.array(barcode.to_image(scale=scale, add_quiet_zones=True), dtype=np.uint8)


def frame(*codes: Image, sigma: float = 8.0, seed: int = 0) -> Image:
    """A 640x480 BGR frame with the codes side by side (or stacked) on white, plus noise."""
    canvas = np.full((HEIGHT, WIDTH), 255, np.uint8)
    x = 10
    for code in codes:
        h, w = code.shape
        y = (HEIGHT - h) // 2
        canvas[y : y + h, x : x + w] = code
        x += w + 10
    if sigma:
        noise = np.random.default_rng(seed).normal(0.0, sigma, canvas.shape)
        canvas = np.clip(canvas.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return np.asarray(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def blank(seed: int = 0) -> Image:
    return frame(sigma=8.0, seed=seed)


def write_video(path: Path, frames: list[Image], fps: float = 10.0) -> Path:
    """An MJPG .avi, the way a recorded camera would hand it over."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    try:
        for image in frames:
            writer.write(image)
    finally:
        writer.release()
    return path
