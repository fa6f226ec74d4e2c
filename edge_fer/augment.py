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
