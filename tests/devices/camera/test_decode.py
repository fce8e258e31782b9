"""Decoding real generated code images with OpenCV, and the debouncer."""

from __future__ import annotations

import pytest

from devices.camera.decode import CameraRead, Debouncer, FrameDecoder, camera_read
from tests.devices.camera.images import blank, frame, linear_code, qr_code

DIGITAL_LINK = "https://id.gs1.org/01/04006381333931/21/SN42"


@pytest.fixture(scope="module")
def decoder() -> FrameDecoder:
    return FrameDecoder()


def test_qr_code(decoder: FrameDecoder) -> None:
    assert decoder.decode(frame(qr_code("PICKUP-7Q2X"))) == [CameraRead("QR", "PICKUP-7Q2X")]


def test_qr_with_a_gs1_digital_link_carries_the_gtin(decoder: FrameDecoder) -> None:
    assert decoder.decode(frame(qr_code(DIGITAL_LINK))) == [
        CameraRead("QR", DIGITAL_LINK, "04006381333931")
    ]


@pytest.mark.parametrize(
    ("kind", "digits", "symbology", "gtin"),
    [
        ("EAN13", "4006381333931", "EAN_13", "04006381333931"),
        ("EAN8", "96385074", "EAN_8", "00000096385074"),
        ("UPCA", "036000291452", "UPC_A", "00036000291452"),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ean_and_upc_with_sensor_noise(
    decoder: FrameDecoder, kind: str, digits: str, symbology: str, gtin: str, seed: int
) -> None:
    image = frame(linear_code(digits, kind), sigma=8.0, seed=seed)
    assert decoder.decode(image) == [CameraRead(symbology, digits, gtin)]


def test_grey_frames_work_too(decoder: FrameDecoder) -> None:
    grey = frame(linear_code("4006381333931"))[:, :, 0].copy()
    assert [r.gtin for r in decoder.decode(grey)] == ["04006381333931"]


def test_a_qr_and_an_ean_in_one_frame(decoder: FrameDecoder) -> None:
    image = frame(qr_code("HELLO", module_px=5), linear_code("4006381333931"))
    assert sorted(decoder.decode(image), key=lambda r: r.symbology) == [
        CameraRead("EAN_13", "4006381333931", "04006381333931"),
        CameraRead("QR", "HELLO"),
    ]


def test_nothing_in_view(decoder: FrameDecoder) -> None:
    assert decoder.decode(blank()) == []


def test_only_the_enabled_detectors_run() -> None:
    image = frame(qr_code("HELLO", module_px=5), linear_code("4006381333931"))
    assert [r.symbology for r in FrameDecoder(barcodes=False).decode(image)] == ["QR"]
    assert [r.symbology for r in FrameDecoder(qr=False).decode(image)] == ["EAN_13"]


def test_typed_reads() -> None:
    assert camera_read("EAN_13", "4006381333932") is None  # a misread: bad check digit
    assert camera_read("UPC_E", "01234565") == CameraRead("UPC_E", "01234565", "00012345000065")
    assert camera_read("QR", "https://example.com/01/x") == CameraRead(
        "QR", "https://example.com/01/x"
    )


QR_READ = CameraRead("QR", "A")
EAN_READ = CameraRead("EAN_13", "4006381333931", "04006381333931")


def test_debouncer_reports_a_code_once_while_it_stays_in_view() -> None:
    debouncer = Debouncer(window_s=1.0)
    assert debouncer.update([QR_READ], now=0.0) == [QR_READ]
    for step in range(1, 50):  # seen in every frame for 5 s
        assert debouncer.update([QR_READ], now=step * 0.1) == []


def test_debouncer_bridges_frames_that_missed_the_code() -> None:
    debouncer = Debouncer(window_s=1.0)
    assert debouncer.update([QR_READ], now=0.0) == [QR_READ]
    assert debouncer.update([], now=0.5) == []
    assert debouncer.update([QR_READ], now=0.9) == []


def test_debouncer_reports_again_after_the_code_was_gone_for_the_window() -> None:
    debouncer = Debouncer(window_s=1.0)
    debouncer.update([QR_READ], now=0.0)
    assert debouncer.update([], now=0.8) == []
    assert debouncer.update([QR_READ], now=1.5) == [QR_READ]


def test_debouncer_tracks_codes_independently() -> None:
    debouncer = Debouncer(window_s=1.0)
    assert debouncer.update([QR_READ], now=0.0) == [QR_READ]
    assert debouncer.update([QR_READ, EAN_READ], now=0.1) == [EAN_READ]
    assert debouncer.update([EAN_READ], now=0.2) == []
