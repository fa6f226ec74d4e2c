"""What a profile times: the classifier alone on prepared faces, or the whole pipeline on a
synthetic frame (detect, crop, classify), behind one `Workload` interface."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Protocol

import numpy as np

from edge_fer.preprocess import Preprocessing, prepare_batch
from edge_fer.tta import classify_framings

if TYPE_CHECKING:
    from edge_fer.profiling.schema import SweepSettings
    from edge_fer.runtimes.base import Classifier


class Workload(Protocol):
    """One timed call at a resolution chosen beforehand with `prepare`."""

    def prepare(self, resolution: int) -> None: ...

    def __call__(self) -> object: ...


class ClassifierWorkload:
    """The classifier alone on a batch of prepared faces (random pixels: speed only), each
    face in one framing of the TTA, as the camera loop runs it on each frame (edge_fer.tta)."""

    def __init__(self, classifier: Classifier, faces: int = 1, seed: int = 0) -> None:
        self._classifier = classifier
        self._faces = faces
        self._rng = np.random.default_rng(seed)
        self._batch = np.zeros((faces, 1, 1), np.uint8)

    def prepare(self, resolution: int) -> None:
        self._classifier.set_resolution(resolution)
        self._batch = self._rng.integers(0, 256, (self._faces, resolution, resolution), np.uint8)

    def __call__(self) -> object:  # framing 0 for every face: every framing costs the same
        return classify_framings(self._classifier.info.tta, self._classifier.infer, self._batch)


Detector = Callable[[np.ndarray], object]


Box = tuple[int, int, int]  # x, y, side


class PipelineWorkload:
    """Detect faces in a frame, prepare the face crops, classify them: what a camera box pays.

    The crops are the frame's known face boxes, not the detector's finds, so the budget
    covers the same number of faces whatever the detector makes of a synthetic frame.
    """

    def __init__(self, classifier: Classifier, detector: Detector, frame: np.ndarray,
                 boxes: Sequence[Box], spec: Preprocessing | None = None) -> None:
        self._classifier = classifier
        self._detector = detector
        self._frame = frame
        self._boxes = list(boxes)
        self._spec = spec or classifier.info.preprocessing
        self._resolution = 0

    def prepare(self, resolution: int) -> None:
        self._classifier.set_resolution(resolution)
        self._resolution = resolution

    def __call__(self) -> object:
        self._detector(self._frame)
        crops = [self._frame[y:y + s, x:x + s] for x, y, s in self._boxes]
        return classify_framings(self._classifier.info.tta, self._classifier.infer,
                                 prepare_batch(crops, self._resolution, self._spec))


def synthetic_frame(width: int, height: int, faces: int = 1,
                    seed: int = 0) -> tuple[np.ndarray, list[Box]]:
    """A frame like a quiet camera scene: the synthetic clips' background and drawn faces.

    Haar's cost depends on the scene. At 640x480 on this project's 2-core VM: 2.5 ms on the
    bare gradient, 2.9 ms with one drawn face, 6.3 ms with a real FER face on it, 40-60 ms on
    noise texture. So the figure is for a quiet scene; leave room in the budget for clutter.
    Returns the frame and the faces' boxes (x, y, side).
    """
    import cv2

    from edge_fer.synthetic import background

    frame = background((width, height), seed)
    side = max(16, min(width, height) // 3)
    boxes: list[Box] = []
    for i in range(faces):
        x = (i * side) % max(1, width - side)
        y = ((i * side) // max(1, width - side) * side // 2) % max(1, height - side)
        cx, cy, r = x + side // 2, y + side // 2, side // 2
        cv2.ellipse(frame, (cx, cy), (int(r * 0.75), int(r * 0.95)), 0, 0, 360, (150, 170, 205), -1)
        for ex in (cx - r // 3, cx + r // 3):
            cv2.ellipse(frame, (ex, cy - r // 5), (r // 6, r // 10), 0, 0, 360, (40, 40, 50), -1)
        cv2.line(frame, (cx, cy - r // 10), (cx - r // 12, cy + r // 4), (110, 120, 150), 2)
        cv2.ellipse(frame, (cx, cy + r // 2), (r // 4, r // 12), 0, 0, 360, (60, 60, 120), -1)
        boxes.append((x, y, side))
    return cv2.GaussianBlur(frame, (0, 0), 1.5), boxes


def make_workload(classifier: Classifier, settings: SweepSettings,
                  resources: ExitStack) -> Workload:
    """The classifier alone, or the whole pipeline when the settings name a detector.

    A detector it opens is closed with `resources`.
    """
    pipe = settings.pipeline
    if pipe is None:
        return ClassifierWorkload(classifier, settings.faces, settings.seed)
    from edge_fer.detectors import load_detector

    detector = resources.enter_context(load_detector(pipe.detector))
    frame, boxes = synthetic_frame(pipe.frame_width, pipe.frame_height, pipe.faces, settings.seed)
    return PipelineWorkload(classifier, detector.detect, frame, boxes)


