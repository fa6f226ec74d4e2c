"""One frame's analysis: detect faces, track them, crop and classify the faces due in one
batch, and average each face's results.

Kept apart from the runner's loop so it can be driven (and timed) frame by frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edge_fer.crop import CropConfig, prepare_faces
from edge_fer.detectors.base import FaceDetector
from edge_fer.runtimes.base import Classifier
from edge_fer.schedule import FaceSchedule, ScheduleConfig
from edge_fer.tracking import Tracker
from edge_fer.tta import classify_framings


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
    """detector -> tracker (ids) -> schedule (who is due, in which framing) -> crop ->
    classifier (one plain batch a frame) -> schedule (each face's average).

    `schedule` defaults to the classifier's TTA with the default pacing and smoothing; one
    given must run the classifier's TTA."""

    def __init__(self, detector: FaceDetector, classifier: Classifier, tracker: Tracker,
                 crop: CropConfig | None = None, schedule: FaceSchedule | None = None) -> None:
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self.crop = crop or CropConfig(shift=detector.crop_shift, align=detector.align)
        self.schedule = schedule or FaceSchedule(ScheduleConfig(tta=classifier.info.tta))
        if self.schedule.config.tta != classifier.info.tta:
            raise ValueError(f"the schedule spreads tta {self.schedule.config.tta}, the "
                             f"classifier runs tta {classifier.info.tta}")
        self.class_names = classifier.info.class_names

    def reset(self) -> None:
        """Forget every face (after a camera outage the old boxes mean nothing)."""
        self.tracker.reset()
        self.schedule.reset()

    def warm_up(self, frame_size: tuple[int, int] = (640, 480)) -> None:
        """Run each stage once on blank input, the classifier on the batches a frame sends for
        one face and for two: a runtime's first call of a size (graph tracing, OpenVINO's
        compilation of its dynamic request) can take seconds, which belongs before READY, not
        in the first frame."""
        w, h = frame_size
        self.detector.detect(np.zeros((h, w, 3), np.uint8))
        r = self.classifier.resolution
        for n in (1, 2):
            self._classify(np.zeros((n, r, r), np.uint8), [0] * n)

    def _classify(self, faces: np.ndarray, framing: list[int]) -> np.ndarray:
        """(N, r, r) faces, each in its framing -> (N, K): one plain batch for the runtime."""
        return classify_framings(self.schedule.config.tta, self.classifier.infer, faces, framing)

    def analyze(self, image: np.ndarray) -> FrameResult:
        t0 = time.perf_counter()
        detections = self.detector.detect(image)
        t1 = time.perf_counter()
        boxes = [d.box for d in detections]
        ids = self.tracker.assign(boxes)
        self.schedule.retain(self.tracker.ids)
        plan = self.schedule.plan(ids)  # per face: its framing this frame, or None (not due)
        todo = [d for d, k in zip(detections, plan) if k is not None]
        batch = prepare_faces(image, todo, self.classifier.resolution, self.crop,
                              self.classifier.info.preprocessing)
        t2 = time.perf_counter()
        rows = iter(self._classify(batch, [k for k in plan if k is not None]) if todo else ())
        t3 = time.perf_counter()
        probs = self.schedule.record(ids, [None if k is None else next(rows) for k in plan])
        faces = []
        for track_id, box, p in zip(ids, boxes, probs):
            best = int(np.argmax(p))
            faces.append(Face(track_id, box, p, self.class_names[best], float(p[best])))
        return FrameResult(faces, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)
