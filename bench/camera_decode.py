"""camera_decode: milliseconds per 640x480 frame through the camera pipeline, against OpenCV's
bare detector calls on the same frames in the same run.

    python bench/camera_decode.py [--rounds 7] [--frames 20]

Frames are real generated codes (a QR code holding a GS1 Digital Link, an EAN-13 from
zxing-cpp's writer, both with sigma=8 sensor noise) on a 640x480 BGR canvas, the size a shelf
camera hands over. The pipeline is ``FrameDecoder.decode`` + ``Debouncer.update``, which runs
the 1-D barcode detector and the QR detector on every frame (it cannot know which code is in
view). The ceiling is the same two bare OpenCV calls on the same BGR frames
(``BarcodeDetector.detectAndDecodeWithType`` + ``QRCodeDetectorAruco.detectAndDecodeMulti``),
with no grey conversion, typing, GTIN checks or debouncing, so the ratio is the pipeline's own
overhead. For reference it also times the classic ``QRCodeDetector`` (OpenCV's default QR
detector) on the same frames. Rounds alternate pipeline and bare
runs; the median round is reported. Needs zxing-cpp (the test extra) for the EAN-13 images.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
from _common import emit, log

from devices.camera.decode import Debouncer, FrameDecoder
from tests.devices.camera.images import Image, frame, linear_code, qr_code

QR_TEXT = "https://id.gs1.org/01/04006381333931/21/SN42"
EAN = "4006381333931"


def per_frame_ms(step: Callable[[Image], object], frames: list[Image]) -> float:
    started = time.perf_counter()
    for image in frames:
        step(image)
    return (time.perf_counter() - started) * 1000.0 / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description="camera decode ms/frame vs bare OpenCV")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()
    cv2.setNumThreads(cv2.getNumThreads())  # OpenCV's default threading, stated for the record

    qr_frames = [frame(qr_code(QR_TEXT, module_px=6), seed=i) for i in range(args.frames)]
    ean_frames = [frame(linear_code(EAN), seed=i) for i in range(args.frames)]

    decoder = FrameDecoder()
    debouncer = Debouncer(window_s=1.0)
    clock = [0.0]

    def pipeline(image: Image) -> object:
        clock[0] += 0.1  # 10 fps of media time
        return debouncer.update(decoder.decode(image), clock[0])

    qr_detector = cv2.QRCodeDetectorAruco()
    classic_qr = cv2.QRCodeDetector()
    barcode_detector = cv2.barcode.BarcodeDetector()

    def bare(image: Image) -> object:
        return barcode_detector.detectAndDecodeWithType(image), qr_detector.detectAndDecodeMulti(
            image
        )

    # Every frame must decode, or the timings would measure failures.
    qr_hits = sum(any(r.data == QR_TEXT for r in decoder.decode(f)) for f in qr_frames)
    ean_hits = sum(any(r.gtin == "0" + EAN for r in decoder.decode(f)) for f in ean_frames)
    log(f"decoded: QR {qr_hits}/{len(qr_frames)}, EAN-13 {ean_hits}/{len(ean_frames)}")

    runs: dict[str, list[float]] = {k: [] for k in ("qr", "ean13", "bare_qr", "bare_ean13")}
    single: dict[str, list[float]] = {
        "qr_only": [],
        "barcode_only": [],
        "classic_qr_on_qr": [],
        "classic_qr_on_ean13": [],
    }
    for _ in range(args.rounds):
        runs["qr"].append(per_frame_ms(pipeline, qr_frames))
        runs["bare_qr"].append(per_frame_ms(bare, qr_frames))
        runs["ean13"].append(per_frame_ms(pipeline, ean_frames))
        runs["bare_ean13"].append(per_frame_ms(bare, ean_frames))
        single["qr_only"].append(per_frame_ms(qr_detector.detectAndDecodeMulti, qr_frames))
        single["barcode_only"].append(
            per_frame_ms(barcode_detector.detectAndDecodeWithType, ean_frames)
        )
        single["classic_qr_on_qr"].append(per_frame_ms(classic_qr.detectAndDecode, qr_frames))
        single["classic_qr_on_ean13"].append(per_frame_ms(classic_qr.detectAndDecode, ean_frames))
    ms = {k: statistics.median(v) for k, v in runs.items()}
    only = {k: statistics.median(v) for k, v in single.items()}
    value = (ms["qr"] + ms["ean13"]) / 2
    ceiling = (ms["bare_qr"] + ms["bare_ean13"]) / 2

    log(f"640x480 frames, median of {args.rounds} rounds x {args.frames} frames per kind")
    log(f"  pipeline  QR     {ms['qr']:7.2f} ms/frame   bare {ms['bare_qr']:7.2f}")
    log(f"  pipeline  EAN-13 {ms['ean13']:7.2f} ms/frame   bare {ms['bare_ean13']:7.2f}")
    log(
        f"  one detector alone: QR {only['qr_only']:.2f} ms on QR frames, "
        f"1-D {only['barcode_only']:.2f} ms on EAN-13 frames"
    )
    log(
        f"  classic QRCodeDetector (not used): {only['classic_qr_on_qr']:.2f} ms on QR frames, "
        f"{only['classic_qr_on_ean13']:.2f} ms on EAN-13 frames"
    )
    log(f"  pipeline/bare = {value / ceiling:.3f}")
    emit(
        "camera_decode",
        value,
        "ms/frame",
        ceiling=ceiling,
        qr_ms=ms["qr"],
        ean13_ms=ms["ean13"],
        bare_qr_ms=ms["bare_qr"],
        bare_ean13_ms=ms["bare_ean13"],
        qr_detector_only_ms=only["qr_only"],
        barcode_detector_only_ms=only["barcode_only"],
        classic_qr_detector_on_qr_ms=only["classic_qr_on_qr"],
        classic_qr_detector_on_ean13_ms=only["classic_qr_on_ean13"],
        decoded=f"qr {qr_hits}/{len(qr_frames)}, ean13 {ean_hits}/{len(ean_frames)}",
        opencv=cv2.__version__,
        cv_threads=cv2.getNumThreads(),
    )


if __name__ == "__main__":
    main()
