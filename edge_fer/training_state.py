"""Workstation: checkpoint/state.json, where a training run stands (epoch, best score, schedule,
history, its config), read back by `edge-fer train --resume` and scripts/restore_run.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_fer.errors import UserInputError
from edge_fer.jsonfile import DocumentType, save_json

# State files written before they carried "kind" and "schema" still resume.
STATE = DocumentType("edge-fer-training-state", 1, "training state", UserInputError,
                     header_optional=True)


def load_state(path: str | Path) -> dict[str, Any]:
    """The saved state, its fields checked; one UserInputError naming the file and field."""
    data = STATE.read(path)
    f = STATE.fields(data, str(path), "state")
    f.whole("epoch", minimum=0)
    f.whole("best_epoch", minimum=0)
    f.whole("since_best", minimum=0)
    f.number("best_f1")
    f.number("plateau_scale", positive=True)
    f.number("best_plateau_scale", optional=True, positive=True)
    f.number("wall_s", minimum=0)
    f.array("history")
    f.obj("config").whole("epochs", minimum=1)
    return {k: v for k, v in data.items() if k not in ("kind", "schema")}


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    save_json(path, {**STATE.header(), **state}, indent=1)
