"""The JSON Schemas in schemas/ hold for real output: the records of a real run (and what the
--events policies make of them), the shipped profiles, the shipped and a freshly converted
manifest; and they reject what they should."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from videos import face_clip, fer_faces

from edge_fer.cli import cli
from edge_fer.sinks.events import Changes, Interval

jsonschema = pytest.importorskip("jsonschema", reason="pip install 'edge-fer[dev]'")

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"


def _validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(name: str, data: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in _validator(name).iter_errors(data)]


@pytest.fixture(scope="module")
def run_records(fer_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("schema-run")
    clip, _ = face_clip(tmp / "clip.avi", fer_faces(fer_root, per_class=1)[:3],
                        frames_per_face=4, blank_frames=2)
    log = tmp / "out.jsonl"
    result = CliRunner().invoke(cli, ["run", "--source", str(clip), "--log", str(log),
                                      "--device-id", "door", "--summary-interval", "0.2"])
    assert result.exit_code == 0, result.output
    return [json.loads(x) for x in log.read_text().splitlines()]


def test_every_record_of_a_real_run_matches_the_record_schema(
        run_records: list[dict[str, Any]]) -> None:
    assert {r["type"] for r in run_records} == {"face", "summary"}
    for r in run_records:
        assert _errors("record", r) == [], r


def test_the_event_policies_records_match_too(run_records: list[dict[str, Any]]) -> None:
    made: list[dict[str, Any]] = []
    changes, interval = Changes(), Interval(0.001)
    by_frame: dict[int, list[dict[str, Any]]] = {}
    for r in run_records:
        if r["type"] == "face":
            by_frame.setdefault(r["frame"], []).append(r)
    frames = [by_frame.get(i, []) for i in range(max(by_frame) + 2)]
    for t, frame in enumerate(frames):
        made += changes.select(frame) + interval.select(frame, now=float(t))
    assert {"track_end", "track_interval"} <= {r["type"] for r in made}
    for r in made:
        assert _errors("record", r) == [], r


def test_the_record_schema_rejects_what_it_should(run_records: list[dict[str, Any]]) -> None:
    face = next(r for r in run_records if r["type"] == "face")
    assert _errors("record", {k: v for k, v in face.items() if k != "device"})
    assert _errors("record", {**face, "schema": 2})
    assert _errors("record", {**face, "unknown": 1})  # a new field is a new schema number
    assert _errors("record", {**face, "id": "not-an-id"})
    assert _errors("record", {**face, "device": "a/b"})


@pytest.mark.parametrize("path", sorted((REPO / "profiles").glob("*.json")), ids=lambda p: p.name)
def test_shipped_profiles_match_the_profile_schema(path: Path) -> None:
    assert _errors("profile", json.loads(path.read_text())) == []


def test_a_freshly_written_profile_matches(tmp_path: Path) -> None:
    out = tmp_path / "profile.json"
    result = CliRunner().invoke(cli, [
        "profile", "--model", str(REPO / "edge_fer/models/default/model_int8.tflite"),
        "--resolutions", "32,48", "--max-resolution", "48", "--budget-ms", "1000",
        "--min-repeats", "3", "--min-seconds", "0", "--warmup", "1", "--threads", "1",
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert _errors("profile", data) == []
    assert _errors("profile", {**data, "schema": 3})


def test_the_shipped_manifest_matches_and_a_broken_one_does_not() -> None:
    data = json.loads((REPO / "edge_fer/models/default/manifest.json").read_text())
    assert _errors("manifest", data) == []
    data["artifacts"][0]["sha256"] = "short"
    assert _errors("manifest", data)
    assert _errors("profile", {"kind": "edge-fer-hardware-profile", "schema": 1})


@pytest.mark.slow
def test_a_freshly_converted_manifest_matches(converted: Path) -> None:
    data = json.loads((converted / "manifest.json").read_text())
    assert len(data["artifacts"]) > 1  # float and quantised formats alike
    assert _errors("manifest", data) == []
