"""How much of a model's loss away from its training size is batch-norm statistics.

For each size, the float Keras model is scored on test faces twice: as it is, and with every
BatchNormalization layer's moving mean and variance re-estimated at that size on training faces
(convolutions untouched). A large gain says per-size BN statistics (switchable BN) would carry
the model across sizes; a small one says the convolutions themselves must learn the sizes.

    python bench/bn_recalibration.py [--model M.keras] [--sizes 48,64,96,128,160]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edge_fer.classes import CLASS_NAMES
from edge_fer.data import load_dataset
from edge_fer.metrics import compute_metrics
from edge_fer.preprocess import prepare_batch, to_model_input
from edge_fer.runtimes.keras_runtime import import_keras, load_keras_model

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013"
DEFAULT = Path(__file__).resolve().parents[1] / "edge_fer" / "models" / "default" / "model.keras"


def _inputs(faces: np.ndarray, size: int) -> np.ndarray:
    return to_model_input(prepare_batch(faces, size))


def _predict(model, faces: np.ndarray, size: int, batch: int = 128) -> np.ndarray:  # noqa: ANN001
    out = [model(_inputs(faces[i:i + batch], size), training=False) for i in range(0, len(faces), batch)]
    return np.concatenate([np.asarray(o) for o in out]).argmax(axis=1)


def _bn_layers(model) -> list:  # noqa: ANN001
    keras = import_keras()
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def _recalibrate(model, faces: np.ndarray, size: int, batch: int) -> None:  # noqa: ANN001
    """Moving statistics become the running average of per-batch statistics at `size`."""
    layers = _bn_layers(model)
    for k, start in enumerate(range(0, len(faces), batch)):
        for layer in layers:
            layer.momentum = k / (k + 1)  # k = 0 replaces the old statistics outright
        model(_inputs(faces[start:start + batch], size), training=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(DEFAULT))
    ap.add_argument("--sizes", default="48,64,96,128,160")
    ap.add_argument("--test", type=int, default=1000, help="test faces (stratified)")
    ap.add_argument("--calib", type=int, default=1024, help="training faces for the statistics")
    ap.add_argument("--batch", type=int, default=128, help="calibration batch")
    args = ap.parse_args()

    test = load_dataset(DATA / "test", limit=args.test, seed=0)
    calib = load_dataset(DATA / "train", limit=args.calib, seed=1).images
    model = load_keras_model(args.model)
    layers = _bn_layers(model)
    saved = [(layer.momentum, [w.numpy() for w in layer.non_trainable_weights]) for layer in layers]
    print(f"{args.model}: {len(layers)} BN layers; {len(test)} test faces, {len(calib)} calibration faces")
    print(f"{'size':>5} {'as is':>14} {'recalibrated':>14}   (accuracy / macro-F1)")
    for size in (int(s) for s in args.sizes.split(",")):
        t0 = time.perf_counter()
        plain = compute_metrics(test.labels, _predict(model, test.images, size), CLASS_NAMES)
        _recalibrate(model, calib, size, args.batch)
        recal = compute_metrics(test.labels, _predict(model, test.images, size), CLASS_NAMES)
        for layer, (momentum, weights) in zip(layers, saved):
            layer.momentum = momentum
            for w, value in zip(layer.non_trainable_weights, weights):
                w.assign(value)
        seconds = time.perf_counter() - t0
        print(f"{size:>5} {plain.accuracy:7.1%} / {plain.averages()['macro']['f1']:.3f}"
              f" {recal.accuracy:7.1%} / {recal.averages()['macro']['f1']:.3f}   ({seconds:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
