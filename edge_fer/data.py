"""Loading FER data sets (image-folder trees and the FER2013 CSV) into memory as 48x48 uint8."""

from __future__ import annotations

import csv
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_fer.classes import CLASS_NAMES, class_index
from edge_fer.errors import DataError
from edge_fer.preprocess import NATIVE_SIZE

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm")
CSV_USAGES = ("Training", "PublicTest", "PrivateTest")


@dataclass(frozen=True)
class FaceDataset:
    """Faces as an (N, 48, 48) uint8 array, labels in canonical class order, and their origin."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def counts(self) -> dict[str, int]:
        hist = np.bincount(self.labels, minlength=len(CLASS_NAMES))
        return {name: int(n) for name, n in zip(CLASS_NAMES, hist)}

    def fingerprint(self) -> str:
        """sha256 over pixels and labels: identifies exactly which faces a model saw."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(self.labels.astype(np.int64).tobytes())
        return h.hexdigest()

    def subset(self, index: np.ndarray) -> FaceDataset:
        return FaceDataset(self.images[index], self.labels[index], self.source)


def load_dataset(path: str | Path, usage: str | None = None, limit: int | None = None,
                 seed: int = 0) -> FaceDataset:
    """Load an image-folder tree or a FER2013 CSV; `limit` keeps a stratified, seeded sample."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or directory")
    if p.is_dir():
        if usage is not None:
            raise DataError(f"{p}: --usage applies to a FER2013 CSV, not an image folder")
        data = _load_folder(p)
    elif p.suffix.lower() == ".csv":
        data = _load_csv(p, usage)
    else:
        raise DataError(f"{p}: expected an image-folder tree or a FER2013 .csv file")
    if len(data) == 0:
        raise DataError(f"{p}: no faces found")
    if limit is not None and limit < len(data):
        data = data.subset(stratified_sample(data.labels, limit, seed))
    return data


def has_usage_column(path: str | Path) -> bool:
    """Whether `path` is a CSV whose rows say their split (FER2013's Usage column)."""
    p = Path(path)
    if p.suffix.lower() != ".csv" or not p.is_file():
        return False
    with p.open(newline="") as f:
        return "Usage" in next(csv.reader(f), [])


def training_usage(path: str | Path, usage: str | None) -> str | None:
    """The CSV rows training reads: `usage` if named, else a FER2013 CSV's Training rows (its
    PublicTest and PrivateTest rows are the test splits, trained on only when named); None for
    an image folder or a CSV without a Usage column (every row)."""
    if usage is not None:
        return usage
    return "Training" if has_usage_column(path) else None


def split_source(source: str) -> tuple[str, str | None]:
    """A `FaceDataset.source` as (path, CSV usage or None): a CSV source carries " [usage]"."""
    path_text, sep, rest = source.partition(" [")
    return path_text, (rest[:-1] if sep and rest.endswith("]") else None)


def load_source(source: str, named_by: Path, missing: str, limit: int | None = None,
                seed: int = 0) -> FaceDataset:
    """The faces a `FaceDataset.source` recorded in `named_by` (a model card) names, CSV usage
    included (`limit`, `seed`: as `load_dataset`); `missing` ends the error when they are not
    here, e.g. "pass --calibration DIR"."""
    path_text, usage = split_source(source)
    path = Path(path_text)
    if not path_text or not path.exists():
        raise DataError(f"{named_by}: names training data that is not here "
                        f"({source or 'none'}); {missing}")
    return load_dataset(path, usage, limit, seed)


def _read_gray(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DataError(f"{path}: cannot read this image (corrupt or not an image)")
    if image.shape != (NATIVE_SIZE, NATIVE_SIZE):
        image = cv2.resize(image, (NATIVE_SIZE, NATIVE_SIZE), interpolation=cv2.INTER_AREA)
    return image


def _load_folder(root: Path) -> FaceDataset:
    files: list[Path] = []
    labels: list[int] = []
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir())
    if not class_dirs:
        raise DataError(f"{root}: no class folders (expected {root}/<class>/*.png)")
    for d in class_dirs:
        try:
            label = class_index(d.name)
        except DataError as e:
            raise DataError(f"{d}: {e}") from None
        found = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        files.extend(found)
        labels.extend([label] * len(found))
    # cv2 releases the GIL while decoding, so threads give a real speed-up here.
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(_read_gray, files, chunksize=256))
    stacked = np.stack(images) if images else np.zeros((0, NATIVE_SIZE, NATIVE_SIZE), np.uint8)
    log.info("loaded %d faces from %s", len(files), root)
    return FaceDataset(stacked, np.asarray(labels, dtype=np.int64), str(root))


def _load_csv(path: Path, usage: str | None) -> FaceDataset:
    if usage is not None and usage not in CSV_USAGES:
        raise DataError(f"{path}: unknown usage '{usage}', expected one of {', '.join(CSV_USAGES)}")
    images: list[np.ndarray] = []
    labels: list[int] = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"emotion", "pixels"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: not a FER2013 CSV (missing columns: {', '.join(sorted(missing))})")
        if usage is not None and "Usage" not in (reader.fieldnames or []):
            raise DataError(f"{path}: no Usage column, so usage '{usage}' selects nothing")
        for line, row in enumerate(reader, start=2):
            if usage is not None and row.get("Usage") != usage:
                continue
            try:
                label = int(row["emotion"])
                pixels = np.asarray(row["pixels"].split(), dtype=np.uint8)
            except (ValueError, AttributeError):
                raise DataError(f"{path}:{line}: cannot parse emotion/pixels") from None
            if not 0 <= label < len(CLASS_NAMES):
                raise DataError(f"{path}:{line}: emotion {label} outside 0..{len(CLASS_NAMES) - 1}")
            side = int(round(pixels.size ** 0.5))
            if side * side != pixels.size:
                raise DataError(f"{path}:{line}: {pixels.size} pixels is not a square image")
            image: np.ndarray = pixels.reshape(side, side)
            if side != NATIVE_SIZE:
                image = cv2.resize(image, (NATIVE_SIZE, NATIVE_SIZE), interpolation=cv2.INTER_AREA)
            images.append(image)
            labels.append(label)
    stacked = np.stack(images) if images else np.zeros((0, NATIVE_SIZE, NATIVE_SIZE), np.uint8)
    source = f"{path}" + (f" [{usage}]" if usage else "")
    return FaceDataset(stacked, np.asarray(labels, dtype=np.int64), source)


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a seeded sample of exactly n items that keeps each class's share.

    Shares are allotted by largest remainder, so rounding never makes the sample short.
    """
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * (n / len(labels))
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take))[: n - int(take.sum())]:
        take[i] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): a seeded split in which every class keeps its share."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"validation fraction must be between 0 and 1, got {val_fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(val_fraction * idx.size))
        if idx.size >= 2:
            k = min(max(k, 1), idx.size - 1)
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def train_validation_split(full: FaceDataset, val_fraction: float,
                           seed: int) -> tuple[FaceDataset, FaceDataset]:
    """(train, validation) faces as `edge-fer train` splits them: defined once, so whatever
    re-scores a run on its validation split (scripts/average_weights.py) sees the same faces.
    A fraction of 0 holds nothing out: every face trains (the refit of a recipe already
    chosen on a split), and the validation set is empty."""
    if val_fraction == 0:
        return full, full.subset(np.zeros(0, np.int64))
    train_idx, val_idx = stratified_split(full.labels, val_fraction, seed)
    return full.subset(train_idx), full.subset(val_idx)


def class_weights(labels: np.ndarray, n_classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """Weights inversely proportional to class counts, scaled so the mean sample weight is 1."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.zeros(n_classes)
    present = counts > 0
    weights[present] = labels.size / (present.sum() * counts[present])
    return weights
