"""Building the EfficientNetV2 emotion classifier (needs TensorFlow: workstation side only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_fer.errors import UserInputError
from edge_fer.runtimes.keras_runtime import import_tensorflow, load_keras_model

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
        raise UserInputError(f"{weights}: weights must be 'none', 'imagenet', an existing "
                             "backbone weights file (.h5/.weights.h5, without top) or a trained "
                             "edge-fer model (.keras)")
    return str(p)


def is_trained_model(weights: str) -> bool:
    """A `.keras` file is a whole edge-fer model to fine-tune, not a backbone weights file."""
    return weights.endswith(".keras")


def _warm_start(model: Any, path: str) -> None:
    """Copy every weight of a trained edge-fer model into `model` (same arch and classes).

    The network is fully convolutional, so a model trained at one resolution fine-tunes at
    another: a device whose profile picks 96 px starts from the 64 px default, not from scratch.
    """
    theirs, ours = load_keras_model(path).get_weights(), model.get_weights()
    if [w.shape for w in theirs] != [w.shape for w in ours]:
        raise UserInputError(f"{path}: its layers do not match {model.name} (another "
                             "architecture or number of classes)")
    model.set_weights(theirs)


def build_model(arch: str = "efficientnetv2-b0", num_classes: int = 7, weights: str = "none",
                dropout: float = 0.3, resolution: int | None = None) -> Any:
    """EfficientNetV2 backbone -> global average pooling -> dropout -> softmax.

    The input is (None, None, 3) float 0..255 so one model runs at any resolution; the
    backbone's own preprocessing layer rescales it. `resolution` only matters for ImageNet
    weights, which Keras checks against a concrete size. `weights` may also name a trained
    edge-fer model (.keras) whose every weight, head included, starts the new one.
    """
    if arch not in ARCHS:
        raise UserInputError(f"unknown architecture '{arch}' (choose from {', '.join(ARCHS)})")
    tf = import_tensorflow()
    keras = tf.keras
    constructor = getattr(keras.applications, ARCHS[arch])
    inputs = keras.Input(shape=(None, None, 3), name="face")
    init = resolve_weights(weights)
    warm = init is not None and is_trained_model(init)
    try:
        backbone = constructor(include_top=False, weights=None if warm else init,
                               input_tensor=inputs, include_preprocessing=True)
    except Exception as e:  # a download failure offline, or a weights file of the wrong shape
        first = str(e).split("\n")[0]
        raise UserInputError(f"cannot build {arch} with weights '{weights}': {first}") from None
    x = keras.layers.GlobalAveragePooling2D(name="gap")(backbone.output)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probs",
                                 dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=f"edge_fer_{arch.replace('-', '_')}")
    if warm:
        _warm_start(model, str(init))
    return model


def save_for_inference(model: Any, path: str | Path) -> None:
    """Save the weights and graph without the optimizer's state.

    Adam keeps two moments per weight, so a compiled model's file is three times the size of
    what inference needs (72 MB instead of 24 MB for B0); resuming uses the checkpoint instead.
    """
    tf = import_tensorflow()
    bare = tf.keras.models.clone_model(model)
    bare.set_weights(model.get_weights())
    bare.save(path)
