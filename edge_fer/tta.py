"""Test-time augmentation: the inference policies a model file may record, and what they do.

A model's TTA is part of how it must be run (like its preprocessing), so the card and the
manifest record it and `Classifier.predict` applies it: every runtime and every command that
times `predict` (profile, bench, the camera loop) gets it and counts its cost. Its own module
because the card, the manifest and the runtimes all validate against it, and the runtime base
imports the card.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and cv2 load where views are made: the CLI's option lists import this
    import numpy as np

# none: the faces as given; flip: the mean of a face's and its mirror image's probabilities
# (FER faces are roughly symmetric, and the training augmentation mirrors them too);
# zooms: flip over the face and two re-framings of it (zoomed 10% in and out), 6 images a face;
# crops: flip over the face and six re-framings of it (zoomed 10% in and out, shifted by a
# sixteenth of the side in the four directions), 14 images a face. The re-framings stay well
# inside the training augmentation's range (zoom and shift up to 15%), and they stand for
# what a face detector's box does from frame to frame. zooms keeps the two re-framings that
# carry most of crops' gain on validation, at 3/7 of its cost when run at once (docs/tta.md).
TTA_MODES = ("none", "flip", "zooms", "crops")

# The camera loop spreads a mode's framings over a tracked face's frames (edge_fer.schedule):
# a frame then costs flip's two images a face whatever the mode.

# (zoom, shift x, shift y) as fractions of the side: the views besides the face itself.
_CROPS = ((1.1, 0.0, 0.0), (0.9, 0.0, 0.0), (1.0, 0.0625, 0.0), (1.0, -0.0625, 0.0),
          (1.0, 0.0, 0.0625), (1.0, 0.0, -0.0625))
_REFRAMINGS = {"flip": (), "zooms": _CROPS[:2], "crops": _CROPS}  # none: the faces alone


def parse_tta(value: object) -> str:
    """A TTA mode read from a file or an option; ValueError (with the choices) when unknown."""
    if value not in TTA_MODES:
        raise ValueError(f"unknown tta {value!r} (expected one of {', '.join(TTA_MODES)})")
    return str(value)


def framings(tta: str) -> int:
    """How many framings (the face and its re-framings) a mode averages; 1 for none and flip."""
    mode = parse_tta(tta)
    return 1 + len(_REFRAMINGS.get(mode, ()))


def images_per_frame(tta: str) -> int:
    """How many images one face becomes when its framings are spread over frames."""
    return 1 if parse_tta(tta) == "none" else 2


def _reframe(faces: np.ndarray, zoom: float, dx: float, dy: float) -> np.ndarray:
    """Each (r, r) face zoomed about its centre and shifted (fractions of r); edges replicated."""
    import cv2
    import numpy as np

    r = faces.shape[-1]
    c = (r - 1) / 2.0
    m = np.array([[zoom, 0.0, c - zoom * c + dx * r], [0.0, zoom, c - zoom * c + dy * r]],
                 np.float32)
    return np.stack([cv2.warpAffine(f, m, (r, r), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE) for f in faces])


def tta_views(tta: str, faces: np.ndarray) -> np.ndarray:
    """(N, r, r) faces -> (V*N, r, r): view v of face i at row v*N + i (view 0 = the faces)."""
    import numpy as np

    mode = parse_tta(tta)
    if mode == "none":
        return faces
    framed = [faces] + [_reframe(faces, *v) for v in _REFRAMINGS[mode]]
    views = framed + [f[:, :, ::-1] for f in framed]
    return np.concatenate(views)  # a new, C-contiguous array


def framing_views(tta: str, faces: np.ndarray, framing: Sequence[int] | None = None,
                  ) -> np.ndarray:
    """(N, r, r) faces -> (images_per_frame*N, r, r): face i in its framing `framing[i]`
    (0: as given, the default for every face; modulo framings(tta)) at row i, and its mirror
    at row N + i under any TTA. One frame's batch (see `classify_framings`)."""
    mode = parse_tta(tta)
    if framing is None:
        framing = [0] * len(faces)
    if len(framing) != len(faces):
        raise ValueError(f"{len(faces)} faces but {len(framing)} framings")
    if mode == "none":
        return faces
    import numpy as np

    ks = np.asarray(framing, dtype=np.int64) % framings(mode)
    views = faces.copy()
    for k in set(ks.tolist()) - {0}:  # framing k >= 1 is re-framing k - 1
        views[ks == k] = _reframe(faces[ks == k], *_REFRAMINGS[mode][k - 1])
    return np.concatenate([views, views[:, :, ::-1]])


def classify_framings(tta: str, infer: Callable[[np.ndarray], np.ndarray], faces: np.ndarray,
                      framing: Sequence[int] | None = None) -> np.ndarray:
    """(N, r, r) faces -> (N, K): each face's probabilities in its framing (the mean with its
    mirror's under any TTA), from ONE call of `infer` on the `framing_views` batch: a frame's
    share of the mode's work, as the camera loop and the profiler pay it."""
    probs = infer(framing_views(tta, faces, framing))
    if parse_tta(tta) == "none":
        return probs
    return _mean_over_views(probs, len(faces))


def apply_tta(tta: str, predict: Callable[[np.ndarray], np.ndarray],
              faces: np.ndarray) -> np.ndarray:
    """(N, r, r) faces -> (N, K) float32 probabilities under `tta`, with ONE call of `predict`.

    Why one call: all views of all faces go through the backend as one batch, so a runtime
    pays one invocation (not one per view) and its timing covers the whole cost.
    """
    if parse_tta(tta) == "none":
        return predict(faces)
    return _mean_over_views(predict(tta_views(tta, faces)), len(faces))


def _mean_over_views(probs: np.ndarray, n: int) -> np.ndarray:
    """(V*N, K) probabilities, view v of face i at row v*N + i -> (N, K) means."""
    import numpy as np

    return probs.reshape(-1, n, probs.shape[-1]).mean(axis=0).astype(np.float32)
