"""The model card: round trip and every way a card file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_fer.card import ModelCard, card_path_for
from edge_fer.errors import ModelError
from edge_fer.preprocess import Preprocessing


def test_round_trip_keeps_fields_and_details(tmp_path: Path) -> None:
    card = ModelCard("efficientnetv2-b0", 96, details={"seed": 3, "validation": {"accuracy": 0.5}})
    path = card_path_for(tmp_path / "model.keras")
    assert path.name == "model.card.json"
    card.save(path)
    back = ModelCard.load(path)
    assert back == card and back.preprocessing == Preprocessing()


@pytest.mark.parametrize("content, message", [
    ("{not json", "unreadable"),
    ('{"kind": "something-else", "schema": 1}', "not an edge-fer model card"),
    ('{"kind": "edge-fer-model-card", "schema": 99, "arch": "x", "resolution": 64,'
     ' "class_names": []}', "newer"),
    ('{"kind": "edge-fer-model-card", "schema": 1, "arch": "x"}', "missing or bad field"),
    ('[1, 2]', "not an edge-fer model card"),
    ('{"kind": "edge-fer-model-card", "schema": 1, "arch": "x", "resolution": 64,'
     ' "class_names": ["a"], "tta": "bogus"}', "unknown tta 'bogus'"),
])
def test_bad_cards_are_one_line_errors_naming_the_file(tmp_path: Path, content: str,
                                                       message: str) -> None:
    path = tmp_path / "m.card.json"
    path.write_text(content)
    with pytest.raises(ModelError, match=message) as info:
        ModelCard.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_card(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model card file"):
        ModelCard.load(tmp_path / "none.card.json")


def test_unknown_preprocessing_keys_are_ignored() -> None:
    data = json.loads(json.dumps(ModelCard("a", 48).to_dict()))
    data["preprocessing"]["future_key"] = 1
    assert ModelCard.from_dict(data).preprocessing == Preprocessing()


def test_tta_round_trips_and_a_card_without_it_means_none(tmp_path: Path) -> None:
    from edge_fer.runtimes.base import read_model_info

    path = card_path_for(tmp_path / "model.keras")
    ModelCard("efficientnetv2-b0", 64, tta="flip", details={"seed": 1}).save(path)
    card = ModelCard.load(path)
    assert card.tta == "flip" and "tta" not in card.details
    assert read_model_info(tmp_path / "model.keras").tta == "flip"
    old = ModelCard("a", 48).to_dict()
    del old["tta"]  # a card written before TTA existed
    assert ModelCard.from_dict(old).tta == "none"
