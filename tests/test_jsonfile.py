"""The one reader of the JSON files users copy: every refusal is one line naming file and field,
and what should load (older files, unknown card details) does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge_fer.card import CARD, ModelCard, load_card_data
from edge_fer.errors import EXIT_USAGE, ModelError, UserInputError
from edge_fer.jsonfile import DocumentType, Fields, load_json, save_json
from edge_fer.manifest import MANIFEST, Manifest
from edge_fer.training_state import STATE, load_state, save_state

REPO = Path(__file__).resolve().parents[1]
THING = DocumentType("edge-fer-thing", 2, "thing", UserInputError)


def refusal(path: Path, read: Any = THING.read) -> str:
    with pytest.raises(UserInputError) as info:
        read(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message, message
    return message


def write(tmp_path: Path, content: Any, name: str = "f.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def good_state() -> dict[str, Any]:
    return {"epoch": 3, "best_f1": 0.41, "best_epoch": 2, "plateau_scale": 1.0, "since_best": 1,
            "history": [{"epoch": 1}], "wall_s": 12.5, "config": {"epochs": 10, "arch": "x"}}


@pytest.mark.parametrize("content, problem", [
    ('{"kind": "edge-fer-thing", "schema": 1,', "corrupt or truncated (invalid JSON at line 1"),
    ("", "empty file"),
    ('{"kind": "edge-fer-other", "schema": 1}', 'not an edge-fer thing (no "kind": "edge-fer-thing")'),
    ("[1, 2]", "not an edge-fer thing"),
    ('{"kind": "edge-fer-thing", "schema": 3}', "thing schema 3 is newer than this edge-fer reads"),
    ('{"kind": "edge-fer-thing", "schema": "2"}', "bad thing schema '2'"),
    ('{"kind": "edge-fer-thing", "schema": true}', "bad thing schema True"),
    ('{"kind": "edge-fer-thing"}', "bad thing schema None"),
])
def test_bad_documents_are_refused_in_one_line(tmp_path: Path, content: str, problem: str) -> None:
    assert problem in refusal(write(tmp_path, content))


def test_missing_binary_and_directory_files(tmp_path: Path) -> None:
    assert "no such thing file" in refusal(tmp_path / "none.json")
    assert "is a directory" in refusal(tmp_path)
    (tmp_path / "b.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert "binary, not UTF-8 JSON" in refusal(tmp_path / "b.json")


def test_an_older_schema_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, {"kind": "edge-fer-thing", "schema": 1, "x": 1})
    assert THING.read(path)["x"] == 1
    assert THING.check(THING.read(path), str(path)) == 1


def fields(data: dict[str, Any]) -> Fields:
    return THING.fields({**THING.header(), **data}, "f.json", "thing")


@pytest.mark.parametrize("data, read, problem", [
    ({}, lambda f: f.number("rate"), "f.json: thing.rate: missing"),
    ({"rate": "fast"}, lambda f: f.number("rate"), 'thing.rate: expected a number, got "fast"'),
    ({"rate": float("nan")}, lambda f: f.number("rate"), "thing.rate: expected a number, got NaN"),
    ({"rate": float("inf")}, lambda f: f.number("rate"), "expected a number, got Infinity"),
    ({"rate": -1}, lambda f: f.number("rate", positive=True), "thing.rate: must be positive"),
    ({"rate": -1}, lambda f: f.number("rate", minimum=0), "thing.rate: must be at least 0"),
    ({"n": True}, lambda f: f.whole("n"), "thing.n: expected a whole number, got true"),
    ({"n": -2}, lambda f: f.whole("n", minimum=0), "thing.n: must be at least 0, got -2"),
    ({"n": 1.5}, lambda f: f.whole("n"), "expected a whole number, got 1.5"),
    ({"sub": {"x": []}}, lambda f: f.obj("sub").text("x"), "thing.sub.x: expected text, got list"),
    ({"xs": [1, None]}, lambda f: f.numbers("xs"), "thing.xs: expected a list of numbers"),
    ({"typo": 1}, lambda f: f.done(), "thing.typo: unknown field"),
])
def test_typed_fields_name_the_file_and_field(data: dict[str, Any], read: Any,
                                              problem: str) -> None:
    with pytest.raises(UserInputError) as info:
        read(fields(data))
    assert problem in str(info.value) and str(info.value).startswith("f.json: ")


def test_typed_fields_accept_good_values() -> None:
    f = fields({"rate": 2, "n": 0, "name": "a", "sub": {"x": "y"}, "xs": [1, 2.5]})
    assert f.number("rate", positive=True) == 2.0 and isinstance(f.number("rate"), float)
    assert f.whole("n", minimum=0) == 0 and f.text("name") == "a"
    assert f.obj("sub").text("x") == "y" and f.numbers("xs") == [1.0, 2.5]
    assert f.number("absent", optional=True) is None
    f.done()  # kind and schema count as read


def test_the_error_class_is_the_document_s_own(tmp_path: Path) -> None:
    """Cards and manifests are model files: their refusals are ModelError (still exit 2)."""
    path = write(tmp_path, "{", "m.card.json")
    with pytest.raises(ModelError, match="unreadable model card: corrupt or truncated"):
        ModelCard.load(path)
    with pytest.raises(ModelError, match="unreadable manifest"):
        Manifest.load(write(tmp_path, "{", "manifest.json"))
    assert CARD.error is ModelError and MANIFEST.error is ModelError


def test_cards_stay_lenient_about_their_training_record(tmp_path: Path) -> None:
    data = {**ModelCard("a", 48).to_dict(), "future_key": {"any": "thing"}}
    path = write(tmp_path, data, "m.card.json")
    assert load_card_data(path)["future_key"] == {"any": "thing"}
    assert ModelCard.load(path).details["future_key"] == {"any": "thing"}


def test_a_load_json_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"m.json: no such metrics file"):
        load_json(tmp_path / "m.json", "metrics", UserInputError)


def test_training_state_round_trip_carries_kind_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(path, good_state())
    assert json.loads(path.read_text())["kind"] == STATE.kind
    assert load_state(path) == good_state()


def test_an_older_state_file_without_kind_or_schema_is_read(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_json(path, good_state())
    assert load_state(path) == good_state()


@pytest.mark.parametrize("edit, problem", [
    (lambda s: s.pop("best_epoch"), "state.best_epoch: missing"),
    (lambda s: s.update(wall_s=float("nan")), "state.wall_s: expected a number, got NaN"),
    (lambda s: s.update(epoch=-1), "state.epoch: must be at least 0"),
    (lambda s: s.update(config={"arch": "x"}), "state.config.epochs: missing"),
    (lambda s: s.update(kind="edge-fer-model-card", schema=1), "not an edge-fer training state"),
    (lambda s: s.update(kind=STATE.kind, schema=STATE.schema + 1), "is newer than this edge-fer"),
    (lambda s: s.update(schema=1), '"schema" without "kind"'),
])
def test_a_bad_state_file_is_refused(tmp_path: Path, edit: Any, problem: str) -> None:
    state = good_state()
    edit(state)
    path = tmp_path / "state.json"
    save_json(path, state)
    assert problem in refusal(path, load_state)


def test_a_script_given_a_bad_file_says_one_line_and_exits_2(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "model.keras").write_bytes(b"")
    ModelCard("a", 48, details={"command": "edge-fer train"}).save(shipped / "model.card.json")
    (shipped / "training_state.json").write_text('{"epoch": 1,')
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "restore_run.py"),
                           str(shipped), str(tmp_path / "run")], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": ""}, timeout=60)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert done.stderr.startswith(f"restore_run: {shipped / 'training_state.json'}: unreadable "
                                  "training state: corrupt or truncated")
    assert done.stderr.count("\n") == 1 and not (tmp_path / "run").exists()
