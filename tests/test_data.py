"""Data loading: image folders, the FER2013 CSV, class aliases, bad inputs, splits, weights."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_fer.classes import CLASS_NAMES, canonical_class
from edge_fer.data import (
    class_weights,
    load_dataset,
    load_source,
    stratified_sample,
    stratified_split,
    training_usage,
)
from edge_fer.errors import DataError


def _write_folder(root: Path, names: dict[str, int], size: int = 48) -> None:
    rng = np.random.default_rng(0)
    for name, n in names.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / name / f"{i}.png"), rng.integers(0, 255, (size, size), np.uint8))


def test_folder_with_aliases_maps_to_canonical_order(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"Happiness": 3, "anger": 2, "surprised": 1})
    data = load_dataset(tmp_path)
    assert data.images.shape == (6, 48, 48) and data.images.dtype == np.uint8
    assert data.counts() == {"angry": 2, "disgust": 0, "fear": 0, "happy": 3, "sad": 0,
                             "surprise": 1, "neutral": 0}


def test_other_image_sizes_are_brought_to_48(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"sad": 2}, size=100)
    assert load_dataset(tmp_path).images.shape == (2, 48, 48)


def test_unknown_class_folder_is_named(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"happy": 1, "bored": 1})
    with pytest.raises(DataError, match="bored"):
        load_dataset(tmp_path)


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"happy": 1})
    (tmp_path / "happy" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        load_dataset(tmp_path)


def test_missing_path_and_wrong_kind(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="x.txt"):
        load_dataset(tmp_path / "x.txt")


def _csv(path: Path, rows: list[tuple[int, np.ndarray, str]]) -> Path:
    lines = ["emotion,pixels,Usage"]
    lines += [f"{e},{' '.join(str(int(v)) for v in px.ravel())},{u}" for e, px, u in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_reads_pixels_labels_and_usage(tmp_path: Path) -> None:
    a = np.arange(48 * 48, dtype=np.int64).reshape(48, 48) % 256
    f = _csv(tmp_path / "fer.csv", [(3, a, "Training"), (0, a[::-1], "PublicTest"),
                                   (6, a, "Training")])
    data = load_dataset(f)
    assert len(data) == 3 and list(data.labels) == [3, 0, 6]
    assert np.array_equal(data.images[0], a.astype(np.uint8))
    train = load_dataset(f, usage="Training")
    assert list(train.labels) == [3, 6]


def test_training_reads_a_fer2013_csvs_training_rows_unless_told(tmp_path: Path) -> None:
    a = np.zeros((48, 48), dtype=np.int64)
    f = _csv(tmp_path / "fer.csv", [(3, a, "Training"), (0, a, "PrivateTest")])
    assert training_usage(f, None) == "Training"
    assert training_usage(f, "PublicTest") == "PublicTest"
    plain = tmp_path / "plain.csv"
    plain.write_text(f"emotion,pixels\n3,{' '.join(['0'] * 48 * 48)}\n")
    assert training_usage(plain, None) is None and len(load_dataset(plain)) == 1
    assert training_usage(tmp_path, None) is None  # an image folder
    with pytest.raises(DataError, match=r"plain.csv: no Usage column, so usage 'Training' "
                                        r"selects nothing"):
        load_dataset(plain, usage="Training")


def test_a_recorded_source_loads_again_with_its_csv_usage(tmp_path: Path) -> None:
    a = np.zeros((48, 48), dtype=np.int64)
    f = _csv(tmp_path / "fer.csv", [(3, a, "Training"), (0, a, "PublicTest"), (6, a, "Training")])
    card = tmp_path / "model.card.json"
    recorded = load_dataset(f, usage="Training").source  # what a card records
    again = load_source(recorded, card, "pass --data DIR")
    assert list(again.labels) == [3, 6] and again.source == recorded
    assert list(load_source(str(f), card, "pass --data DIR").labels) == [3, 0, 6]
    assert len(load_source(str(f), card, "pass --data DIR", limit=2, seed=1)) == 2
    for gone in (str(tmp_path / "moved.csv") + " [Training]", ""):
        with pytest.raises(DataError, match=r"model.card.json: names training data that is not "
                                            r"here \(.*\); pass --data DIR$"):
            load_source(gone, card, "pass --data DIR")


def test_csv_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    with pytest.raises(DataError, match=r"bad.csv:2: 3 pixels"):
        load_dataset(bad)
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="missing columns"):
        load_dataset(foreign)
    out_of_range = _csv(tmp_path / "range.csv", [(9, np.zeros((48, 48)), "Training")])
    with pytest.raises(DataError, match="emotion 9"):
        load_dataset(out_of_range)


def test_real_fer_folder_limit_is_stratified(fer_root: Path) -> None:
    data = load_dataset(fer_root / "test", limit=700, seed=3)
    full_share = np.array([467, 56, 496, 895, 653, 415, 607]) / 3589
    share = np.bincount(data.labels, minlength=7) / len(data)
    assert len(data) == 700
    assert np.allclose(share, full_share, atol=0.01)


def test_stratified_split_is_seeded_disjoint_and_balanced() -> None:
    labels = np.repeat(np.arange(7), [400, 40, 400, 700, 480, 310, 500])
    tr, va = stratified_split(labels, 0.1, seed=5)
    tr2, va2 = stratified_split(labels, 0.1, seed=5)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    assert not set(tr) & set(va) and len(tr) + len(va) == len(labels)
    assert np.array_equal(np.bincount(labels[va]), [40, 4, 40, 70, 48, 31, 50])
    _, va3 = stratified_split(labels, 0.1, seed=6)
    assert not np.array_equal(va, va3)


def test_stratified_sample_size() -> None:
    labels = np.repeat(np.arange(7), 100)
    assert len(stratified_sample(labels, 70, 0)) == 70


def test_class_weights_inverse_to_counts() -> None:
    labels = np.array([0] * 10 + [1] * 30)
    w = class_weights(labels, n_classes=3)
    assert w[0] == pytest.approx(3 * w[1])
    # mean sample weight is one, and an absent class gets no weight
    assert (w[labels]).mean() == pytest.approx(1.0)
    assert w[2] == 0


def test_class_alias_and_unknown() -> None:
    assert canonical_class(" Surprised ") == "surprise"
    assert canonical_class("NEUTRAL") == "neutral"
    assert CLASS_NAMES[3] == "happy"
    with pytest.raises(DataError, match="contempt2"):
        canonical_class("contempt2")


@pytest.mark.parametrize("n", [1, 7, 139, 140, 999])
def test_stratified_sample_is_never_short(n: int) -> None:
    labels = np.repeat(np.arange(7), [467, 56, 496, 895, 653, 415, 607])
    idx = stratified_sample(labels, n, seed=0)
    assert len(idx) == n == len(set(idx))
