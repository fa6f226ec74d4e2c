"""Re-estimate a run's batch-norm statistics at one size (a maintainers' step).

    .venv/bin/python scripts/reestimate_bn.py runs/ms-64 runs/ms --resolution 64

A network trained at several sizes (`edge-fer train --resolutions`) keeps one set of
batch-norm statistics, a compromise between the sizes; its exports for other sizes get their
own from `edge-fer convert --resolutions` (edge_fer/batchnorm.py). This gives the Keras model
itself the statistics of the size its card names, so its own export (and a fine-tune from it)
starts there. OUT gets model.keras and model.card.json: the run's card with `resolution` set
and `batch_norm` (size, faces, data, seed) added; `scripts/ship_default.py OUT` ships it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from edge_fer.card import load_card_data
from edge_fer.data import load_dataset, load_source, stratified_sample
from edge_fer.errors import run_script
from edge_fer.validate import MAX_RESOLUTION, MIN_RESOLUTION


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="the folder to write (must not hold a model)")
    ap.add_argument("run", type=Path, help="an edge-fer train --out folder (or an average)")
    ap.add_argument("--resolution", type=int, required=True, help="the size, in px")
    ap.add_argument("--data", type=Path, help="labelled faces [default: the card's training data]")
    ap.add_argument("--faces", type=int, default=2048, help="how many (stratified)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model_file, card_file = args.run / "model.keras", args.run / "model.card.json"
    for f in (model_file, card_file):
        if not f.exists():
            sys.exit(f"reestimate_bn: {f}: not found")
    if not MIN_RESOLUTION <= args.resolution <= MAX_RESOLUTION:
        sys.exit(f"reestimate_bn: --resolution: {args.resolution} px is outside "
                 f"{MIN_RESOLUTION}..{MAX_RESOLUTION}")
    if args.faces < 2:
        sys.exit("reestimate_bn: --faces: give at least 2")
    if (args.out / "model.keras").exists():
        sys.exit(f"reestimate_bn: {args.out / 'model.keras'}: exists; choose another folder")
    card = load_card_data(card_file)
    pool = load_dataset(args.data) if args.data else load_source(
        str(card.get("data", {}).get("source", "")), card_file, "pass --data DIR (labelled faces)")
    faces = pool.subset(stratified_sample(pool.labels, min(args.faces, len(pool)), args.seed))

    from edge_fer.batchnorm import reestimate
    from edge_fer.model import save_for_inference
    from edge_fer.preprocess import Preprocessing
    from edge_fer.runtimes.keras_runtime import load_keras_model

    model = load_keras_model(model_file)
    spec = Preprocessing.from_dict(card["preprocessing"]) if card.get("preprocessing") else None
    layers = reestimate(model, faces.images, args.resolution, spec)
    if layers == 0:
        sys.exit(f"reestimate_bn: {model_file}: has no batch-norm layers")
    args.out.mkdir(parents=True, exist_ok=True)
    save_for_inference(model, args.out / "model.keras")
    card.update(resolution=args.resolution,
                batch_norm={"resolution": args.resolution, "faces": len(faces.labels),
                            "data": pool.source, "seed": args.seed, "layers": layers,
                            "from": str(args.run),
                            "command": shlex.join(["python", "scripts/reestimate_bn.py",
                                                   *sys.argv[1:]])})
    (args.out / "model.card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"{args.out}: batch norm of {layers} layers re-estimated at {args.resolution} px on "
          f"{len(faces.labels)} faces of {pool.source}")
    return 0


if __name__ == "__main__":
    run_script(main)
