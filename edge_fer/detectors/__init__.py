"""Face detectors behind one interface, chosen by key (edge_fer.backends.DETECTORS).

Device side. A backend is imported only when chosen (mtcnn pulls in TensorFlow).
"""

from __future__ import annotations

from edge_fer.backends import DETECTORS
from edge_fer.detectors.base import Detection, DetectorConfig, FaceDetector


def load_detector(key: str, config: DetectorConfig | None = None) -> FaceDetector:
    """The detector named `key`, ready to use."""
    cls = DETECTORS.load(key)
    config = config or DetectorConfig()
    detector: FaceDetector = cls(config)
    if config.full_frame_every > 1:
        from edge_fer.detectors.guided import GuidedDetector

        detector = GuidedDetector(detector)
    return detector


__all__ = ["DETECTORS", "Detection", "DetectorConfig", "FaceDetector", "load_detector"]
