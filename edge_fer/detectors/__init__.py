"""Face detectors behind one interface, chosen by key: haar (OpenCV) or mtcnn (needs TensorFlow)."""

from __future__ import annotations

import importlib

from edge_fer.detectors.base import Detection, DetectorConfig, FaceDetector
from edge_fer.errors import UserInputError

# key -> (module, class); a backend is imported only when chosen (mtcnn pulls in TensorFlow).
DETECTORS: dict[str, tuple[str, str]] = {
    "haar": ("edge_fer.detectors.haar", "HaarDetector"),
    "mtcnn": ("edge_fer.detectors.mtcnn", "MTCNNDetector"),
}


def load_detector(key: str, config: DetectorConfig | None = None) -> FaceDetector:
    """The detector named `key`, ready to use."""
    if key not in DETECTORS:
        raise UserInputError(f"unknown detector '{key}' (choose from {', '.join(DETECTORS)})")
    module_name, class_name = DETECTORS[key]
    cls = getattr(importlib.import_module(module_name), class_name)
    config = config or DetectorConfig()
    detector: FaceDetector = cls(config)
    if config.full_frame_every > 1:
        from edge_fer.detectors.guided import GuidedDetector

        detector = GuidedDetector(detector)
    return detector


__all__ = ["DETECTORS", "Detection", "DetectorConfig", "FaceDetector", "load_detector"]
