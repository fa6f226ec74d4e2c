"""Building the EfficientNetV2 emotion classifier (needs Keras: workstation or GPU box only)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from edge_fer.backends import ARCHS, OUTPUT_STRIDES
from edge_fer.errors import UserInputError
from edge_fer.runtimes.keras_runtime import import_keras, load_keras_model


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


def with_output_stride_16(model: Any) -> Any:
    """The same network with its last stage kept at twice the spatial size (output stride 16).

    A 48 px face upsampled to 64 px leaves EfficientNetV2 a 2x2 map after its stride-32 last
    stage. Here that stage's first depthwise conv runs at stride 1 and every later one is
    dilated by 2, so the stage sees a 4x4 map with the receptive fields it was trained with
    (the DeepLab atrous trick): every weight keeps its shape, a stride-32 model's weights load
    as they are, and the last stage costs 4x (the whole network about 1.4x at 64 px, int8).
    A model already at output stride 16 is returned as it is.
    """
    if output_stride(model) == 16:
        return model
    keras = import_keras()
    config = copy.deepcopy(model.get_config())
    depthwise = [layer["config"] for layer in config["layers"]
                 if layer["class_name"] == "DepthwiseConv2D"]
    strided = [i for i, c in enumerate(depthwise) if tuple(c["strides"]) == (2, 2)]
    if not strided:
        raise UserInputError(f"{model.name}: no strided depthwise convolution to undo")
    last = strided[-1]
    depthwise[last]["strides"] = [1, 1]
    for c in depthwise[last + 1:]:
        c["dilation_rate"] = [2, 2]
    dense = keras.Model.from_config(config)
    dense.set_weights(model.get_weights())
    return dense


def output_stride(model: Any) -> int:
    """32 for a stock EfficientNetV2, 16 for one built by with_output_stride_16."""
    dilated = any(getattr(layer, "dilation_rate", (1, 1)) != (1, 1) for layer in model.layers)
    return 16 if dilated else 32


def build_model(arch: str = "efficientnetv2-b0", num_classes: int = 7, weights: str = "none",
                dropout: float = 0.3, resolution: int | None = None,
                output_stride: int = 32) -> Any:
    """EfficientNetV2 backbone -> global average pooling -> dropout -> softmax.

    The input is (None, None, 3) float 0..255 so one model runs at any resolution; the
    backbone's own preprocessing layer rescales it. `resolution` only matters for ImageNet
    weights, which Keras checks against a concrete size. `weights` may also name a trained
    edge-fer model (.keras) whose every weight, head included, starts the new one.
    `output_stride` 16 keeps the last stage at twice the size (see with_output_stride_16).
    """
    if output_stride not in OUTPUT_STRIDES:
        raise UserInputError(f"output stride {output_stride} is not one of {OUTPUT_STRIDES}")
    backend = ARCHS.get(arch)  # UserInputError naming the choices
    init = resolve_weights(weights)  # a bad option fails before Keras loads
    keras = import_keras()
    constructor = getattr(keras.applications, backend.name)
    inputs = keras.Input(shape=(None, None, 3), name="face")
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
    return with_output_stride_16(model) if output_stride == 16 else model


def save_for_inference(model: Any, path: str | Path) -> None:
    """Save the weights and graph without the optimizer's state.

    Adam keeps two moments per weight, so a compiled model's file is three times the size of
    what inference needs (72 MB instead of 24 MB for B0); resuming uses the checkpoint instead.
    """
    keras = import_keras()
    bare = keras.models.clone_model(model)
    bare.set_weights(model.get_weights())
    bare.save(path)
