"""CameraClient on a real MJPG video file written with cv2.VideoWriter, standing in for a
camera: what the agent gets when a customer holds up a QR code, then a product."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.camera.client import CameraClient
from devices.camera.decode import CameraRead
from devices.errors import DeviceUnavailable
from tests.devices.camera.images import blank, frame, linear_code, qr_code, write_video

PICKUP = "https://id.gs1.org/01/09501101530003/21/PICKUP-42"
QR_READ = CameraRead("QR", PICKUP, "09501101530003")
EAN_READ = CameraRead("EAN_13", "4006381333931", "04006381333931")


def shelf_video(path: Path) -> Path:
    """10 fps: 1 s of a QR code, 0.4 s of nothing, 1 s of an EAN-13, 0.4 s of nothing."""
    qr = qr_code(PICKUP, module_px=5)
    ean = linear_code("4006381333931")
    frames = [frame(qr, seed=i) for i in range(10)]
    frames += [blank(seed=100 + i) for i in range(4)]
    frames += [frame(ean, seed=200 + i) for i in range(10)]
    frames += [blank(seed=300 + i) for i in range(4)]
    return write_video(path, frames)


def read_to_the_end(camera: CameraClient) -> list[CameraRead]:
    reads: list[CameraRead] = []
    ended: list[str] = []
    for _ in range(1000):
        try:
            reads += camera.read(timeout=1.0)
        except DeviceUnavailable as exc:
            ended.append(str(exc))
            break
    assert ended, "the video never ended"
    assert "end of video file" in ended[0]
    return reads


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return shelf_video(tmp_path / "shelf.avi")


def test_each_code_is_reported_once(video: Path) -> None:
    with CameraClient(str(video), debounce_s=1.0) as camera:
        assert read_to_the_end(camera) == [QR_READ, EAN_READ]
        assert camera.stats.frames == 2
        assert camera.frames_decoded == 28
        assert not camera.is_open


def test_every_nth_frame_decodes_fewer_frames_and_still_sees_both(video: Path) -> None:
    with CameraClient(str(video), every_nth_frame=3) as camera:
        assert read_to_the_end(camera) == [QR_READ, EAN_READ]
        assert camera.frames_decoded == 10  # frames 0, 3, 6, ... 27


def test_a_code_that_comes_back_after_the_window_is_reported_again(tmp_path: Path) -> None:
    qr = qr_code(PICKUP, module_px=5)
    frames = [frame(qr, seed=i) for i in range(3)]
    frames += [blank(seed=i) for i in range(8)]  # 0.8 s out of view
    frames += [frame(qr, seed=50 + i) for i in range(3)]
    path = write_video(tmp_path / "twice.avi", frames)
    with CameraClient(str(path), debounce_s=0.5) as camera:
        assert read_to_the_end(camera) == [QR_READ, QR_READ]
    with CameraClient(str(path), debounce_s=2.0) as camera:
        assert read_to_the_end(camera) == [QR_READ]


def test_reopening_a_file_plays_it_again(video: Path) -> None:
    with CameraClient(str(video)) as camera:
        assert read_to_the_end(camera) == [QR_READ, EAN_READ]
        camera.open()
        assert read_to_the_end(camera) == [QR_READ, EAN_READ]


def test_read_gives_up_at_the_deadline(tmp_path: Path) -> None:
    path = write_video(tmp_path / "empty-shelf.avi", [blank(seed=i) for i in range(30)])
    with CameraClient(str(path)) as camera:
        assert camera.read(timeout=0.0) == []  # one frame looked at, nothing new
        assert camera.frames_decoded == 1


def test_a_missing_source_is_unavailable(tmp_path: Path) -> None:
    camera = CameraClient(str(tmp_path / "no-such-file.avi"))
    with pytest.raises(DeviceUnavailable):
        camera.open()
    with pytest.raises(DeviceUnavailable, match="not open"):
        camera.read(timeout=0.1)
    camera.close()


def test_a_file_that_is_not_a_video_is_unavailable(tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(DeviceUnavailable):
        CameraClient(str(junk)).open()
