"""The classifier interface every runtime implements, and the loader that picks one by key.

A runtime takes a batch of (N, r, r) uint8 grayscale faces, already prepared by
`edge_fer.preprocess`, and returns (N, K) probabilities in the order of `info.class_names`:
`predict` under the model's test-time augmentation (`info.tta`, applied here once for every
backend), `infer` for a plain batch whose views the caller chose (the camera loop's schedule).
Backends (edge_fer.backends.RUNTIMES) are imported only when chosen, so a device without
TensorFlow never loads it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import numpy as np

from edge_fer import validate
from edge_fer.backends import RUNTIMES
from edge_fer.card import ModelCard, card_path_for
from edge_fer.errors import MissingDependencyError, ModelError, UserInputError, pip_install
from edge_fer.manifest import Manifest, check_listed, info_from_manifest
from edge_fer.model_info import ModelInfo
from edge_fer.tta import apply_tta, images_per_frame, parse_tta

__all__ = ["RUNTIMES", "SUFFIXES", "Classifier", "ModelInfo", "load_classifier", "read_model_info",
           "runtime_for_path"]


class Classifier(ABC):
    """A loaded model that turns prepared face crops into class probabilities."""

    key: str = ""

    def __init__(self, info: ModelInfo, batch: int = 1) -> None:
        self.info = info
        # The images a call usually carries: a static-batch runtime (OpenVINO) compiles for it
        # and runs any other size through a dynamic request; the others run any size alike.
        self.batch = batch
        self.path: Path | None = None  # the file it was loaded from (set by load_classifier)
        self._resolution = 0
        self._fixed: int | None = None  # the one input size of a file exported for one size

    @property
    def resolution(self) -> int:
        """The input side length the model takes now."""
        return self._resolution

    def set_resolution(self, resolution: int) -> None:
        """Reshape the model's input to (resolution, resolution); raises ModelError if it cannot."""
        resolution = validate.resolution(resolution, str(self.path or self.info.arch))
        if self._fixed is not None and resolution != self._fixed:
            raise ModelError(f"{self.path or self.info.arch}: this {self.key} model has a fixed "
                             f"input of {self._fixed} px; export one file per resolution")
        self._resize_input(resolution)
        self._resolution = resolution

    @abstractmethod
    def _resize_input(self, resolution: int) -> None:
        """Prepare the runtime for (resolution, resolution) inputs (self.resolution is still the old one)."""

    @abstractmethod
    def _predict(self, faces: np.ndarray) -> np.ndarray:
        """Backend inference on a validated (N, r, r) uint8 batch."""

    def set_batch(self, images: int) -> None:
        """Make `images` the batch this model is readied for (see `batch`)."""
        if images < 1:
            raise ValueError(f"a batch needs at least one image, got {images}")
        self.batch = images

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, r, r) uint8 gray images at `self.resolution` -> (N, K) float32 probabilities,
        one row an image, without any TTA: the caller chose the images (edge_fer.schedule)."""
        if not self._check(batch):
            return np.zeros((0, len(self.info.class_names)), np.float32)
        return self._predict(batch)

    def _check(self, faces: np.ndarray) -> bool:
        """Raise ValueError for a batch of the wrong shape or type; False when it is empty."""
        if faces.ndim != 3 or faces.shape[1:] != (self.resolution, self.resolution):
            raise ValueError(f"expected faces of shape (N, {self.resolution}, {self.resolution}), "
                             f"got {faces.shape}")
        if faces.dtype != np.uint8:
            raise ValueError(f"expected uint8 faces, got {faces.dtype}")
        return faces.shape[0] > 0

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """(N, r, r) uint8 gray faces at `self.resolution` -> (N, K) float32 probabilities
        under the model's TTA.

        The backend sees all views of the N faces (2N under flip: the faces, then their
        mirrors) in one call, so whoever times `predict` times the TTA too. The camera loop
        spreads the TTA over frames instead (edge_fer.schedule, `infer`).
        """
        if not self._check(faces):
            return np.zeros((0, len(self.info.class_names)), np.float32)
        return apply_tta(self.info.tta, self._predict, faces)

    def close(self) -> None:  # noqa: B027 - optional hook, most runtimes need nothing
        """Release the model; safe to call twice."""

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def check_output(self, n_outputs: int, origin: str) -> None:
        if n_outputs != len(self.info.class_names):
            raise ModelError(f"{origin}: the model has {n_outputs} outputs but its metadata names "
                             f"{len(self.info.class_names)} classes")


# suffix -> runtime key, from the RUNTIMES table.
SUFFIXES: dict[str, str] = {suffix: key for key in RUNTIMES for suffix in RUNTIMES[key].suffixes}


def runtime_for_path(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ModelError(f"{path}: unknown model format '{suffix}' "
                         f"(expected one of {', '.join(sorted(SUFFIXES))})")
    return SUFFIXES[suffix]


def read_model_info(path: str | Path) -> ModelInfo:
    """Metadata for a model file: its card (`x.card.json`) or an entry of `manifest.json` beside it."""
    p = Path(path)
    card_file = card_path_for(p)
    manifest_file = p.parent / "manifest.json"
    if card_file.exists():
        if manifest_file.exists():
            check_listed(manifest_file, p)  # a card beside it does not skip the checksum
        card = ModelCard.load(card_file)
        return ModelInfo(card.class_names, card.resolution, card.preprocessing, card.arch,
                         card.tta, card.accuracy)
    if manifest_file.exists():
        return info_from_manifest(manifest_file, p)
    raise ModelError(f"{p}: no metadata found (expected {card_file.name} or manifest.json beside it)")


def is_manifest(path: Path) -> bool:
    """A manifest.json from `edge-fer convert`, or the folder holding one, rather than a file."""
    return path.is_dir() or path.name == "manifest.json"


def load_classifier(path: str | Path, runtime: str | None = None, threads: int | None = None,
                    resolution: int | None = None, tta: str | None = None,
                    batch: int | None = None) -> Classifier:
    """Open a model file with the runtime chosen by key (or by the file's suffix).

    A `manifest.json` from `edge-fer convert`, or its folder, opens the export it prefers
    among those whose runtime is installed here. `tta` overrides the model's own test-time
    augmentation (None keeps it): for measuring, and for devices too slow for it. `batch` is
    the images a call will usually carry (`Classifier.batch`); None: one face's images a
    frame under the model's TTA (`tta.images_per_frame`: what the camera loop sends for a
    single face, ScheduleConfig.images_per_face).
    """
    p = Path(path)
    if tta is not None:
        try:
            parse_tta(tta)
        except ValueError as e:
            raise UserInputError(str(e)) from None
    if not p.exists():
        raise ModelError(f"{p}: no such model file")
    if is_manifest(p):
        return _load_from_manifest(p / "manifest.json" if p.is_dir() else p, runtime, threads,
                                   resolution, tta, batch)
    key = runtime or runtime_for_path(p)
    cls = RUNTIMES.load(key)
    info = read_model_info(p)
    if tta is not None:
        info = replace(info, tta=tta)
    # Given to the constructor, not set afterwards: OpenVINO compiles for it when it loads.
    classifier: Classifier = cls(p, info, threads=threads,
                                 batch=images_per_frame(info.tta) if batch is None else batch)
    classifier.path = p
    if classifier._fixed is not None and classifier._fixed != classifier.info.resolution:
        raise ModelError(f"{p}: the model's input is {classifier._fixed} px but its metadata "
                         f"says resolution {classifier.info.resolution}")
    if resolution is not None and resolution != classifier.resolution:
        classifier.set_resolution(resolution)
    return classifier


def _load_from_manifest(path: Path, runtime: str | None, threads: int | None,
                        resolution: int | None, tta: str | None, batch: int | None,
                        ) -> Classifier:
    """The first of the manifest's preferred exports whose runtime is installed here."""
    manifest = Manifest.load(path)
    candidates = manifest.preferred(runtime, resolution)
    if not candidates:
        raise ModelError(f"{path}: no verified model" + (f" for the {runtime} runtime" if runtime else ""))
    missing: list[MissingDependencyError] = []
    for artifact in candidates:
        try:
            classifier = load_classifier(validate.inside(path.parent, artifact.file, str(path)),
                                         artifact.runtime, threads, resolution, tta, batch)
        except MissingDependencyError as e:
            missing.append(e)
            continue
        # What each size expects when it loads its own export (per-size exports of one model).
        classifier.info = replace(classifier.info, accuracy=manifest.accuracy_for(artifact))
        return classifier
    installs = " or ".join(dict.fromkeys(pip_install(f"edge-fer[{e.extra}]") for e in missing))
    raise UserInputError(f"{path}: no runtime installed for any of its models; {installs}")
