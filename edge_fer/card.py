"""The model card: the JSON written beside every trained model, read back by every runtime.

It records what a runtime must apply identically (classes, resolution, preprocessing, test-time
augmentation) and how the model was made (data, hyper-parameters, metrics, hardware).
Validated once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_fer import validate
from edge_fer.accuracy import AccuracyTable, read_optional
from edge_fer.classes import CLASS_NAMES
from edge_fer.errors import ModelError
from edge_fer.jsonfile import DocumentType, save_json
from edge_fer.preprocess import Preprocessing
from edge_fer.tta import parse_tta

CARD_KIND = "edge-fer-model-card"
CARD_SCHEMA = 1
# Lenient about what it does not need: unknown keys are the training record (details).
CARD = DocumentType(CARD_KIND, CARD_SCHEMA, "model card", ModelError)


def card_path_for(model_path: str | Path) -> Path:
    """`runs/x/model.keras` -> `runs/x/model.card.json`."""
    p = Path(model_path)
    return p.with_name(p.stem + ".card.json")


@dataclass(frozen=True)
class ModelCard:
    arch: str
    resolution: int
    class_names: tuple[str, ...] = CLASS_NAMES
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    details: dict[str, Any] = field(default_factory=dict)  # training record: free-form, shown as is
    tta: str = "none"  # test-time augmentation every runtime applies (edge_fer.tta)
    accuracy: AccuracyTable | None = None  # accuracy against resolution; None: not measured

    def to_dict(self) -> dict[str, Any]:
        return {
            **CARD.header(),
            "arch": self.arch,
            "resolution": self.resolution,
            "class_names": list(self.class_names),
            "preprocessing": self.preprocessing.to_dict(),
            "tta": self.tta,
            **({"accuracy": self.accuracy.to_dict()} if self.accuracy else {}),
            **self.details,
        }

    def save(self, path: str | Path) -> None:
        save_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "model card") -> ModelCard:
        CARD.check(data, origin)
        try:
            names = validate.class_names(data["class_names"], origin)
            resolution = validate.resolution(data["resolution"], origin)
            arch = str(data["arch"])
            prep = Preprocessing.from_dict(
                validate.preprocessing(data.get("preprocessing", {}), origin))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{origin}: missing or bad field {e}") from None
        try:
            tta = parse_tta(data.get("tta", "none"))  # absent: a card from before TTA
        except ValueError as e:
            raise ModelError(f"{origin}: {e}") from None
        accuracy = read_optional(data, origin)
        known = {"kind", "schema", "arch", "resolution", "class_names", "preprocessing", "tta",
                 "accuracy"}
        details = {k: v for k, v in data.items() if k not in known}
        return cls(arch, resolution, names, prep, details, tta, accuracy)

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        return cls.from_dict(CARD.read(path), str(path))


def load_card_data(path: str | Path) -> dict[str, Any]:
    """A card file's whole object, training record included, validated as ModelCard.load does."""
    data = CARD.read(path)
    ModelCard.from_dict(data, str(path))
    return data
