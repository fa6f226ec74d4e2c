"""Classification metrics (accuracy, per-class and averaged precision/recall/F1, confusion matrix)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Metrics:
    """Scores of predictions against labels, in the class order given."""

    class_names: tuple[str, ...]
    confusion: np.ndarray  # rows: true class, columns: predicted class

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.n, 1))

    def _per_class(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cm = self.confusion.astype(np.float64)
        tp = np.diag(cm)
        support = cm.sum(axis=1)
        predicted = cm.sum(axis=0)
        # A class never predicted (or never present) scores 0, as scikit-learn's zero_division=0.
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
        denom = precision + recall
        f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
        return precision, recall, f1, support

    def averages(self) -> dict[str, dict[str, float]]:
        precision, recall, f1, support = self._per_class()
        weights = support / max(support.sum(), 1)
        # Single-label multi-class: micro precision = micro recall = micro F1 = accuracy.
        micro = self.accuracy
        return {
            "macro": {"precision": float(precision.mean()), "recall": float(recall.mean()),
                      "f1": float(f1.mean())},
            "micro": {"precision": micro, "recall": micro, "f1": micro},
            "weighted": {"precision": float(precision @ weights), "recall": float(recall @ weights),
                         "f1": float(f1 @ weights)},
        }

    def to_dict(self) -> dict[str, object]:
        precision, recall, f1, support = self._per_class()
        avg = self.averages()
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": avg["macro"]["f1"],
            "micro_f1": avg["micro"]["f1"],
            "weighted_f1": avg["weighted"]["f1"],
            "averages": avg,
            "per_class": {
                name: {"precision": float(precision[i]), "recall": float(recall[i]),
                       "f1": float(f1[i]), "support": int(support[i])}
                for i, name in enumerate(self.class_names)
            },
            "class_names": list(self.class_names),
            "confusion_matrix": self.confusion.astype(int).tolist(),
        }

    def table(self) -> str:
        """A plain-text report: per-class rows, averages, and the confusion matrix."""
        precision, recall, f1, support = self._per_class()
        w = max(len(c) for c in self.class_names) + 2
        lines = [f"{'class':<{w}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for i, name in enumerate(self.class_names):
            lines.append(f"{name:<{w}}{precision[i]:>10.3f}{recall[i]:>10.3f}{f1[i]:>10.3f}"
                         f"{int(support[i]):>10d}")
        lines.append("")
        for kind, m in self.averages().items():
            lines.append(f"{kind + ' avg':<{w}}{m['precision']:>10.3f}{m['recall']:>10.3f}"
                         f"{m['f1']:>10.3f}{self.n:>10d}")
        lines.append(f"{'accuracy':<{w}}{self.accuracy:>30.4f}{self.n:>10d}")
        lines.append("")
        short = [c[:7] for c in self.class_names]
        lines.append("confusion matrix (rows: true, columns: predicted)")
        lines.append(" " * w + "".join(f"{s:>8}" for s in short))
        for i, name in enumerate(self.class_names):
            lines.append(f"{name:<{w}}" + "".join(f"{int(v):>8d}" for v in self.confusion[i]))
        return "\n".join(lines)


def compute_metrics(labels: np.ndarray, predictions: np.ndarray,
                    class_names: tuple[str, ...]) -> Metrics:
    k = len(class_names)
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ")
    cm = np.bincount(labels * k + predictions, minlength=k * k).reshape(k, k)
    return Metrics(tuple(class_names), cm)


def write_confusion_png(metrics: Metrics, path: str | Path, title: str = "") -> None:
    """Draw the row-normalised confusion matrix with counts, using OpenCV only."""
    cm = metrics.confusion.astype(np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(metrics.class_names)
    cell, left, top = 72, 120, 100
    img = np.full((top + k * cell + 20, left + k * cell + 20, 3), 255, np.uint8)
    black = (0, 0, 0)
    for i in range(k):
        for j in range(k):
            shade = int(255 * (1 - norm[i, j]))
            x0, y0 = left + j * cell, top + i * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (255, shade, shade), -1)
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (200, 200, 200), 1)
            color = (255, 255, 255) if norm[i, j] > 0.5 else black
            _text(img, f"{norm[i, j]:.2f}", (x0 + 12, y0 + 32), 0.5, color)
            _text(img, f"{int(cm[i, j])}", (x0 + 12, y0 + 54), 0.4, color)
        name = metrics.class_names[i]
        _text(img, name, (8, top + i * cell + 40), 0.5, black, left - 12)
        _text(img, name, (left + i * cell + 4, top - 8), 0.45, black, cell - 6)
    width = img.shape[1] - 16
    _text(img, title or "confusion matrix", (8, 22), 0.5, black, width)
    _text(img, f"accuracy {metrics.accuracy:.4f}  n={metrics.n}", (8, 44), 0.5, black, width)
    _text(img, "predicted class", (left, top - 34), 0.5, black)
    _text(img, "true class", (8, top - 8), 0.5, black, left - 12)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"{path}: could not write the PNG")


def _text(img: np.ndarray, text: str, origin: tuple[int, int], scale: float,
          color: tuple[int, int, int], max_width: int | None = None) -> None:
    """putText, shrunk until it fits `max_width` px (class names and titles are never cut)."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    while max_width is not None and scale > 0.25 and \
            cv2.getTextSize(text, font, scale, 1)[0][0] > max_width:
        scale *= 0.9
    cv2.putText(img, text, origin, font, scale, color, 1, cv2.LINE_AA)
