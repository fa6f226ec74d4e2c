"""On-the-fly augmentation of 48x48 face batches in the TensorFlow graph (training only)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


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


def augment_batch(images: Any, aug: Augmentation) -> Any:
    """(B, H, W, 1) float32 -> the same, each image with its own random affine transform."""
    import tensorflow as tf

    shape = tf.shape(images)
    b = shape[0]
    h = tf.cast(shape[1], tf.float32)
    w = tf.cast(shape[2], tf.float32)

    def uniform(lo: float, hi: float) -> Any:
        return tf.random.uniform([b], lo, hi)

    theta = uniform(-1.0, 1.0) * (aug.rotation_deg * math.pi / 180.0)
    shear = uniform(-aug.shear, aug.shear)
    zx = uniform(1.0 - aug.zoom, 1.0 + aug.zoom)
    zy = uniform(1.0 - aug.zoom, 1.0 + aug.zoom)
    tx = uniform(-aug.shift, aug.shift) * w
    ty = uniform(-aug.shift, aug.shift) * h
    cos, sin = tf.cos(theta), tf.sin(theta)
    # A = R(theta) @ Shear(shear) @ diag(zx, zy): maps output to input coordinates about the centre.
    a00 = cos * zx
    a01 = (-cos * tf.sin(shear) - sin * tf.cos(shear)) * zy
    a10 = sin * zx
    a11 = (-sin * tf.sin(shear) + cos * tf.cos(shear)) * zy
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    a02 = cx - a00 * cx - a01 * cy + tx
    a12 = cy - a10 * cx - a11 * cy + ty
    zeros = tf.zeros_like(a00)
    transforms = tf.stack([a00, a01, a02, a10, a11, a12, zeros, zeros], axis=1)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=shape[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")
    if aug.flip:
        flip = tf.random.uniform([b, 1, 1, 1]) < 0.5
        out = tf.where(flip, tf.reverse(out, axis=[2]), out)
    return out


def erase_batch(images: Any, probability: float) -> Any:
    """Random erasing: with `probability`, one rectangle of each (B, H, W, 1) image becomes noise.

    Why: a face with its mouth or an eye hidden still has to be read from the rest, which
    keeps the network from leaning on one region (Zhong et al. 2017). The rectangle covers
    2-25% of the image with an aspect ratio of 0.3-3.3; the noise is uniform over 0-255.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    b = shape[0]
    h = tf.cast(shape[1], tf.float32)
    w = tf.cast(shape[2], tf.float32)
    area = tf.random.uniform([b], 0.02, 0.25) * h * w
    aspect = tf.exp(tf.random.uniform([b], math.log(0.3), math.log(1 / 0.3)))
    eh = tf.minimum(tf.sqrt(area * aspect), h)
    ew = tf.minimum(tf.sqrt(area / aspect), w)
    y0 = tf.random.uniform([b]) * (h - eh)
    x0 = tf.random.uniform([b]) * (w - ew)
    ys = tf.range(h)[None, :]
    xs = tf.range(w)[None, :]
    rows = (ys >= y0[:, None]) & (ys < (y0 + eh)[:, None])  # (B, H)
    cols = (xs >= x0[:, None]) & (xs < (x0 + ew)[:, None])  # (B, W)
    chosen = tf.random.uniform([b]) < probability
    mask = rows[:, :, None] & cols[:, None, :] & chosen[:, None, None]
    noise = tf.random.uniform(shape, 0.0, 255.0)
    return tf.where(mask[..., None], noise, images)


def mixup_batch(images: Any, targets: Any, weights: Any, alpha: float) -> tuple[Any, Any, Any]:
    """Mixup: each image blended with another of its batch, its target and weight alike.

    Why: a convex mix of two faces with the same mix of their targets penalises
    over-confident, sharply bounded decisions (Zhang et al. 2018), the overfitting a
    long run shows as training accuracy pulling away from validation. Each image takes
    lam ~ Beta(alpha, alpha), folded to >= 0.5 so that it stays mostly itself.
    """
    import tensorflow as tf

    b = tf.shape(images)[0]
    g1 = tf.random.gamma([b], alpha)
    g2 = tf.random.gamma([b], alpha)
    lam = g1 / (g1 + g2)
    lam = tf.maximum(lam, 1.0 - lam)
    partner = tf.random.shuffle(tf.range(b))
    li = lam[:, None, None, None]
    lt = lam[:, None]
    mixed = li * images + (1.0 - li) * tf.gather(images, partner)
    mixed_targets = lt * targets + (1.0 - lt) * tf.gather(targets, partner)
    mixed_weights = lam * weights + (1.0 - lam) * tf.gather(weights, partner)
    return mixed, mixed_targets, mixed_weights
