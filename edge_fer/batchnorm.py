"""Batch-norm statistics re-estimated at one input size (needs TensorFlow/Keras).

A network trained at several sizes shares its convolutions across them but not, at its
best, its batch-norm statistics: the activations' mean and variance move with the size.
Re-estimating them at the size a device will run (convolutions untouched) gives one folded
export per size at no run-time cost; `edge-fer convert --resolutions` does it
(bench/RESULTS.md has what it wins).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_fer.errors import ModelError
from edge_fer.manifest import Preprocessing
from edge_fer.preprocess import prepare_batch, to_model_input
from edge_fer.runtimes.keras_runtime import import_keras


def reestimate(model: Any, faces: np.ndarray | list[np.ndarray], resolution: int,
               preprocessing: Preprocessing | None = None, batch: int = 128) -> int:
    """Replace every BatchNormalization layer's moving mean and variance by the average of
    their batch statistics over `faces` at `resolution`; returns how many layers changed.

    Dropout (stochastic depth included) is off meanwhile, so the statistics are those of
    the network as it runs, not as it trains. Weights and every setting are restored to
    what they were, apart from the moving statistics.
    """
    if len(faces) < 2:
        raise ModelError(f"re-estimating batch norm needs at least 2 faces, got {len(faces)}")
    keras = import_keras()
    layers = list(model._flatten_layers())
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return 0
    drops = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [n.momentum for n in norms], [d.rate for d in drops]
    try:
        for d in drops:
            d.rate = 0.0
        for k, start in enumerate(range(0, len(faces), batch)):
            chunk = faces[start:start + batch]
            if len(chunk) < 2:  # a batch of one has no variance
                break
            for n in norms:
                n.momentum = k / (k + 1)  # k = 0 replaces the old statistics outright
            model(to_model_input(prepare_batch(chunk, resolution, preprocessing)), training=True)
    finally:
        for n, momentum in zip(norms, momenta):
            n.momentum = momentum
        for d, rate in zip(drops, rates):
            d.rate = rate
    return len(norms)
