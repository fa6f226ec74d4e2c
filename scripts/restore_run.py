"""Lay out a resumable `edge-fer train --out` folder from a shipped model (a maintainers' step).

    .venv/bin/python scripts/restore_run.py edge_fer/models/default runs/default
    edge-fer train <the card's command> --resume

Training from scratch on a small CPU spans sessions, and a session's run folder does not
outlive its machine. What does travel is what `scripts/ship_default.py --keras` commits: the
best Keras model, its card and `training_state.json`. From those this writes RUN_DIR with
model.keras, model.card.json and checkpoint/state.json; `--resume` then goes on from the best
epoch with a fresh optimizer (Adam's moments are not shipped: they would triple the model's
size).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from edge_fer.card import CARD, load_card_data
from edge_fer.errors import run_script
from edge_fer.training_state import load_state


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shipped", type=Path, help="a folder shipped with --keras")
    ap.add_argument("run_dir", type=Path, help="the edge-fer train --out folder to create")
    args = ap.parse_args()
    needed = [args.shipped / n for n in ("model.keras", "model.card.json", "training_state.json")]
    missing = [str(f) for f in needed if not f.exists()]
    card = load_card_data(needed[1]) if needed[1].exists() else {}
    if "averaged_from" in card:
        sys.exit(f"restore_run: {args.shipped}: is an average of runs (scripts/average_weights.py), "
                 "with no training state to resume: fine-tune from its model.keras with --weights")
    if missing:
        sys.exit(f"restore_run: {', '.join(missing)}: not found (ship with --keras)")
    if (args.run_dir / "model.keras").exists():
        sys.exit(f"restore_run: {args.run_dir}: already holds a model")
    state = load_state(needed[2])
    command = CARD.fields(card, str(needed[1]), "card").text("command")
    (args.run_dir / "checkpoint").mkdir(parents=True, exist_ok=True)
    shutil.copy(needed[0], args.run_dir / "model.keras")
    shutil.copy(needed[1], args.run_dir / "model.card.json")
    shutil.copy(needed[2], args.run_dir / "checkpoint" / "state.json")
    print(f"{args.run_dir}: resumable after epoch {state['best_epoch']} of "
          f"{state['config']['epochs']}; go on with (--out {args.run_dir}):\n  {command} --resume")
    return 0


if __name__ == "__main__":
    run_script(main)
