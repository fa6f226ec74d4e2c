"""Training-time augmentation of 48x48 faces, in NumPy and OpenCV (no deep-learning framework).

Why not in the framework's graph: the same code then feeds Keras on any backend (TensorFlow
on the workstation's CPU, PyTorch or JAX on a GPU box), and it is testable without either.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and cv2 load where faces are augmented: `train --help` lists PRESETS
    import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """Random affine strength (degrees, fractions of the side, shear in radians) and flips."""

    rotation_deg: float = 40.0
    shift: float = 0.25
    shear: float = 0.25
    zoom: float = 0.25
    flip: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# "paper" follows seed paper 001 (ImageDataGenerator settings, fill mode nearest).
PRESETS: dict[str, Augmentation | None] = {
    "paper": Augmentation(40.0, 0.25, 0.25, 0.25, True),
    "medium": Augmentation(20.0, 0.15, 0.15, 0.15, True),
    "light": Augmentation(10.0, 0.1, 0.05, 0.1, True),
    "none": None,
}


def _affine(rng: np.random.Generator, n: int, aug: Augmentation, side: int) -> np.ndarray:
    """(n, 2, 3) maps from output to input pixel coordinates of a side x side face.

    A = R(theta) @ Shear(shear) @ diag(zx, zy) about the centre, then a shift; a flip mirrors
    the output column.
    """
    import numpy as np

    def uniform(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, n)

    theta = uniform(-1.0, 1.0) * math.radians(aug.rotation_deg)
    shear = uniform(-aug.shear, aug.shear)
    zx = uniform(1.0 - aug.zoom, 1.0 + aug.zoom)
    zy = uniform(1.0 - aug.zoom, 1.0 + aug.zoom)
    tx = uniform(-aug.shift, aug.shift) * side
    ty = uniform(-aug.shift, aug.shift) * side
    cos, sin = np.cos(theta), np.sin(theta)
    m = np.empty((n, 2, 3))
    m[:, 0, 0] = cos * zx
    m[:, 0, 1] = (-cos * np.sin(shear) - sin * np.cos(shear)) * zy
    m[:, 1, 0] = sin * zx
    m[:, 1, 1] = (-sin * np.sin(shear) + cos * np.cos(shear)) * zy
    c = (side - 1) / 2.0
    m[:, 0, 2] = c - m[:, 0, 0] * c - m[:, 0, 1] * c + tx
    m[:, 1, 2] = c - m[:, 1, 0] * c - m[:, 1, 1] * c + ty
    if aug.flip:
        flip = rng.random(n) < 0.5  # x_out -> side - 1 - x_out before the transform
        m[flip, :, 2] += m[flip, :, 0] * (side - 1)
        m[flip, :, 0] *= -1
    return m


def augment_faces(faces: np.ndarray, aug: Augmentation | None, size: int,
                  rng: np.random.Generator) -> np.ndarray:
    """(B, s, s) uint8 faces -> (B, size, size) float32 0..255, each with its own random affine
    transform (border pixels repeated) and resized in the same bilinear warp."""
    import cv2
    import numpy as np

    b, side = faces.shape[0], faces.shape[1]
    m = _affine(rng, b, aug, side) if aug is not None else np.tile(
        np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (b, 1, 1))
    # Output pixel u of `size` sits at (u + 0.5) * s / size - 0.5 on the face's own grid
    # (the pixel-centre convention of cv2.resize), then goes through the face's transform.
    scale = side / size
    lin = m[:, :, :2] * scale
    off = m[:, :, 2] + m[:, :, :2].sum(axis=2) * (0.5 * scale - 0.5)
    out = np.empty((b, size, size), np.float32)
    for i in range(b):
        warp = np.concatenate([lin[i], off[i][:, None]], axis=1)
        out[i] = cv2.warpAffine(faces[i], warp, (size, size),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


def erase_batch(images: np.ndarray, probability: float, rng: np.random.Generator) -> np.ndarray:
    """Random erasing: with `probability`, one rectangle of each (B, H, W) image becomes noise.

    Why: a face with its mouth or an eye hidden still has to be read from the rest, which
    keeps the network from leaning on one region (Zhong et al. 2017). The rectangle covers
    2-25% of the image with an aspect ratio of 0.3-3.3; the noise is uniform over 0-255.
    """
    import numpy as np

    out = images.copy()
    b, h, w = images.shape
    area = rng.uniform(0.02, 0.25, b) * h * w
    aspect = np.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3), b))
    eh = np.minimum(np.sqrt(area * aspect), h)
    ew = np.minimum(np.sqrt(area / aspect), w)
    y0 = rng.random(b) * (h - eh)
    x0 = rng.random(b) * (w - ew)
    chosen = rng.random(b) < probability
    ys, xs = np.arange(h), np.arange(w)
    for i in np.flatnonzero(chosen):
        rows = (ys >= y0[i]) & (ys < y0[i] + eh[i])
        cols = (xs >= x0[i]) & (xs < x0[i] + ew[i])
        box = np.ix_(rows, cols)
        out[i][box] = rng.uniform(0.0, 255.0, (int(rows.sum()), int(cols.sum())))
    return out


def mixup_batch(images: np.ndarray, targets: np.ndarray, weights: np.ndarray, alpha: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mixup: each image blended with another of its batch, its target and weight alike.

    Why: a convex mix of two faces with the same mix of their targets penalises
    over-confident, sharply bounded decisions (Zhang et al. 2018), the overfitting a
    long run shows as training accuracy pulling away from validation. Each image takes
    lam ~ Beta(alpha, alpha), folded to >= 0.5 so that it stays mostly itself.
    """
    import numpy as np

    b = images.shape[0]
    lam = rng.beta(alpha, alpha, b)
    lam = np.maximum(lam, 1.0 - lam).astype(np.float32)
    partner = rng.permutation(b)
    li = lam.reshape((b,) + (1,) * (images.ndim - 1))
    mixed = li * images + (1.0 - li) * images[partner]
    mixed_targets = lam[:, None] * targets + (1.0 - lam[:, None]) * targets[partner]
    mixed_weights = lam * weights + (1.0 - lam) * weights[partner]
    return (mixed.astype(np.float32), mixed_targets.astype(np.float32),
            mixed_weights.astype(np.float32))
