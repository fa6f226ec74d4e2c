"""Scoring any runtime's classifier on a labelled face data set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edge_fer.accuracy import AccuracyPoint, AccuracyTable
from edge_fer.classes import CLASS_NAMES
from edge_fer.data import FaceDataset
from edge_fer.errors import ModelError
from edge_fer.metrics import Metrics, compute_metrics
from edge_fer.preprocess import prepare_batch
from edge_fer.runtimes.base import Classifier


def predict_dataset(classifier: Classifier, data: FaceDataset, batch_size: int = 64,
                    progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, K) probabilities for every face of `data`, prepared as the model's card says."""
    r = classifier.resolution
    spec = classifier.info.preprocessing
    out = []
    for i in range(0, len(data), batch_size):
        faces = prepare_batch(data.images[i:i + batch_size], r, spec)
        out.append(classifier.predict(faces))
        if progress:
            progress(min(i + batch_size, len(data)), len(data))
    return np.concatenate(out)


def require_canonical_classes(classifier: Classifier, whose: str = "the model's") -> None:
    """ModelError unless the classifier's outputs are the FER2013 classes in canonical order
    (scores and training targets index probabilities by that order)."""
    if tuple(classifier.info.class_names) != CLASS_NAMES:
        raise ModelError(f"{whose} classes {list(classifier.info.class_names)} are not the "
                         f"canonical FER2013 order {list(CLASS_NAMES)}")


def evaluate(classifier: Classifier, data: FaceDataset, batch_size: int = 64,
             progress: Callable[[int, int], None] | None = None) -> Metrics:
    """Metrics in canonical class order; the model's classes must be the canonical ones."""
    require_canonical_classes(classifier)
    probs = predict_dataset(classifier, data, batch_size, progress)
    return compute_metrics(data.labels, probs.argmax(axis=1), CLASS_NAMES)


def accuracy_table(model: str | Path, data: FaceDataset, sizes: Sequence[int],
                   ttas: Sequence[str], split: str, runtime: str | None = None,
                   threads: int | None = None,
                   progress: Callable[[str], None] | None = None) -> AccuracyTable:
    """Score `model` at each size under each TTA: the table a card or manifest carries."""
    from edge_fer.runtimes.base import load_classifier

    rows = []
    for tta in ttas:
        with load_classifier(model, runtime, threads, tta=tta) as classifier:
            for r in sizes:
                classifier.set_resolution(r)
                m = evaluate(classifier, data)
                f1 = m.averages()["macro"]["f1"]
                rows.append(AccuracyPoint(r, tta, m.accuracy, f1))
                if progress:
                    progress(f"{r:>4} px, tta {tta:<5}: accuracy {m.accuracy:.4f}, macro-F1 {f1:.4f}")
    return AccuracyTable(split, len(data), tuple(rows), data.source)
