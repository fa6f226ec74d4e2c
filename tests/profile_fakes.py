"""A fake clock and a classifier whose 'latency' is a known curve, for profiler unit tests.

The classifier advances the clock instead of computing: the sweep, the fits and the closed
loop then run against exactly known latencies, with no timing in the test itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge_fer.classes import CLASS_NAMES
from edge_fer.errors import ModelError
from edge_fer.preprocess import Preprocessing
from edge_fer.runtimes.base import Classifier, ModelInfo


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CurveClassifier(Classifier):
    """'Runs' at `latency_ms(r)` per call by advancing the fake clock; too small -> ModelError."""

    key = "tflite"

    def __init__(self, clock: FakeClock, latency_ms: Callable[[int], float],
                 smallest: int = 1) -> None:
        super().__init__(ModelInfo(CLASS_NAMES, 48, Preprocessing(), "fake-net"))
        self.clock = clock
        self.latency_ms = latency_ms
        self.smallest = smallest
        self._resolution = 48
        self.visited: list[int] = []  # set_resolution calls, in order
        self.calls = 0

    def _resize_input(self, resolution: int) -> None:
        if resolution < self.smallest:
            raise ModelError(f"cannot resize the input to {resolution} px")
        self.visited.append(resolution)

    def _predict(self, faces: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.clock.advance(self.latency_ms(self._resolution) / 1000.0)
        return np.full((len(faces), len(CLASS_NAMES)), 1 / len(CLASS_NAMES), np.float32)


def convnet_ms(r: int) -> float:
    """A clean convnet-shaped latency: overhead plus cost ~ r^2."""
    return 0.5 + 0.0004 * r * r
