"""Scoring on detected faces: each labelled face is placed in a frame, found by a face detector
and cropped as `edge-fer run` crops it (`edge_fer.crop`), so the detector's framing (and the
landmark alignment) is part of the score, and a face it misses counts against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_fer.classes import CLASS_NAMES
from edge_fer.crop import CropConfig, prepare_faces
from edge_fer.data import FaceDataset
from edge_fer.detectors.base import FaceDetector
from edge_fer.evaluation import require_canonical_classes
from edge_fer.metrics import Metrics, compute_metrics
from edge_fer.runtimes.base import Classifier
from edge_fer.synthetic import FRAME_SIZE, background, face_patch, paste
from edge_fer.tracking import iou

IOU_FOUND = 0.3  # a true face counts as found (bench/end_to_end.py's coverage too)
SIZE_RANGE = (150, 230)  # face side in a 640x480 frame: the benchmark clip's


@dataclass(frozen=True)
class DetectedScore:
    """`metrics` over the faces found; `found` of `faces` were found (IoU >= 0.3)."""

    metrics: Metrics
    faces: int
    found: int
    correct: int

    @property
    def found_rate(self) -> float:
        return self.found / self.faces if self.faces else 0.0

    @property
    def end_to_end(self) -> float:
        """Correct faces over all faces: a missed face is a wrong one."""
        return self.correct / self.faces if self.faces else 0.0


def detected_faces(detector: FaceDetector, data: FaceDataset, resolution: int,
                   crop: CropConfig, classifier: Classifier | None = None, seed: int = 0,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Which faces the detector finds (bool, N) and their crops as the classifier's input
    ((found, r, r) uint8). Each face sits alone in its own frame, 150-230 px, anywhere that
    keeps it whole (seeded: the same frames for every detector)."""
    rng = np.random.default_rng(seed)
    bg = background()
    w, h = FRAME_SIZE
    spec = classifier.info.preprocessing if classifier is not None else None
    found = np.zeros(len(data), bool)
    crops = []
    for i, image in enumerate(data.images):
        px = int(rng.integers(SIZE_RANGE[0], SIZE_RANGE[1] + 1))
        x, y = int(rng.integers(0, w - px)), int(rng.integers(0, h - px))
        patch, pad = face_patch(image, px)
        frame = bg.copy()
        paste(frame, patch, (x - pad, y - pad))
        truth = (x, y, px, px)
        best = max(detector.detect(frame), key=lambda d: iou(d.box, truth), default=None)
        if best is None or iou(best.box, truth) < IOU_FOUND:
            continue
        found[i] = True
        crops.append(prepare_faces(frame, [best], resolution, crop, spec)[0])
    return found, np.asarray(crops, np.uint8).reshape(-1, resolution, resolution)


def evaluate_detected(classifier: Classifier, data: FaceDataset, detector: FaceDetector,
                      crop: CropConfig, batch_size: int = 64) -> DetectedScore:
    """The classifier's metrics on the faces `detector` finds, cropped with `crop`."""
    require_canonical_classes(classifier)
    found, crops = detected_faces(detector, data, classifier.resolution, crop, classifier)
    probs = [classifier.predict(crops[i:i + batch_size]) for i in range(0, len(crops), batch_size)]
    predicted = (np.concatenate(probs).argmax(axis=1) if probs
                 else np.zeros(0, np.int64))
    labels = data.labels[found]
    return DetectedScore(compute_metrics(labels, predicted, CLASS_NAMES), len(data),
                         int(found.sum()), int((predicted == labels).sum()))
