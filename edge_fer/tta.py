"""Test-time augmentation: the inference policies a model file may record, and what they do.

A model's TTA is part of how it must be run (like its preprocessing), so the card and the
manifest record it and `Classifier.predict` applies it: every runtime and every command that
times `predict` (profile, bench, the camera loop) gets it and counts its cost. Its own module
because the card, the manifest and the runtimes all validate against it, and the runtime base
imports the card.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# none: the faces as given; flip: the mean of a face's and its mirror image's probabilities
# (FER faces are roughly symmetric, and the training augmentation mirrors them too).
TTA_MODES = ("none", "flip")


def parse_tta(value: object) -> str:
    """A TTA mode read from a file or an option; ValueError (with the choices) when unknown."""
    if value not in TTA_MODES:
        raise ValueError(f"unknown tta {value!r} (expected one of {', '.join(TTA_MODES)})")
    return str(value)


def images_per_face(tta: str) -> int:
    """How many images one face becomes in the classifier's batch."""
    return 2 if tta == "flip" else 1


def apply_tta(tta: str, predict: Callable[[np.ndarray], np.ndarray],
              faces: np.ndarray) -> np.ndarray:
    """(N, r, r) faces -> (N, K) float32 probabilities under `tta`, with ONE call of `predict`.

    Why one call: the faces and their mirrors go through the backend as one batch of 2N, so
    a runtime pays one invocation (not two) and its timing covers the whole cost.
    """
    if parse_tta(tta) == "none":
        return predict(faces)
    n = len(faces)  # "flip"
    both = np.concatenate([faces, faces[:, :, ::-1]])  # a new, C-contiguous array
    probs = predict(both)
    return ((probs[:n] + probs[n:]) / 2).astype(np.float32)
