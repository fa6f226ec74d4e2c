"""One frame's analysis: detect faces, crop them, classify them in one batch, track them.

Kept apart from the runner's loop so it can be driven (and timed) frame by frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edge_fer.crop import CropConfig, prepare_faces
from edge_fer.detectors.base import FaceDetector
from edge_fer.runtimes.base import Classifier
from edge_fer.tracking import Tracker
from edge_fer.tta import framings


@dataclass(frozen=True)
class Face:
    """A classified face: its track, box [x, y, w, h] and (smoothed) class probabilities."""

    track_id: int
    box: tuple[int, int, int, int]
    probs: np.ndarray
    label: str
    confidence: float


@dataclass(frozen=True)
class FrameResult:
    faces: list[Face]
    detect_ms: float
    crop_ms: float
    classify_ms: float


class FramePipeline:
    """detector -> crop -> classifier (one batch per frame, the faces due) -> tracker."""

    def __init__(self, detector: FaceDetector, classifier: Classifier, tracker: Tracker,
                 crop: CropConfig | None = None) -> None:
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self.crop = crop or CropConfig(shift=detector.crop_shift, align=detector.align)
        self.class_names = classifier.info.class_names
        # A TTA's framings are spread over a face's frames, one a frame (edge_fer.tta): a
        # frame costs flip's two images a face, and the tracker averages the last `_window`.
        self._window = framings(classifier.info.tta)

    def warm_up(self, frame_size: tuple[int, int] = (640, 480)) -> None:
        """Run each stage once on blank input: the first call of a runtime (graph tracing,
        memory planning) can take seconds, which belongs before READY, not in the first frame."""
        w, h = frame_size
        self.detector.detect(np.zeros((h, w, 3), np.uint8))
        r = self.classifier.resolution
        self.classifier.predict(np.zeros((1, r, r), np.uint8))

    def analyze(self, image: np.ndarray) -> FrameResult:
        t0 = time.perf_counter()
        detections = self.detector.detect(image)
        t1 = time.perf_counter()
        boxes = [d.box for d in detections]
        plan = self.tracker.schedule(boxes)  # per face: None, or its classifications so far
        todo = [d for d, n in zip(detections, plan) if n is not None]
        batch = prepare_faces(image, todo, self.classifier.resolution, self.crop,
                              self.classifier.info.preprocessing)
        t2 = time.perf_counter()
        framing = [n for n in plan if n is not None]  # the n-th classification: framing n
        rows = iter(self.classifier.predict(batch, framing) if todo else ())
        t3 = time.perf_counter()
        tracked = self.tracker.update(boxes, [None if n is None else next(rows) for n in plan],
                                      self._window)
        faces = []
        for t in tracked:
            best = int(np.argmax(t.probs))
            faces.append(Face(t.track_id, t.box, t.probs, self.class_names[best],
                              float(t.probs[best])))
        return FrameResult(faces, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)
