"""Metrics against a confusion matrix computed by hand."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_fer.metrics import compute_metrics, write_confusion_png

NAMES = ("a", "b", "c")
#            true:  a a a a b b b c c c
LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
PREDS = np.array([0, 0, 1, 2, 1, 1, 0, 2, 2, 2])


def test_confusion_and_scores_match_hand_computation() -> None:
    m = compute_metrics(LABELS, PREDS, NAMES)
    assert m.confusion.tolist() == [[2, 1, 1], [1, 2, 0], [0, 0, 3]]
    d = m.to_dict()
    assert d["n"] == 10 and d["accuracy"] == pytest.approx(0.7)
    # a: P = 2/3, R = 2/4; b: P = 2/3, R = 2/3; c: P = 3/4, R = 1
    pa, ra = 2 / 3, 0.5
    pb, rb = 2 / 3, 2 / 3
    pc, rc = 0.75, 1.0
    f = [2 * p * r / (p + r) for p, r in ((pa, ra), (pb, rb), (pc, rc))]
    assert d["per_class"]["a"]["precision"] == pytest.approx(pa)
    assert d["per_class"]["a"]["recall"] == pytest.approx(ra)
    assert d["per_class"]["c"]["f1"] == pytest.approx(f[2])
    assert d["macro_f1"] == pytest.approx(sum(f) / 3)
    assert d["weighted_f1"] == pytest.approx((4 * f[0] + 3 * f[1] + 3 * f[2]) / 10)
    assert d["micro_f1"] == pytest.approx(0.7)
    assert d["averages"]["macro"]["precision"] == pytest.approx((pa + pb + pc) / 3)


def test_never_predicted_class_scores_zero_without_warnings() -> None:
    m = compute_metrics(np.array([0, 1, 2]), np.array([0, 0, 0]), NAMES)
    d = m.to_dict()
    assert d["per_class"]["b"]["precision"] == 0.0 and d["per_class"]["b"]["f1"] == 0.0


def test_table_lists_every_class_and_the_matrix() -> None:
    text = compute_metrics(LABELS, PREDS, NAMES).table()
    assert "macro avg" in text and "weighted avg" in text and "accuracy" in text
    assert "confusion matrix" in text and text.count("\n") > 10


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        compute_metrics(np.array([0, 1]), np.array([0]), NAMES)


def test_confusion_png_is_a_real_image(tmp_path: Path) -> None:
    out = tmp_path / "cm.png"
    write_confusion_png(compute_metrics(LABELS, PREDS, NAMES), out)
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 200 and img.shape[1] > 200
