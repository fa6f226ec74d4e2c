"""A model's accuracy against input resolution: the table cards and manifests carry.

The profiler crosses it with the latency curve, so a device runs the size with the best
expected accuracy that meets its budget rather than simply the largest one (a network
trained at one size loses much of its accuracy at others). Validated once, here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from edge_fer.errors import ModelError
from edge_fer.tta import TTA_MODES

# The sizes `edge-fer train` and scripts/ship_default.py score: the span a profile may pick.
TABLE_SIZES = (48, 64, 96, 128, 160)


@dataclass(frozen=True)
class AccuracyPoint:
    resolution: int
    tta: str
    accuracy: float  # 0..1, on `AccuracyTable.split`
    macro_f1: float


@dataclass(frozen=True)
class AccuracyTable:
    """Measured accuracy at several input sizes (and TTA modes) on one split of labelled faces."""

    split: str  # "validation" or "test"
    faces: int
    rows: tuple[AccuracyPoint, ...]
    data: str = ""  # where the faces came from

    def sizes(self, tta: str) -> list[int]:
        return sorted(p.resolution for p in self.rows if p.tta == tta)

    def ranking_tta(self, tta: str | None) -> str | None:
        """The TTA whose rows rank sizes for a model run under `tta`: its own, else the rows
        without TTA (the shape of accuracy against size is what matters), else None."""
        for candidate in (tta, "none"):
            if candidate is not None and self.sizes(candidate):
                return candidate
        return None

    def expected(self, resolution: int, tta: str) -> float | None:
        """Accuracy at `resolution` under `tta`, linear between measured sizes; None outside
        them (a size never measured is not guessed at)."""
        points = sorted((p.resolution, p.accuracy) for p in self.rows if p.tta == tta)
        for (r0, a0), (r1, a1) in zip(points, points[1:]):
            if r0 <= resolution <= r1:
                return a0 + (a1 - a0) * (resolution - r0) / (r1 - r0)
        if len(points) == 1 and points[0][0] == resolution:
            return points[0][1]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "faces": self.faces, "data": self.data,
                "rows": [{"resolution": p.resolution, "tta": p.tta,
                          "accuracy": round(p.accuracy, 5), "macro_f1": round(p.macro_f1, 5)}
                         for p in sorted(self.rows, key=lambda p: (p.tta, p.resolution))]}

    @classmethod
    def from_dict(cls, data: Any, origin: str) -> AccuracyTable:
        """Read the table at `origin` (e.g. 'card.json: accuracy'); one ModelError names the field."""

        def bad(field: str, problem: str) -> ModelError:
            return ModelError(f"{origin}.{field}: {problem}")

        if not isinstance(data, dict):
            raise ModelError(f"{origin}: expected an object")
        split, faces, rows = data.get("split"), data.get("faces"), data.get("rows")
        if not isinstance(split, str) or not split:
            raise bad("split", "missing or not text")
        if isinstance(faces, bool) or not isinstance(faces, int) or faces < 1:
            raise bad("faces", f"expected a whole number of at least 1, got {faces!r}")
        if not isinstance(rows, list) or not rows:
            raise bad("rows", "missing or empty")
        points: list[AccuracyPoint] = []
        for i, row in enumerate(rows):
            where = f"rows[{i}]"
            if not isinstance(row, dict):
                raise bad(where, "expected an object")
            r, tta = row.get("resolution"), row.get("tta", "none")
            if isinstance(r, bool) or not isinstance(r, int) or r < 8:
                raise bad(f"{where}.resolution", f"expected a whole number of at least 8, got {r!r}")
            if tta not in TTA_MODES:
                raise bad(f"{where}.tta", f"unknown tta {tta!r}")
            values = []
            for key in ("accuracy", "macro_f1"):
                v = row.get(key)
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise bad(f"{where}.{key}", f"missing or not a number ({v!r})")
                if not math.isfinite(v) or not 0.0 <= v <= 1.0:
                    raise bad(f"{where}.{key}", f"{v!r} is not a fraction between 0 and 1")
                values.append(float(v))
            if any(p.resolution == r and p.tta == tta for p in points):
                raise bad(where, f"{r} px under tta {tta} appears twice")
            points.append(AccuracyPoint(r, tta, values[0], values[1]))
        return cls(split, faces, tuple(points), str(data.get("data", "")))


def read_optional(data: dict[str, Any], origin: str) -> AccuracyTable | None:
    """The `accuracy` entry of a card or manifest artifact; None when absent (older models)."""
    value = data.get("accuracy")
    return None if value is None else AccuracyTable.from_dict(value, f"{origin}: accuracy")
