"""A per-model cache of slow intermediate results (SavedModel export, OpenVINO graph).

The variants of one model (fp32, fp16, int8) start from the same intermediate form, which is
the slowest step of each export. Entries are keyed by the model object and a digest of its
weights, so a model trained further in between is exported again; they go with the model.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")


def weights_digest(keras_model: Any) -> str:
    digest = hashlib.sha256()
    for w in keras_model.weights:
        digest.update(np.asarray(w).tobytes())
    return digest.hexdigest()


class PerModelCache(Generic[T]):
    def __init__(self) -> None:
        self._items: weakref.WeakKeyDictionary[Any, tuple[str, T]] = weakref.WeakKeyDictionary()

    def get(self, keras_model: Any, make: Callable[[], T]) -> T:
        """The cached value for this model and weights, else `make()` (then cached)."""
        digest = weights_digest(keras_model)
        cached = self._items.get(keras_model)
        if cached is not None and cached[0] == digest:
            return cached[1]
        value = make()
        self._items[keras_model] = (digest, value)
        return value
