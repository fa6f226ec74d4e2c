"""Average the weights of training runs into one model (a uniform "model soup"; a maintainers' step).

    .venv/bin/python scripts/average_weights.py runs/soup runs/a runs/b [runs/c ...]

Runs fine-tuned from one starting model, with different learning rates, land in one basin:
the mean of their weights is a model as fast as each and often better than any (Wortsman et
al. 2022, "Model soups"). It also quantized better than one of ours: full int8 of a single run
lost 2 points against Keras where the mean of two lost none. Every run must share
architecture, resolution, output stride, classes and the validation split (data, seed,
fraction), so the mean is scored on the very faces each run was selected on.

OUT gets model.keras and model.card.json: the first run's card with `validation` re-measured
on the mean, `averaged_from` (each run's command, best epoch and validation scores) and
`command` (this script's command line); `scripts/ship_default.py OUT` ships it.

--last averages each run's last epoch (checkpoint/last.keras) instead of its best. A refit on
every face (`edge-fer train --val-fraction 0`) keeps its last epochs, so the same recipe run
with a split and averaged with --last is its twin: the validation that the refit cannot have.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from edge_fer.card import CARD, load_card_data
from edge_fer.errors import run_script

# What makes runs averageable and their validation split the same.
MUST_MATCH = ("arch", "resolution", "class_names")


def _signature(card: dict, origin: str) -> dict:
    f = CARD.fields(card, origin, "card")
    hp, data = f.obj("hyperparameters"), f.obj("data")
    output_stride = hp.whole("output_stride", optional=True)
    return {**{k: card[k] for k in MUST_MATCH}, "seed": f.whole("seed"),
            "output_stride": 32 if output_stride is None else output_stride,
            "data": data.text("sha256"), "val_fraction": data.number("val_fraction"),
            "limit": data.whole("limit", optional=True)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="the folder to write (must not hold a model)")
    ap.add_argument("runs", type=Path, nargs="+", help="edge-fer train --out folders")
    ap.add_argument("--last", action="store_true",
                    help="average each run's last epoch (checkpoint/last.keras), not its best: "
                         "the twin, scored on the held-out split, of a refit on every face")
    args = ap.parse_args()
    if len(args.runs) < 2:
        sys.exit("average_weights: give at least two runs")
    cards = []
    chosen = Path("checkpoint", "last.keras") if args.last else Path("model.keras")
    for run in args.runs:
        for f in (run / chosen, run / "model.card.json"):
            if not f.exists():
                sys.exit(f"average_weights: {f}: not found")
        cards.append(load_card_data(run / "model.card.json"))
    first = _signature(cards[0], str(args.runs[0] / "model.card.json"))
    for run, card in zip(args.runs[1:], cards[1:]):
        differ = [k for k, v in _signature(card, str(run / "model.card.json")).items()
                  if first[k] != v]
        if differ:
            sys.exit(f"average_weights: {run}: differs from {args.runs[0]} in "
                     f"{', '.join(differ)}: runs must share these to be averaged")
    if (args.out / "model.keras").exists():
        sys.exit(f"average_weights: {args.out}: already holds a model")

    from edge_fer.data import load_source, train_validation_split
    from edge_fer.evaluation import evaluate
    from edge_fer.model import save_for_inference
    from edge_fer.runtimes.base import load_classifier
    from edge_fer.runtimes.keras_runtime import load_keras_model

    models = [load_keras_model(run / chosen) for run in args.runs]
    mean = models[0]
    for i, var in enumerate(mean.weights):
        values = [m.weights[i].numpy() for m in models]
        var.assign(np.mean(values, axis=0).astype(values[0].dtype))
    args.out.mkdir(parents=True, exist_ok=True)
    save_for_inference(mean, args.out / "model.keras")

    card = dict(cards[0])
    card["command"] = shlex.join(["python", "scripts/average_weights.py", str(args.out),
                                  *map(str, args.runs), *(["--last"] if args.last else [])])
    # With --last the runs' cards describe their best epochs, not the ones averaged: only the
    # epoch is recorded then (the mean's own validation follows).
    card["averaged_from"] = [{"run": str(run), "command": c.get("command"),
                              "weights_init": c.get("weights_init"),
                              # a mean itself (e.g. the shipped default) has no epochs
                              "epoch": None if "averaged_from" in c
                              else c["training"]["epochs_run"] if args.last
                              else c["training"]["best_epoch"],
                              # best by validation, or last (--last; or nothing held out)
                              "epoch_taken": "mean" if "averaged_from" in c
                              else "last" if args.last or c["validation"] is None
                              else "best",
                              "validation": ({k: c["validation"][k]
                                              for k in ("accuracy", "macro_f1")}
                                             if c.get("validation") and not args.last
                                             else None)}
                             for run, c in zip(args.runs, cards)]
    # Not the first run's epochs: what making the mean took. `hyperparameters` stay the first
    # run's (the runs share all but the ones their commands set).
    card["training"] = {"averaged_runs": len(cards),
                        "wall_time_s": sum(c["training"]["wall_time_s"] for c in cards)}
    # Written before scoring too: load_classifier reads the card beside the model.
    (args.out / "model.card.json").write_text(json.dumps(card, indent=2) + "\n")
    if not card["data"]["val_fraction"]:  # runs trained on every face: nothing to score on
        print(f"{args.out}: the mean of {len(args.runs)} runs trained on every face "
              "(no validation split)")
        return 0
    # The mean's own validation scores, on the split every run was selected on.
    full = load_source(card["data"]["source"], args.runs[0] / "model.card.json",
                       "score the mean where its training data is",
                       limit=card["data"].get("limit"), seed=card["seed"])
    _, val_set = train_validation_split(full, card["data"]["val_fraction"], card["seed"])
    with load_classifier(args.out / "model.keras", tta="none") as classifier:
        metrics = evaluate(classifier, val_set, batch_size=256)
    card["validation"] = metrics.to_dict()
    (args.out / "model.card.json").write_text(json.dumps(card, indent=2) + "\n")
    for entry in card["averaged_from"]:
        v = entry["validation"]
        if v:
            print(f"{entry['run']}: validation {v['accuracy']:.1%} / {v['macro_f1']:.3f}")
    print(f"{args.out}: the mean of {len(args.runs)} runs, validation "
          f"{metrics.accuracy:.1%} / {metrics.averages()['macro']['f1']:.3f}")
    return 0


if __name__ == "__main__":
    run_script(main)
