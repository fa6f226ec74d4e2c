"""Building the EfficientNetV2 emotion classifier (needs TensorFlow: workstation side only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_fer.errors import UserInputError
from edge_fer.runtimes.keras_runtime import import_tensorflow

# CLI key -> keras.applications constructor. Same key in cards, profiles and the CLI.
ARCHS: dict[str, str] = {
    "efficientnetv2-b0": "EfficientNetV2B0",
    "efficientnetv2-b1": "EfficientNetV2B1",
    "efficientnetv2-b2": "EfficientNetV2B2",
    "efficientnetv2-b3": "EfficientNetV2B3",
    "efficientnetv2-s": "EfficientNetV2S",
}


def resolve_weights(weights: str) -> str | None:
    """`none` -> None, `imagenet` -> 'imagenet' (needs internet), else an existing local file."""
    if weights == "none":
        return None
    if weights == "imagenet":
        return "imagenet"
    p = Path(weights)
    if not p.is_file():
        raise UserInputError(f"{weights}: weights must be 'none', 'imagenet' or an existing "
                             "weights file (an EfficientNetV2 backbone without top, .h5/.weights.h5)")
    return str(p)


def build_model(arch: str = "efficientnetv2-b0", num_classes: int = 7, weights: str = "none",
                dropout: float = 0.3, resolution: int | None = None) -> Any:
    """EfficientNetV2 backbone -> global average pooling -> dropout -> softmax.

    The input is (None, None, 3) float 0..255 so one model runs at any resolution; the
    backbone's own preprocessing layer rescales it. `resolution` only matters for ImageNet
    weights, which Keras checks against a concrete size.
    """
    if arch not in ARCHS:
        raise UserInputError(f"unknown architecture '{arch}' (choose from {', '.join(ARCHS)})")
    tf = import_tensorflow()
    keras = tf.keras
    constructor = getattr(keras.applications, ARCHS[arch])
    inputs = keras.Input(shape=(None, None, 3), name="face")
    try:
        backbone = constructor(include_top=False, weights=resolve_weights(weights),
                               input_tensor=inputs, include_preprocessing=True)
    except Exception as e:  # a download failure offline, or a weights file of the wrong shape
        first = str(e).split("\n")[0]
        raise UserInputError(f"cannot build {arch} with weights '{weights}': {first}") from None
    x = keras.layers.GlobalAveragePooling2D(name="gap")(backbone.output)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probs",
                                 dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"edge_fer_{arch.replace('-', '_')}")


def save_for_inference(model: Any, path: str | Path) -> None:
    """Save the weights and graph without the optimizer's state.

    Adam keeps two moments per weight, so a compiled model's file is three times the size of
    what inference needs (72 MB instead of 24 MB for B0); resuming uses the checkpoint instead.
    """
    tf = import_tensorflow()
    bare = tf.keras.models.clone_model(model)
    bare.set_weights(model.get_weights())
    bare.save(path)
