"""Keras runtime: runs a `.keras` model with TensorFlow (workstation side, and the reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.errors import MissingDependencyError, ModelError
from edge_fer.preprocess import to_model_input
from edge_fer.runtimes.base import Classifier, ModelInfo


def import_tensorflow():  # noqa: ANN201 - the module itself
    """Import TensorFlow quietly, or say which extra installs it."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        raise MissingDependencyError("tensorflow", "train", "Keras models") from None
    return tf


def import_keras():  # noqa: ANN201 - the module itself
    """Import Keras on the backend KERAS_BACKEND names (TensorFlow unless set), or say what
    installs it. Training runs on any Keras backend: PyTorch or JAX on a GPU box, TensorFlow
    on the workstation (the converters always need TensorFlow)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import_tensorflow()
    try:
        import keras
    except ImportError:
        raise MissingDependencyError("keras", "train", "Keras models") from None
    return keras


def load_keras_model(path: str | Path):  # noqa: ANN201 - a keras.Model
    """Load a `.keras` file for inference, or fail with one line naming the file."""
    keras = import_keras()
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a bad file
        first_line = str(e).split("\n")[0]
        raise ModelError(f"{path}: cannot load Keras model ({type(e).__name__}: {first_line})") from None


class KerasClassifier(Classifier):
    key = "keras"

    def __init__(self, path: Path, info: ModelInfo, threads: int | None = None,
                 batch_size: int = 256, batch: int = 1, model: Any = None) -> None:
        """`model`: a Keras model already in memory (from `path`, perhaps changed), run as it is."""
        super().__init__(info, batch)
        tf = import_tensorflow()
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:
                pass  # TensorFlow already initialised in this process: threads are fixed
        self._model = load_keras_model(path) if model is None else model
        shape = self._model.output_shape
        self.check_output(int(shape[-1]), str(path))
        in_shape = self._model.input_shape
        if len(in_shape) != 4 or in_shape[-1] != 3:
            raise ModelError(f"{path}: expected an (r, r, 3) image input, got {in_shape}")
        self._fixed = in_shape[1] if in_shape[1] is not None else None
        self._resolution = int(self._fixed or info.resolution)
        self._batch = batch_size
        self._fn = tf.function(lambda x: self._model(x, training=False), reduce_retracing=True)

    def _resize_input(self, resolution: int) -> None:
        pass  # a Keras function traces each new input shape on its first call

    def _predict(self, faces: np.ndarray) -> np.ndarray:
        out = [np.asarray(self._fn(to_model_input(faces[i:i + self._batch])))
               for i in range(0, len(faces), self._batch)]
        return np.concatenate(out).astype(np.float32)

    def close(self) -> None:
        self._model = None
