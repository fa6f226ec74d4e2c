"""The export manifest: round trip, validation at load, and model metadata read through it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from edge_fer.accuracy import AccuracyTable
from edge_fer.classes import CLASS_NAMES
from edge_fer.defaults import DEFAULT_MODEL_DIR
from edge_fer.errors import ModelError
from edge_fer.manifest import (
    MANIFEST_SCHEMA,
    Artifact,
    Manifest,
    TensorSpec,
    Verification,
    info_from_manifest,
    sha256_file,
)
from edge_fer.preprocess import Preprocessing
from edge_fer.runtimes.base import read_model_info


def _artifact(folder: Path, name: str = "model_int8.tflite", content: bytes = b"model") -> Artifact:
    (folder / name).write_bytes(content)
    return Artifact(
        format="tflite-int8", runtime="tflite", file=name, sha256=sha256_file(folder / name),
        size=len(content), resolution=64, dynamic_resolution=True,
        input=TensorSpec((-1, -1, -1, 3), "uint8", 0.996, 0),
        output=TensorSpec((-1, 7), "uint8", 1 / 256, 0), class_names=CLASS_NAMES,
        preprocessing=Preprocessing(native_size=48), arch="efficientnetv2-b0",
        source_sha256="ab" * 32, versions={"tensorflow": "2.21.0"},
        verification=Verification(500, 0.93, 0.2, 0.61, 0.615, "test", True, flips=31),
        options={"calibration_faces": 500})


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    manifest = Manifest((_artifact(tmp_path),), source="m.keras", created="2026-01-01T00:00:00")
    manifest.save(tmp_path / "manifest.json")
    loaded = Manifest.load(tmp_path / "manifest.json")
    assert loaded == manifest
    assert json.loads((tmp_path / "manifest.json").read_text())["schema"] == MANIFEST_SCHEMA


def test_merge_replaces_same_file_and_keeps_others(tmp_path: Path) -> None:
    old = Manifest((_artifact(tmp_path, "a.tflite"), _artifact(tmp_path, "b.tflite")))
    new = _artifact(tmp_path, "b.tflite", b"new weights")
    merged = old.merged([new], "m.keras", "now")
    assert [a.file for a in merged.artifacts] == ["a.tflite", "b.tflite"]
    assert merged.find("b.tflite") == new


def test_model_info_comes_from_the_manifest_when_no_card(tmp_path: Path) -> None:
    Manifest((_artifact(tmp_path),)).save(tmp_path / "manifest.json")
    info = read_model_info(tmp_path / "model_int8.tflite")  # base.py's lazy path into manifest
    assert info.class_names == CLASS_NAMES and info.resolution == 64
    assert info.arch == "efficientnetv2-b0"


@pytest.mark.parametrize("stored, expected", [("flip", "flip"), ("none", "none"), (None, "none")])
def test_tta_is_read_from_the_artifact_and_absent_means_none(tmp_path: Path, stored: str | None,
                                                              expected: str) -> None:
    data = Manifest((_artifact(tmp_path),)).to_dict()
    entry = data["artifacts"][0]
    assert entry["tta"] == "none"  # always written
    if stored is None:
        del entry["tta"]  # a manifest from before TTA
    else:
        entry["tta"] = stored
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    assert read_model_info(tmp_path / "model_int8.tflite").tta == expected
    assert Manifest.load(tmp_path / "manifest.json").artifacts[0].tta == expected


def test_the_shipped_default_manifest_loads_with_the_tta_it_records() -> None:
    """Shipped before TTA existed (no key): it must load, checksums and all, as "none"."""
    manifest_file = DEFAULT_MODEL_DIR / "manifest.json"
    entries = json.loads(manifest_file.read_text())["artifacts"]
    for entry, artifact in zip(entries, Manifest.load(manifest_file).artifacts):
        info = read_model_info(DEFAULT_MODEL_DIR / artifact.file)  # checks its sha256 too
        assert artifact.tta == info.tta == entry.get("tta", "none")


def test_model_not_listed_or_changed_is_refused(tmp_path: Path) -> None:
    Manifest((_artifact(tmp_path),)).save(tmp_path / "manifest.json")
    (tmp_path / "other.tflite").write_bytes(b"x")
    with pytest.raises(ModelError, match="other.tflite: not listed in"):
        info_from_manifest(tmp_path / "manifest.json", tmp_path / "other.tflite")
    (tmp_path / "model_int8.tflite").write_bytes(b"replaced after conversion")
    with pytest.raises(ModelError, match="model_int8.tflite: its sha256 does not match"):
        info_from_manifest(tmp_path / "manifest.json", tmp_path / "model_int8.tflite")


@pytest.mark.parametrize("edit, message", [
    (lambda d: "not json {", "unreadable manifest"),
    (lambda d: {**d, "kind": "ultralytics-metadata"}, "not an edge-fer manifest"),
    (lambda d: [d], "not an edge-fer manifest"),
    (lambda d: {**d, "schema": MANIFEST_SCHEMA + 1}, "newer than this edge-fer reads"),
    (lambda d: {**d, "schema": "1"}, "bad manifest schema"),
    (lambda d: {**d, "artifacts": {}}, "'artifacts' must be a list"),
    (lambda d: {**d, "artifacts": [{k: v for k, v in d["artifacts"][0].items() if k != "sha256"}]},
     "artifact 0: missing field 'sha256'"),
    (lambda d: {**d, "artifacts": [{**d["artifacts"][0], "resolution": "large"}]},
     "artifact 0: resolution must be a whole number"),
    (lambda d: {**d, "artifacts": [{**d["artifacts"][0], "class_names": []}]},
     "artifact 0: class_names must be a list"),
    (lambda d: {**d, "artifacts": [{**d["artifacts"][0], "tta": "bogus"}]},
     "artifact 0: bad value (unknown tta 'bogus'"),
])
def test_bad_manifests_give_one_line_errors_naming_the_file(tmp_path: Path, edit, message) -> None:
    good = Manifest((_artifact(tmp_path),)).to_dict()
    broken = edit(good)
    path = tmp_path / "manifest.json"
    path.write_text(broken if isinstance(broken, str) else json.dumps(broken))
    with pytest.raises(ModelError) as e:
        read_model_info(tmp_path / "model_int8.tflite")
    text = str(e.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text, text


def _table(points: dict[int, float]) -> AccuracyTable:
    return AccuracyTable.from_dict(
        {"split": "test", "faces": 100, "rows": [
            {"resolution": r, "tta": "none", "accuracy": a, "macro_f1": a - 0.05}
            for r, a in points.items()]}, "t.json: accuracy")


def _per_size(tmp_path: Path) -> Manifest:
    """A model's own export at 64 px and one made for 48 px (`convert --resolutions 48`),
    listed per-size first, as a later conversion into the same folder leaves them."""
    own = replace(_artifact(tmp_path), accuracy=_table({48: 0.55, 64: 0.66, 96: 0.60}))
    small = replace(_artifact(tmp_path, "model_int8_48px.tflite", b"48"), resolution=48,
                    options={"batch_norm": {"resolution": 48}},
                    accuracy=_table({48: 0.60, 64: 0.62}))
    return Manifest((small, own))


def test_per_size_exports_are_ranked_by_their_accuracy_at_the_asked_size(tmp_path: Path) -> None:
    manifest = _per_size(tmp_path)
    first = {r: manifest.preferred("tflite", r)[0].file for r in (48, 56, 64, 96)}
    assert first == {48: "model_int8_48px.tflite", 56: "model_int8_48px.tflite",  # .61 > .605
                     64: "model_int8.tflite", 96: "model_int8.tflite"}
    assert manifest.preferred("tflite")[0].file == "model_int8.tflite"  # no size: the model's own
    assert manifest.preferred("tflite", 300)[0].file == "model_int8.tflite"  # no table: nearest


def test_the_expected_accuracy_of_per_size_exports_is_the_best_of_their_tables(tmp_path: Path,
                                                                            ) -> None:
    manifest = _per_size(tmp_path)
    merged = manifest.accuracy_for(manifest.find("model_int8.tflite"))
    assert merged is not None
    assert {(p.resolution, p.accuracy) for p in merged.rows} == {(48, 0.60), (64, 0.66),
                                                                 (96, 0.60)}
    alone = Manifest((manifest.artifacts[1],))
    assert alone.accuracy_for(alone.artifacts[0]) == manifest.artifacts[1].accuracy
