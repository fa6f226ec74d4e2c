"""The export manifest: `manifest.json` beside converted models, written by `edge-fer convert`.

Every artifact entry is self-contained (classes, preprocessing, input tensor, checksums,
verification, tool versions), so a device can load any one file of the folder without the
Keras model or its card. The file is validated once, here; callers get typed objects.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_fer import validate
from edge_fer.accuracy import AccuracyPoint, AccuracyTable, read_optional
from edge_fer.errors import ModelError
from edge_fer.jsonfile import DocumentType, save_json
from edge_fer.model_info import ModelInfo
from edge_fer.preprocess import Preprocessing
from edge_fer.tta import parse_tta

MANIFEST_KIND = "edge-fer-manifest"
MANIFEST_SCHEMA = 1
MANIFEST_NAME = "manifest.json"
MANIFEST = DocumentType(MANIFEST_KIND, MANIFEST_SCHEMA, "manifest", ModelError)
# Which export a device runs when it may choose. Float exports keep Keras' accuracy (int8
# loses about a point); TFLite first because it needs the smallest install.
PREFERENCE = ("tflite-fp16", "tflite-fp32", "openvino-fp16", "openvino-fp32", "tflite-int8")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: shape (-1 = dynamic), dtype, and quantization if integer."""

    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "scale": self.scale,
                "zero_point": self.zero_point}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        scale = data.get("scale")
        zero = data.get("zero_point")
        return cls(tuple(int(d) for d in data["shape"]), str(data["dtype"]),
                   None if scale is None else float(scale), None if zero is None else int(zero))


@dataclass(frozen=True)
class Verification:
    """How the export compared with the Keras model on the same faces."""

    samples: int
    agreement: float  # share of faces with the same top-1 class as Keras
    max_abs_diff: float  # largest absolute difference of any class probability
    accuracy: float | None = None  # against the labels, when the faces had labels
    reference_accuracy: float | None = None  # the Keras model's accuracy on the same faces
    data: str = ""  # where the faces came from
    passed: bool = True
    # Faces that one of the two gets right and the other wrong: the accuracy difference is
    # uncertain by about sqrt(flips)/samples (paired comparison).
    flips: int = 0

    @property
    def accuracy_drop_se(self) -> float:
        return float(self.flips) ** 0.5 / max(self.samples, 1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verification:
        def opt(key: str) -> float | None:
            return None if data.get(key) is None else float(data[key])

        return cls(int(data["samples"]), float(data["agreement"]), float(data["max_abs_diff"]),
                   opt("accuracy"), opt("reference_accuracy"), str(data.get("data", "")),
                   bool(data.get("passed", True)), int(data.get("flips", 0)))


@dataclass(frozen=True)
class Artifact:
    """One exported model file and everything a runtime or an auditor needs to know about it."""

    format: str  # the format key, e.g. "tflite-int8"
    runtime: str  # the runtime key that loads it: "tflite", "openvino"
    file: str  # relative to the manifest's folder
    sha256: str
    size: int  # bytes of `file` (plus its weights file for OpenVINO: see `extra_files`)
    resolution: int  # the default input size (the training resolution)
    dynamic_resolution: bool  # True: one file serves every resolution
    input: TensorSpec
    output: TensorSpec
    class_names: tuple[str, ...]
    preprocessing: Preprocessing
    arch: str
    source_sha256: str  # the Keras model it was converted from
    versions: dict[str, str]  # converter and runtime package versions
    verification: Verification | None = None
    extra_files: dict[str, str] = field(default_factory=dict)  # name -> sha256 (OpenVINO .bin)
    options: dict[str, Any] = field(default_factory=dict)  # format options used (calibration, ...)
    tta: str = "none"  # test-time augmentation its runtime applies (and verification used)
    accuracy: AccuracyTable | None = None  # this file's accuracy against resolution, if measured

    def info(self) -> ModelInfo:
        return ModelInfo(self.class_names, self.resolution, self.preprocessing, self.arch,
                         self.tta, self.accuracy)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input"] = self.input.to_dict()
        data["output"] = self.output.to_dict()
        data["class_names"] = list(self.class_names)
        data["preprocessing"] = self.preprocessing.to_dict()
        data["accuracy"] = self.accuracy.to_dict() if self.accuracy else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "artifact") -> Artifact:
        ver = data.get("verification")
        resolution = validate.resolution(data["resolution"], origin)
        dynamic = bool(data["dynamic_resolution"])
        tensor_in = TensorSpec.from_dict(data["input"])
        validate.input_shape(tensor_in.shape, resolution, dynamic, origin)
        return cls(
            format=str(data["format"]), runtime=str(data["runtime"]),
            file=validate.relative_file(data["file"], origin),
            sha256=validate.sha256_hex(data["sha256"], origin), size=int(data["size"]),
            resolution=resolution, dynamic_resolution=dynamic,
            input=tensor_in, output=TensorSpec.from_dict(data["output"]),
            class_names=validate.class_names(data["class_names"], origin),
            preprocessing=Preprocessing.from_dict(
                validate.preprocessing(data["preprocessing"], origin)),
            arch=str(data.get("arch", "unknown")), source_sha256=str(data["source_sha256"]),
            versions={str(k): str(v) for k, v in dict(data.get("versions", {})).items()},
            verification=None if ver is None else Verification.from_dict(ver),
            extra_files={validate.relative_file(k, origin, "extra_files"):
                         validate.sha256_hex(v, origin, f"extra_files.{k}")
                         for k, v in dict(data.get("extra_files", {})).items()},
            options=dict(data.get("options", {})),
            tta=parse_tta(data.get("tta", "none")),  # absent: written before TTA existed
            accuracy=read_optional(data, origin),
        )


@dataclass(frozen=True)
class Manifest:
    """The artifacts of one output folder, keyed by file name."""

    artifacts: tuple[Artifact, ...]
    source: str = ""  # the Keras model file the last conversion read (informative)
    created: str = ""

    def find(self, file_name: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.file == file_name), None)

    def preferred(self, runtime: str | None = None,
                  resolution: int | None = None) -> list[Artifact]:
        """Verified artifacts (of `runtime`, if given), best first by PREFERENCE.

        Within one format, exports made for several sizes (`convert --resolutions`) are ranked
        for `resolution`: the best expected accuracy there by their own tables, then the
        nearest size; without a resolution the model's own export (not a per-size one) leads.
        """
        rank = {key: i for i, key in enumerate(PREFERENCE)}
        usable = (a for a in self.artifacts
                  if (a.verification is None or a.verification.passed)
                  and (runtime is None or a.runtime == runtime))
        return sorted(usable, key=lambda a: (rank.get(a.format, len(rank)),
                                             *_fitness(a, resolution)))

    def accuracy_for(self, chosen: Artifact) -> AccuracyTable | None:
        """The accuracy a device can expect from `chosen`'s format and runtime when each size
        loads its best export (as `preferred` ranks them): per size and TTA, the best of
        their tables. `chosen`'s own table when it has no per-size siblings to merge with."""
        siblings = [a for a in self.preferred(chosen.runtime) if a.format == chosen.format]
        tables = [a.accuracy for a in siblings if a.accuracy is not None]
        if len(tables) < 2 or len({(t.split, t.data) for t in tables}) > 1:
            return chosen.accuracy
        best: dict[tuple[int, str], AccuracyPoint] = {}
        for table in tables:
            for p in table.rows:
                held = best.get((p.resolution, p.tta))
                if held is None or p.accuracy > held.accuracy:
                    best[(p.resolution, p.tta)] = p
        return AccuracyTable(tables[0].split, min(t.faces for t in tables),
                             tuple(best.values()), tables[0].data)

    def merged(self, new: list[Artifact], source: str, created: str) -> Manifest:
        """This manifest with `new` replacing entries for the same files (others are kept)."""
        names = {a.file for a in new}
        kept = [a for a in self.artifacts if a.file not in names]
        return Manifest(tuple(kept + new), source, created)

    def to_dict(self) -> dict[str, Any]:
        return {**MANIFEST.header(), "source": self.source,
                "created": self.created, "artifacts": [a.to_dict() for a in self.artifacts]}

    def save(self, path: str | Path) -> None:
        save_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, origin: str = MANIFEST_NAME) -> Manifest:
        MANIFEST.check(data, origin)
        entries = data.get("artifacts")
        if not isinstance(entries, list):
            raise ModelError(f"{origin}: 'artifacts' must be a list")
        artifacts = []
        for i, entry in enumerate(entries):
            try:
                artifacts.append(Artifact.from_dict(entry, f"{origin}: artifact {i}"))
            except KeyError as e:
                raise ModelError(f"{origin}: artifact {i}: missing field {e}") from None
            except (TypeError, ValueError, AttributeError) as e:
                raise ModelError(f"{origin}: artifact {i}: bad value ({e})") from None
        return cls(tuple(artifacts), str(data.get("source", "")), str(data.get("created", "")))

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        return cls.from_dict(MANIFEST.read(path), str(path))


def _fitness(artifact: Artifact, resolution: int | None) -> tuple[bool, float, int]:
    """Sort key of an export for `resolution` within its format (lower is better): measured
    there before not, then the best expected accuracy, then the nearest size."""
    if resolution is None:
        return (False, 0.0, int("batch_norm" in artifact.options))
    table, expected = artifact.accuracy, None
    if table is not None:
        tta = table.ranking_tta(artifact.tta)
        expected = table.expected(resolution, tta) if tta is not None else None
    return (expected is None, -(expected or 0.0), abs(artifact.resolution - resolution))


def load_manifest_data(path: str | Path) -> dict[str, Any]:
    """A manifest file's whole object, validated as Manifest.load does."""
    data = MANIFEST.read(path)
    Manifest.from_dict(data, str(path))
    return data


def info_from_manifest(manifest_file: Path, model_file: Path) -> ModelInfo:
    """The ModelInfo of `model_file` from the manifest beside it; its checksum must match."""
    artifact = check_listed(manifest_file, model_file)
    if artifact is None:
        raise ModelError(f"{model_file}: not listed in {manifest_file}")
    return artifact.info()


def check_listed(manifest_file: Path, model_file: Path) -> Artifact | None:
    """The manifest's entry for `model_file` (None if unlisted), its files' sha256 checked.

    The checksum guards against a model file replaced after conversion: its classes and
    preprocessing would silently be wrong. A card beside the file does not skip it.
    """
    artifact = Manifest.load(manifest_file).find(Path(model_file).name)
    if artifact is None:
        return None
    folder = Path(manifest_file).parent
    for name, digest in ((artifact.file, artifact.sha256), *artifact.extra_files.items()):
        path = validate.inside(folder, name, str(manifest_file))
        if path.exists() and sha256_file(path) != digest:
            raise ModelError(f"{path}: its sha256 does not match {manifest_file} "
                             "(the file changed after conversion; convert again)")
    return artifact
