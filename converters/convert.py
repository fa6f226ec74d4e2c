"""The conversion job: Keras model -> chosen formats -> verification -> manifest.json.

Calibration and verification faces never overlap: when no separate verification set is
given, verification faces are drawn from the calibration folder minus the calibration sample.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import edge_fer
from edge_fer.card import ModelCard, card_path_for
from edge_fer.converters.formats import ExportFormat
from edge_fer.converters.verify import Thresholds, compare, failure_message, predict_in_batches
from edge_fer.data import FaceDataset, load_dataset, load_source, stratified_sample
from edge_fer.errors import UserInputError
from edge_fer.manifest import MANIFEST_NAME, Artifact, Manifest, Verification, sha256_file
from edge_fer.preprocess import prepare_batch, to_model_input
from edge_fer.runtimes.base import RUNTIMES, Classifier, ModelInfo, read_model_info
from edge_fer.runtimes.keras_runtime import KerasClassifier, load_keras_model
from edge_fer.validate import MAX_RESOLUTION, MIN_RESOLUTION

log = logging.getLogger(__name__)


INT8_FALLBACK = ("top", "block6a")


@dataclass(frozen=True)
class ConvertConfig:
    model: Path  # a .keras file with its card beside it
    out: Path
    formats: tuple[ExportFormat, ...]
    calibration: Path | None = None  # default: the training data named in the model card
    calibration_samples: int = 500
    # Share of calibration faces left out: those whose features (the classifier's input) reach
    # furthest. A handful of faces can drive the last stage ~100x past the median face; with one
    # int8 scale per tensor, everyone else's features then round to nothing.
    calibration_trim: float = 0.02
    verify_data: Path | None = None  # default: other faces of the calibration folder
    samples: int = 500
    io_dtype: str = "uint8"
    # When full int8 fails verification, export again with the layers from each of these on
    # in float, cheapest first, until one passes (empty: fail). EfficientNetV2's last stage
    # carries a residual stream whose range reaches ~1,700: 8 bits lose what the head needs.
    int8_fallback: tuple[str, ...] = INT8_FALLBACK
    thresholds: Thresholds = field(default_factory=Thresholds)
    seed: int = 0
    tta: str | None = None  # test-time augmentation every export records; None: the card's
    # Runtimes that also load the exports of another runtime (OpenVINO reads .tflite): each
    # such file is verified through them too and listed once per runtime that passed.
    also_runtimes: tuple[str, ...] = ()
    # Further sizes to export for, each with batch norm re-estimated there on `bn_faces`
    # faces of the calibration data (a network trained at several sizes: edge_fer/batchnorm.py).
    resolutions: tuple[int, ...] = ()
    bn_faces: int = 2048


@dataclass(frozen=True)
class ConvertResult:
    manifest: Path
    artifacts: tuple[Artifact, ...]
    failures: tuple[str, ...]  # one line per export that failed verification


@dataclass(frozen=True)
class Faces:
    """Prepared (N, r, r) uint8 faces, their labels, and where they came from."""

    faces: np.ndarray
    labels: np.ndarray
    source: str


def convert(cfg: ConvertConfig, echo: Callable[[str], None] = log.info) -> ConvertResult:
    """Export every chosen format (at the card's size, then at each of `cfg.resolutions` with
    batch norm re-estimated there), verify each through its runtime, write the manifest."""
    if cfg.model.suffix.lower() not in (".keras", ".h5"):
        raise UserInputError(f"{cfg.model}: convert takes a Keras model (.keras), "
                             f"got '{cfg.model.suffix}'")
    info = read_model_info(cfg.model)
    if cfg.tta is not None:
        info = replace(info, tta=cfg.tta)
    sizes = _per_size(cfg, info)
    manifest_file = cfg.out / MANIFEST_NAME
    # Read an existing manifest first: a corrupt one stops us before any work or overwrite.
    previous = Manifest.load(manifest_file) if manifest_file.exists() else Manifest(())
    pool = _pool(cfg, per_size=bool(sizes))
    source_sha = sha256_file(cfg.model)
    cfg.out.mkdir(parents=True, exist_ok=True)
    done = _Done(previous, manifest_file)
    _convert_at(cfg, load_keras_model(cfg.model), info, pool, source_sha, "", {}, done, echo)
    for resolution in sizes:
        assert pool is not None
        model, note = _reestimated(cfg, info, pool, resolution, echo)
        _convert_at(cfg, model, replace(info, resolution=resolution), pool, source_sha,
                    f"_{resolution}px", {"batch_norm": note}, done, echo)
    return ConvertResult(manifest_file, tuple(done.artifacts), tuple(done.failures))


@dataclass
class _Done:
    """What a conversion has written so far; the manifest is saved after every file, so if a
    later export fails, the finished ones stay listed."""

    previous: Manifest
    manifest_file: Path
    artifacts: list[Artifact] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, new: list[Artifact], source: Path) -> None:
        self.artifacts += new
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.previous.merged(self.artifacts, str(source), created).save(self.manifest_file)


def _per_size(cfg: ConvertConfig, info: ModelInfo) -> tuple[int, ...]:
    """`cfg.resolutions` less the card's own size (its export is the model as it is)."""
    if cfg.resolutions and not cfg.formats:
        raise UserInputError("--resolutions needs a format to export")
    for r in cfg.resolutions:
        if not MIN_RESOLUTION <= r <= MAX_RESOLUTION:
            raise UserInputError(f"--resolutions: {r} px is outside {MIN_RESOLUTION}.."
                                 f"{MAX_RESOLUTION}")
    return tuple(sorted({r for r in cfg.resolutions if r != info.resolution}))


def _reestimated(cfg: ConvertConfig, info: ModelInfo, pool: FaceDataset, resolution: int,
                 echo: Callable[[str], None]) -> tuple[Any, dict[str, Any]]:
    """The Keras model with batch norm re-estimated at `resolution`, and a note of how."""
    from edge_fer.batchnorm import reestimate

    faces = pool.subset(stratified_sample(pool.labels, min(cfg.bn_faces, len(pool)), cfg.seed))
    model = load_keras_model(cfg.model)
    layers = reestimate(model, faces.images, resolution, info.preprocessing)
    if layers == 0:
        raise UserInputError(f"{cfg.model}: no batch-norm layers, so --resolutions would export "
                             "the same network again; convert once and run it at any size")
    echo(f"{resolution} px: batch norm of {layers} layers re-estimated on {len(faces.labels)} "
         f"faces from {faces.source}")
    return model, {"resolution": resolution, "faces": len(faces.labels), "data": faces.source,
                  "seed": cfg.seed, "layers": layers}


def _convert_at(cfg: ConvertConfig, keras_model: Any, info: ModelInfo,
                pool: FaceDataset | None, source_sha: str, tag: str, extra: dict[str, Any],
                done: _Done, echo: Callable[[str], None]) -> None:
    """Every chosen format of `keras_model` (`cfg.model`, its batch norm perhaps re-estimated)
    at `info.resolution`, named model_<variant><tag>."""
    calibration, verification = _select_faces(cfg, info, pool)
    echo(f"model: {cfg.model} ({info.arch}, {info.resolution} px, tta {info.tta}); verifying on "
         f"{len(verification.labels)} faces from {verification.source}")
    reference = _reference(cfg.model, info, verification.faces, keras_model)
    if calibration is not None:
        calibration = _trimmed(keras_model, calibration, cfg.calibration_trim)
    for fmt in cfg.formats:
        t0 = time.monotonic()
        options: dict[str, Any] = {"io_dtype": cfg.io_dtype, "tag": tag}
        if calibration is not None:
            options["calibration"] = calibration.faces
        path, check = _export_and_verify(fmt, keras_model, cfg, info, options, verification,
                                         reference)
        if fmt.quantized:
            attempts: list[dict[str, Any]] = []
            for start in cfg.int8_fallback if not check.passed else ():
                attempts.append({"float_from": options.get("float_from"),
                                 "accuracy": check.accuracy, "agreement": check.agreement})
                echo(f"{failure_message(fmt.key, check, True, cfg.thresholds)}; exporting "
                     f"again with the layers from {start} on in float")
                options["float_from"] = start
                path, check = _export_and_verify(fmt, keras_model, cfg, info, options,
                                                 verification, reference)
                if check.passed:
                    break
            options["failed_attempts"] = attempts
        if not check.passed:
            done.failures.append(failure_message(f"{fmt.key} at {info.resolution} px" if tag
                                                 else fmt.key, check, fmt.quantized,
                                                 cfg.thresholds))
        artifact = _artifact(fmt, path, info, source_sha, check, cfg, calibration,
                             {**options, **extra})
        done.add([artifact, *_cross_verified(artifact, cfg, info, verification, reference,
                                             echo)], cfg.model)
        echo(f"exported {fmt.key} -> {path.name} ({time.monotonic() - t0:.0f} s)")


def _export_and_verify(fmt: ExportFormat, keras_model: Any, cfg: ConvertConfig, info: ModelInfo,
                       options: dict[str, Any], verification: Faces,
                       reference: np.ndarray) -> tuple[Path, Verification]:
    path = fmt.export(keras_model, cfg.out, **options)
    with _open(fmt.runtime, path, info) as classifier:
        probs = predict_in_batches(classifier, verification.faces)
    return path, compare(probs, reference, verification.labels, fmt.quantized, cfg.thresholds,
                         verification.source)


# runtime -> the suffixes of other runtimes' files it reads
CROSS_READS: dict[str, tuple[str, ...]] = {"openvino": (".tflite",)}


def _cross_verified(artifact: Artifact, cfg: ConvertConfig, info: ModelInfo, verification: Faces,
                    reference: np.ndarray, echo: Callable[[str], None]) -> list[Artifact]:
    """`artifact` verified through each of `cfg.also_runtimes` that reads its file, as
    entries of their own (the same file, another runtime); failures are logged, not listed."""
    out: list[Artifact] = []
    path = cfg.out / artifact.file
    quantized = artifact.input.dtype in ("uint8", "int8")
    for runtime in cfg.also_runtimes:
        if runtime == artifact.runtime or path.suffix not in CROSS_READS.get(runtime, ()):
            continue
        with _open(runtime, path, info) as classifier:
            probs = predict_in_batches(classifier, verification.faces)
        check = compare(probs, reference, verification.labels, quantized, cfg.thresholds,
                        verification.source)
        label = f"{artifact.format} on {runtime}"
        if not check.passed:
            echo(f"{failure_message(label, check, quantized, cfg.thresholds)}; not listed")
            continue
        echo(f"verified {label}: {100 * check.agreement:.1f}% agree with Keras")
        out.append(replace(artifact, runtime=runtime, verification=check,
                           versions={**artifact.versions, **_runtime_versions(runtime)}))
    return out


def add_runtimes(cfg: ConvertConfig, echo: Callable[[str], None] = log.info) -> ConvertResult:
    """Verify the exports already in `cfg.out` through `cfg.also_runtimes`, without exporting
    again: the faces are those `convert` verified on (same seed and formats), and a per-size
    export (`--resolutions`) is checked at its size against Keras with batch norm re-estimated
    there as convert did (same --bn-faces and seed)."""
    manifest_file = cfg.out / MANIFEST_NAME
    manifest = Manifest.load(manifest_file)
    info = read_model_info(cfg.model)
    if cfg.tta is not None:
        info = replace(info, tta=cfg.tta)
    groups: dict[int | None, list[Artifact]] = {}
    for artifact in manifest.artifacts:
        if artifact.verification is not None and artifact.verification.passed:
            size = artifact.resolution if "batch_norm" in artifact.options else None
            groups.setdefault(size, []).append(artifact)
    pool = _pool(cfg, per_size=any(size is not None for size in groups))
    present = {(a.file, a.runtime) for a in manifest.artifacts}
    new: list[Artifact] = []
    for size, artifacts in groups.items():
        if size is None:
            keras_model, at = load_keras_model(cfg.model), info
        else:
            assert pool is not None
            keras_model, _ = _reestimated(cfg, info, pool, size, echo)
            at = replace(info, resolution=size)
        _, verification = _select_faces(cfg, at, pool)
        reference = _reference(cfg.model, at, verification.faces, keras_model)
        for artifact in artifacts:
            new += [a for a in _cross_verified(artifact, cfg, at, verification, reference, echo)
                    if (a.file, a.runtime) not in present]
    Manifest(manifest.artifacts + tuple(new), manifest.source, manifest.created).save(manifest_file)
    return ConvertResult(manifest_file, tuple(new), ())


def _runtime_versions(runtime: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {runtime: version(runtime)}
    except PackageNotFoundError:
        return {}


def _needs_calibration(cfg: ConvertConfig) -> bool:
    return any("calibration" in f.options for f in cfg.formats)


def _select_faces(cfg: ConvertConfig, info: ModelInfo,
                  pool: FaceDataset | None) -> tuple[Faces | None, Faces]:
    """(calibration faces or None when no format needs them, verification faces) from `pool`
    (the calibration data: loaded once by the caller, None when neither needs it)."""
    calibration: Faces | None = None
    used = np.zeros(0, dtype=np.int64)
    if _needs_calibration(cfg):
        assert pool is not None
        used = stratified_sample(pool.labels, min(cfg.calibration_samples, len(pool)), cfg.seed)
        calibration = _prepare(pool.subset(used), info)
    if cfg.verify_data is not None:
        verify_set = load_dataset(cfg.verify_data, limit=cfg.samples, seed=cfg.seed)
    else:
        assert pool is not None
        rest = np.setdiff1d(np.arange(len(pool)), used)
        if len(rest) == 0:
            raise UserInputError(f"{pool.source}: no faces left to verify on after taking "
                                 f"{len(used)} for calibration; pass --verify-data")
        pick = rest[stratified_sample(pool.labels[rest], min(cfg.samples, len(rest)), cfg.seed + 1)]
        verify_set = pool.subset(pick)
    return calibration, _prepare(verify_set, info)


def _prepare(data: FaceDataset, info: ModelInfo) -> Faces:
    return Faces(prepare_batch(data.images, info.resolution, info.preprocessing), data.labels,
                 data.source)


def _pool(cfg: ConvertConfig, per_size: bool) -> FaceDataset | None:
    """The calibration data (--calibration, or else the training data the model card names),
    read once; None when nothing draws on it: no int8 calibration, verification on
    --verify-data, and no batch norm re-estimated per size."""
    if not (per_size or cfg.verify_data is None or _needs_calibration(cfg)):
        return None
    if cfg.calibration is not None:
        return load_dataset(cfg.calibration)
    card_file = card_path_for(cfg.model)
    source = str(ModelCard.load(card_file).details.get("data", {}).get("source", ""))
    return load_source(source, card_file, "pass --calibration DIR (labelled faces)")


def _trimmed(keras_model: Any, calibration: Faces, share: float) -> Faces:
    """`calibration` less the `share` of faces with the largest features (|max| of what the last
    layer takes), the outliers that would set the int8 ranges of the network's last stage."""
    drop = int(len(calibration.labels) * share)
    if drop == 0:
        return calibration
    from edge_fer.runtimes.keras_runtime import import_keras

    features = import_keras().Model(keras_model.inputs, keras_model.layers[-1].input)
    reach = np.abs(np.asarray(features.predict(to_model_input(calibration.faces), batch_size=64,
                                               verbose=0))).reshape(len(calibration.faces), -1)
    keep = np.sort(np.argsort(reach.max(axis=1), kind="stable")[:len(reach) - drop])
    return Faces(calibration.faces[keep], calibration.labels[keep], calibration.source)


def _reference(path: Path, info: ModelInfo, faces: np.ndarray,
               keras_model: Any = None) -> np.ndarray:
    """Keras' probabilities under the same `info` (TTA included) as every export is run with;
    `keras_model`: the model of `path` already in memory (perhaps changed), else loaded."""
    with KerasClassifier(path, info, model=keras_model) as keras_classifier:
        return predict_in_batches(keras_classifier, faces)


def _open(runtime: str, path: Path, info: ModelInfo) -> Classifier:
    """A runtime for a file whose manifest does not exist yet: metadata comes from the card."""
    classifier: Classifier = RUNTIMES.load(runtime)(path, info)
    return classifier


def _artifact(fmt: ExportFormat, path: Path, info: ModelInfo, source_sha: str,
              check: Verification, cfg: ConvertConfig, calibration: Faces | None,
              used: dict[str, Any]) -> Artifact:
    extra = [path.with_suffix(".bin")] if fmt.runtime == "openvino" else []
    inp, out = fmt.describe(path)
    options: dict[str, Any] = {}
    if fmt.quantized and calibration is not None:
        options = {"io_dtype": inp.dtype, "calibration_faces": len(calibration.labels),
                   "calibration_data": calibration.source, "calibration_seed": cfg.seed,
                   "calibration_trim": cfg.calibration_trim}
        options.update({k: v for k, v in used.items() if k in ("float_from", "failed_attempts")})
    if "batch_norm" in used:
        options["batch_norm"] = used["batch_norm"]
    return Artifact(
        format=fmt.key, runtime=fmt.runtime, file=path.name, sha256=sha256_file(path),
        size=path.stat().st_size + sum(p.stat().st_size for p in extra),
        resolution=info.resolution, dynamic_resolution=fmt.dynamic_resolution, input=inp,
        output=out, class_names=info.class_names, preprocessing=info.preprocessing,
        arch=info.arch, source_sha256=source_sha,
        versions={"edge-fer": edge_fer.__version__, **fmt.versions()}, verification=check,
        extra_files={p.name: sha256_file(p) for p in extra}, options=options, tta=info.tta,
        accuracy=info.accuracy)  # the source's table until measured on the export itself
