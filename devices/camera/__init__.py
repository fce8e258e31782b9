"""Cameras: QR and EAN/UPC codes read from a camera or a video file with OpenCV.

``decode`` (pure: ``FrameDecoder``, ``Debouncer``, ``CameraRead``), ``transport``
(``cv2.VideoCapture``), ``client`` (``CameraClient``, what the agent calls).
"""

from devices.camera.client import CameraClient
from devices.camera.decode import CameraRead, Debouncer, FrameDecoder

__all__ = ["CameraClient", "CameraRead", "Debouncer", "FrameDecoder"]
