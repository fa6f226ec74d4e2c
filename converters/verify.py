"""Verification of an export against its Keras model, on the same faces, through edge-fer's runtimes.

Float exports must pick the same top-1 class as Keras (where Keras sees no tie); a quantized
export is allowed to disagree on some faces but not to lose accuracy. Both limits are options.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_fer.errors import CheckFailed
from edge_fer.manifest import Verification
from edge_fer.runtimes.base import Classifier

TIE = 1e-3  # probability: Keras' scores of two classes this close are a tie


@dataclass(frozen=True)
class Thresholds:
    min_agreement: float = 0.99  # float exports: share of faces with Keras' top-1 class
    max_accuracy_drop: float = 0.01  # quantized exports: accuracy lost against Keras (0.01 = 1 point)


def predict_in_batches(classifier: Classifier, faces: np.ndarray, batch_size: int = 64) -> np.ndarray:
    return np.concatenate([classifier.predict(faces[i:i + batch_size])
                           for i in range(0, len(faces), batch_size)])


def compare(probs: np.ndarray, reference: np.ndarray, labels: np.ndarray, quantized: bool,
            thresholds: Thresholds, data: str = "") -> Verification:
    """Figures of `probs` against the Keras `reference` on the same labelled faces."""
    if probs.shape != reference.shape:
        raise ValueError(f"shapes differ: {probs.shape} vs {reference.shape}")
    top, ref_top = probs.argmax(axis=1), reference.argmax(axis=1)
    rows = np.arange(len(top))
    # A face Keras itself scores as a tie (its top class within TIE of the export's choice)
    # may go either way under float rounding; it agrees. Seen: a barely trained model whose
    # 7 probabilities differ by ~1e-5 "disagreed" on 2% of faces with fp16 errors of 1e-5.
    tie = reference[rows, ref_top] - reference[rows, top] <= TIE
    agreement = float(np.mean((top == ref_top) | tie))
    right, ref_right = top == labels, ref_top == labels
    accuracy, ref_accuracy = float(np.mean(right)), float(np.mean(ref_right))
    if quantized:
        passed = ref_accuracy - accuracy <= thresholds.max_accuracy_drop + 1e-9
    else:
        passed = agreement >= thresholds.min_agreement
    return Verification(samples=len(labels), agreement=agreement,
                        max_abs_diff=float(np.abs(probs - reference).max()), accuracy=accuracy,
                        reference_accuracy=ref_accuracy, data=data, passed=passed,
                        flips=int(np.sum(right != ref_right)))


def failure_message(key: str, v: Verification, quantized: bool, thresholds: Thresholds) -> str:
    """Why an export failed, in one line."""
    if quantized:
        drop = 100 * ((v.reference_accuracy or 0.0) - (v.accuracy or 0.0))
        return (f"{key} loses {drop:.1f} points of accuracy against Keras on {v.samples} faces "
                f"(limit {100 * thresholds.max_accuracy_drop:.1f}; the figure is uncertain by "
                f"about {100 * v.accuracy_drop_se:.1f}: more --samples make it firmer)")
    return (f"{key} agrees with Keras on {100 * v.agreement:.1f}% of {v.samples} faces "
            f"(needs {100 * thresholds.min_agreement:.1f}%)")


def raise_if_failed(failures: list[str]) -> None:
    if failures:
        raise CheckFailed("verification failed: " + "; ".join(failures))
