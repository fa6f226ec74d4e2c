"""Ship a trained run as edge-fer's default model (a maintainers' step, run from the repo root).

    .venv/bin/python scripts/ship_default.py RUN_DIR --test ../shared/data/fer2013/test [--keras]

RUN_DIR is an `edge-fer train --out` folder. Into edge_fer/models/default/ it writes one TFLite
export, converted and verified by `edge-fer convert` with its manifest: the first of
`--formats` (default: tflite-int8, then tflite-fp16) that passes verification, so a model that
quantizes badly ships in fp16 rather than losing accuracy; `--tta` (default zooms) is recorded
in the shipped card and manifest. With --keras the Keras model itself (without optimizer
state), its card and the training state ship too (scripts/restore_run.py makes a resumable
run folder of them). Then it scores the default on the test split (`edge-fer evaluate`, the
only time test is used), and the float Keras model the same way (so the card shows what the
export costs), and writes MODEL_CARD.md from the card, the manifest and those evaluations.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edge_fer.card import load_card_data
from edge_fer.errors import UserInputError, run_script
from edge_fer.jsonfile import load_json
from edge_fer.manifest import load_manifest_data
from edge_fer.model import is_trained_model
from edge_fer.tta import TTA_MODES

REPO = Path(__file__).resolve().parent.parent
DEST = REPO / "edge_fer" / "models" / "default"
EDGE_FER = [sys.executable, "-m", "edge_fer"]
TTA_SENTENCES = {
    "none": "each face is classified once.",
    "flip": "each face's probabilities are averaged with its mirror image's (twice the "
            "classifier's batch; `--tta none` turns it off).",
    "zooms": "each face's probabilities are averaged over 6 images: the face, the face "
             "zoomed 10% in and 10% out, and the mirrors of all three. `evaluate` runs all 6 "
             "at once; `run` spreads them over a tracked face's frames, one framing and its "
             "mirror a frame (flip's cost), and averages a face's last 3 (`--tta none` for a "
             "slower device).",
    "crops": "each face's probabilities are averaged over 14 images: the face, six "
             "re-framings of it (zoomed 10% in and out, shifted a sixteenth of its side four "
             "ways) and the mirrors of all seven. `evaluate` runs all 14 at once; `run` "
             "spreads them over a tracked face's frames, one framing and its mirror a frame "
             "(flip's cost), and averages a face's last 7 (`--tta none` for a slower device).",
}


# Written into every MODEL_CARD.md: what the model may and may not be used for.
USE_AND_LIMITS = """## Intended use, limitations and the law

- **What it outputs**: one of seven labels for the expression a face *displays* in one image,
  with probabilities. An expression is not an emotion: people smile without being happy, and
  the same feeling shows differently across people, cultures and situations. Treat every output
  as a guess about a face, never as a fact about a person.
- **Intended use**: research, teaching and prototyping of on-device expression classification;
  aggregate, anonymous statistics where everyone filmed knows and agreed (a user-testing lab,
  an installation that says so).
- **Not for**: decisions about individuals (hiring, grading, admission, policing, credit,
  insurance, medical diagnosis), lie or intent detection, surveillance of people who have not
  agreed, or monitoring employees or students.
- **The law** (not legal advice; check where you deploy): the EU AI Act (Regulation (EU)
  2024/1689) prohibits AI systems that infer the emotions of people in workplaces and
  education institutions, except for medical or safety reasons (Article 5(1)(f), applicable
  since 2 February 2025); elsewhere it classes emotion recognition as high-risk (Annex III)
  and requires that the people exposed to it be informed (Article 50(3)). Face images are
  personal data under the GDPR, and biometric laws such as Illinois' BIPA add consent and
  retention duties. edge-fer stores no frames unless `--snapshots` asks it to; its emotion log
  holds boxes and labels, which can still be personal data.
- **Limitations**: trained on FER2013 only: 48x48 grayscale web images, mostly frontal and
  posed, one label each (human agreement on them is about 65%). Its classes are unbalanced
  (disgust is 1.5% of the training faces), and fear and sad are its weakest classes (test F1
  about 0.5). Accuracy across age, gender or skin tone was not measured: FER2013 carries no
  such annotations. Faces that are small (under `--min-face`), turned away, occluded or badly
  lit are missed by the detector or misread by the classifier.

"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--test", type=Path, required=True, help="the test split (scored once)")
    ap.add_argument("--keras", action="store_true", help="ship the Keras model too")
    ap.add_argument("--note", default="", help="a sentence for the top of MODEL_CARD.md")
    ap.add_argument("--formats", default="tflite-int8,tflite-fp16",
                    help="export formats to try in order; the first that passes verification ships")
    ap.add_argument("--resolutions", metavar="PX,...",
                    help="also export for these sizes, batch norm re-estimated at each "
                         "(edge-fer convert --resolutions; for a network trained at several)")
    ap.add_argument("--samples", type=int, metavar="N",
                    help="faces each export is verified on (edge-fer convert --samples); "
                         "more make the 1-point int8 gate firmer")
    ap.add_argument("--calibration-samples", type=int, metavar="N",
                    help="faces int8 is calibrated on (edge-fer convert --calibration-samples)")
    ap.add_argument("--tta", default="zooms", choices=TTA_MODES,
                    help="test-time augmentation the default runs with")
    ap.add_argument("--validation-from", type=Path, metavar="DIR",
                    help="for a model trained on every face (--val-fraction 0): its twin, the "
                         "same recipe with faces held out, whose validation the card reports")
    ap.add_argument("--no-validation", metavar="REASON",
                    help="for a fine-tune whose starting weights saw every face (nothing is "
                         "held out, so no twin exists): why it ships, and what chose it, in "
                         "a sentence the card prints where validation would be")
    args = ap.parse_args()
    if args.no_validation is not None and args.validation_from:
        sys.exit("ship_default: --no-validation and --validation-from: give one")
    if args.no_validation is not None and not args.no_validation.strip():
        sys.exit("ship_default: --no-validation: give the reason as a sentence")
    model, card = args.run_dir / "model.keras", args.run_dir / "model.card.json"
    twin = args.validation_from / "model.card.json" if args.validation_from else None
    for f in (model, card, *([twin] if twin else [])):
        if not f.exists():
            sys.exit(f"ship_default: {f}: not found")
    if load_card_data(card).get("validation") is None and twin is None \
            and args.no_validation is None:
        sys.exit(f"ship_default: {card}: trained on every face (no validation); give "
                 "--validation-from the same recipe's run with faces held out, or "
                 "--no-validation REASON for a fine-tune of a model that saw every face")
    args.twin_validation = load_card_data(twin).get("validation") if twin else None
    if twin and args.twin_validation is None:
        sys.exit(f"ship_default: {twin}: has no validation either (trained on every face); "
                 "give the run with faces held out")
    if args.run_dir.resolve() == DEST.resolve():
        sys.exit(f"ship_default: {args.run_dir}: is the default itself; restore it as a run "
                 "first (scripts/restore_run.py)")

    # The current default waits aside until the new one is complete: a failed export or
    # evaluation puts it back rather than leaving a half-written folder.
    backup = DEST.with_name(DEST.name + ".previous")
    if backup.exists():  # left by a run that was killed: it may hold the only good default
        sys.exit(f"ship_default: {backup}: left by an interrupted run; move it back to {DEST} "
                 "or delete it, then ship again")
    if DEST.exists():
        DEST.rename(backup)
    try:
        _ship(args, model, card)
    except BaseException:
        if DEST.exists():
            shutil.rmtree(DEST)
        if backup.exists():
            backup.rename(DEST)
            print(f"ship_default: failed; {DEST} is back as it was", file=sys.stderr)
        raise
    if backup.exists():
        shutil.rmtree(backup)
    return 0


def _ship(args: argparse.Namespace, model: Path, card: Path) -> None:
    """Write the new default into DEST (empty), convert, score and describe it."""
    DEST.mkdir(parents=True)
    staged = (DEST / "model.keras").relative_to(REPO)  # the manifest records this path
    _strip_optimizer(model, REPO / staged)
    card_data = dict(load_card_data(card), tta=args.tta)
    if args.no_validation is not None:
        card_data["no_validation"] = args.no_validation
    elif card_data.get("validation") is None:  # a refit on every face: its twin's stands in
        card_data["validation_of_twin"] = {"run": str(args.validation_from),
                                           "metrics": args.twin_validation}
    (DEST / "model.card.json").write_text(json.dumps(card_data, indent=2) + "\n")
    attempts = _convert_first_that_passes(staged, args.formats.split(","), args.tta,
                                          args.resolutions, _sample_options(args))
    state = args.run_dir / "checkpoint" / "state.json"
    if args.keras and state.exists():  # an average of runs (average_weights.py) has none
        # What a later session needs to go on training (scripts/restore_run.py).
        shutil.copy(state, DEST / "training_state.json")
    # The float model on test, with the same TTA: what the export costs in accuracy.
    float_test = Path(tempfile.mkdtemp()) / "float_test_metrics.json"
    subprocess.run([*EDGE_FER, "evaluate", "--model", str(staged), "--data", str(args.test),
                    "--json", str(float_test), "--png", str(float_test.with_suffix(".png"))],
                   check=True, cwd=REPO)
    if not args.keras:
        (REPO / staged).unlink()
        (DEST / "model.card.json").unlink()
    subprocess.run([*EDGE_FER, "evaluate", "--data", str(args.test),
                    "--json", str(DEST / "test_metrics.json"),
                    "--png", str(DEST / "test_confusion.png")], check=True)
    # Accuracy against resolution on test, with and without the TTA: the profile's pick reads it.
    subprocess.run([sys.executable, str(REPO / "scripts" / "accuracy_table.py"),
                    str(DEST.relative_to(REPO)), "--data", str(args.test)], check=True, cwd=REPO)
    _write_model_card(card_data, load_manifest_data(DEST / "manifest.json"),
                      load_json(DEST / "test_metrics.json", "metrics", UserInputError),
                      load_json(float_test, "metrics", UserInputError), attempts, args)
    float_test.unlink()
    float_test.with_suffix(".png").unlink()
    sizes = sum(f.stat().st_size for f in DEST.iterdir())
    print(f"shipped {DEST} ({sizes / 1e6:.1f} MB)")


def _sample_options(args: argparse.Namespace) -> list[str]:
    """convert's options for the number of faces verified and calibrated on, where given."""
    options = []
    if args.samples is not None:
        options += ["--samples", str(args.samples)]
    if args.calibration_samples is not None:
        options += ["--calibration-samples", str(args.calibration_samples)]
    return options


def _convert_first_that_passes(staged: Path, formats: list[str], tta: str,
                               resolutions: str | None, sample_options: list[str]) -> list[str]:
    """Convert to each format in turn until one passes verification; one line per failure."""
    failures: list[str] = []
    out = DEST.relative_to(REPO)
    for fmt in formats:
        # --int8-fallback none: a mixed int8/float file is no faster than fp16 (README, convert).
        # convert refuses the option for other formats.
        no_fallback = ["--int8-fallback", "none"] if fmt == "tflite-int8" else []
        # --also-runtime openvino: the .tflite verified through OpenVINO too, so a device with
        # only edge-fer[openvino] runs the default (docs/deployment.md).
        done = subprocess.run([*EDGE_FER, "convert", "--model", str(staged), "--formats", fmt,
                               "--tta", tta, *no_fallback, "--also-runtime", "openvino",
                               *(["--resolutions", resolutions] if resolutions else []),
                               *sample_options, "--out", str(out)],
                              cwd=REPO, capture_output=True, text=True)
        print(done.stdout[-2000:], done.stderr[-2000:] if done.returncode else "")
        if done.returncode == 0:
            return failures
        if done.returncode != 1:  # not a failed check: a real error
            sys.exit(f"ship_default: converting to {fmt} failed ({done.returncode})")
        manifest = load_manifest_data(DEST / "manifest.json")
        listed = [a for a in manifest["artifacts"] if a["format"] == fmt]
        for a in listed:
            v = a["verification"]
            if not v.get("passed", True):
                failures.append(f"{fmt} ({a['file']}, {a['runtime']}): accuracy "
                                f"{v['accuracy']:.1%} against Keras' "
                                f"{v['reference_accuracy']:.1%} on {v['samples']} faces "
                                f"(agreement {v['agreement']:.1%}): failed verification")
        # The format ships whole or not at all; one file may be listed once per runtime.
        for file in {a["file"] for a in listed}:
            (DEST / file).unlink(missing_ok=True)
        (DEST / "manifest.json").unlink()
    sys.exit("ship_default: no format passed verification: " + "; ".join(failures))


def _strip_optimizer(src: Path, dest: Path) -> None:
    from edge_fer.model import save_for_inference
    from edge_fer.runtimes.keras_runtime import import_tensorflow

    tf = import_tensorflow()
    save_for_inference(tf.keras.models.load_model(src, compile=False), dest)


def _train_command(card: dict) -> str:
    """The card's command; cards written before it was recorded: rebuilt from its settings."""
    if "command" in card:
        return str(card["command"])
    from edge_fer.data import split_source
    from edge_fer.training import TrainConfig, train_command

    hp = {k: v for k, v in card["hyperparameters"].items() if k in TrainConfig.__dataclass_fields__}
    path, usage = split_source(card["data"]["source"])
    hp.setdefault("usage", usage)
    return train_command(TrainConfig(data=path, out="runs/default", **hp))


def _metrics_table(m: dict) -> list[str]:
    rows = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, c in m["per_class"].items():
        rows.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} "
                    f"| {c['support']} |")
    for avg in ("macro", "micro", "weighted"):
        a = m["averages"][avg]
        rows.append(f"| *{avg}* | {a['precision']:.3f} | {a['recall']:.3f} | {a['f1']:.3f} "
                    f"| {m['n']} |")
    return rows


def _confusion(m: dict) -> list[str]:
    names = m["class_names"]
    rows = ["| true \\ predicted | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|"]
    for name, row in zip(names, m["confusion_matrix"]):
        rows.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return rows


def _framework(card: dict) -> str:
    """What trained it: Keras and its backend where the card says, else TensorFlow (older cards)."""
    if "keras_version" not in card:
        return f"TensorFlow {card['tensorflow_version']}"
    backend = next(k[:-len("_version")] for k in card
                   if k.endswith("_version") and k not in ("keras_version", "edge_fer_version"))
    return f"Keras {card['keras_version']} on {backend} {card[backend + '_version']}"


def _origin(weights: str) -> str:
    """How the run started, in words: a card must not call a fine-tune 'from scratch'."""
    if weights == "none":
        return "trained from scratch (weights `none`)"
    if is_trained_model(weights):
        return f"fine-tuned from the trained edge-fer model `{weights}`"
    return f"trained from the backbone weights `{weights}`"


def _how_trained(card: dict) -> list[str]:
    """The commands that made the model, its epochs (for an average: each run's), and its
    batch norm when re-estimated (scripts/reestimate_bn.py)."""
    lines = _trained_runs(card)
    bn = card.get("batch_norm")
    if bn:
        lines += [f"- Batch norm re-estimated at {bn['resolution']} px on {bn['faces']} faces of "
                  f"{bn['data']} (convolutions untouched): `{bn['command']}`"]
    return lines


def _trained_runs(card: dict) -> list[str]:
    tr = card["training"]
    if "averaged_from" not in card:
        return ["```bash", _train_command(card) + "   # add --resume to continue after a stop",
                "```", "",
                f"- Epochs: best epoch {tr['best_epoch']} of {tr['epochs_run']} run "
                f"({tr['epochs_planned']} planned); wall time {tr['wall_time_s'] / 3600:.1f} h "
                f"(a shared machine: other jobs ran beside it)."]
    runs = card["averaged_from"]
    lines = ["The mean of the weights of these runs (`scripts/average_weights.py`):",
             "", "```bash",
             *[r["command"] for r in runs], card["command"], "```", ""]
    lines += [f"- `{r['run']}`: "
              + ("a mean of runs (its MODEL_CARD.md)" if r["epoch_taken"] == "mean"
                 else f"{r['epoch_taken']} epoch {r['epoch']}")
              + (f", validation {r['validation']['accuracy']:.1%} / "
                 f"{r['validation']['macro_f1']:.3f}" if r["validation"] else "")
              for r in runs]
    return lines + [f"- Wall time of the runs together: {tr['wall_time_s'] / 3600:.1f} h "
                    "(a shared machine: other jobs ran beside them)."]


def _resolution_table(manifest: dict, card: dict) -> list[str]:
    """Accuracy / macro-F1 against input size: the export's (test) and the training's (validation)."""
    tables = list({a["file"]: (f"{a['file']}, {a['accuracy']['split']}", a["accuracy"])
                   for a in manifest["artifacts"] if a.get("accuracy")}.values())
    if card.get("accuracy"):
        tables.append(("Keras, validation", card["accuracy"]))
    if not tables:
        return []
    columns = [(name, tta) for name, t in tables for tta in sorted({r["tta"] for r in t["rows"]})]
    sizes = sorted({r["resolution"] for _, t in tables for r in t["rows"]})
    lines = ["## Accuracy against input size", "",
             "Accuracy / macro-F1 at each size `edge-fer profile` may pick (it picks the most "
             "accurate size within the latency budget from the exports' tables; with exports "
             "for several sizes, each size runs the export most accurate there):", "",
             "| px | " + " | ".join(f"{n}, tta {tta}" for n, tta in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for r in sizes:
        cells = []
        for name, tta in columns:
            t = next(t for n, t in tables if n == name)
            row = next((x for x in t["rows"] if x["resolution"] == r and x["tta"] == tta), None)
            cells.append(f"{row['accuracy']:.1%} / {row['macro_f1']:.3f}" if row else "")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return lines + [""]


def _write_model_card(card: dict, manifest: dict, test: dict, float_test: dict,
                      attempts: list[str], args: argparse.Namespace) -> None:
    hw, val = card["hardware"], card["validation"]
    held_out = f"{val['n']} faces held out for validation" if val else "every face trained on"
    val_title = "Validation (selects the epoch)"
    test_use = "scored once, never used for selection"
    if card.get("no_validation"):  # nothing held out: the card says why, and what chose it
        val_lines = ["## No validation", "", card["no_validation"], ""]
        test_use = "see No validation for what it chose"
    elif val is None:  # a refit on every face: its held-out twin's validation stands in
        twin = card["validation_of_twin"]
        val = twin["metrics"]
        val_title = (f"Validation of the same recipe with {val['n']} faces held out "
                     f"(`{twin['run']}`; this model trained on those faces too)")
    if not card.get("no_validation"):
        val_lines = [f"## {val_title}: accuracy {val['accuracy']:.1%}, macro-F1 "
                     f"{val['macro_f1']:.3f}", "", *_metrics_table(val), ""]
    lines = ["# The default model", ""]
    if args.note:
        lines += [args.note, ""]
    stride = card["hyperparameters"].get("output_stride", 32)
    lines += [
        f"EfficientNetV2 (`{card['arch']}`) at {card['resolution']} px"
        f"{f', output stride {stride} (the last stage dilated)' if stride != 32 else ''}, "
        f"{_origin(card['weights_init'])} "
        f"by edge-fer {card['edge_fer_version']} "
        f"({_framework(card)}) on {card['data']['source']} "
        f"(sha256 {card['data']['sha256'][:12]}...; {held_out}).",
        "",
        *USE_AND_LIMITS.splitlines(),
        "## How it was trained", "", *_how_trained(card),
        f"- Hardware: {hw['cpu']}, {hw['cores']} cores, {hw['arch']}, {hw['os']}, "
        f"Python {hw['python']}, {hw.get('accelerator') or 'no GPU'}.",
        f"- Hyper-parameters{' of the first run' if 'averaged_from' in card else ''}: "
        f"`{json.dumps(card['hyperparameters'])}`",
        "",
        "## Files", "",
        "| file | format | size | test-time augmentation | verified against Keras |",
        "|---|---|---|---|---|",
    ]
    for a in manifest["artifacts"]:
        v = a.get("verification") or {}
        lines.append(f"| {a['file']} | {a['format']} | {a['size'] / 1e6:.1f} MB | "
                     f"{a.get('tta', 'none')} | "
                     f"top-1 agreement {v.get('agreement', float('nan')):.1%} on "
                     f"{v.get('samples', '?')} faces, accuracy {v.get('accuracy', 0):.1%} "
                     f"(Keras {v.get('reference_accuracy', 0):.1%}), max prob. diff "
                     f"{v.get('max_abs_diff', float('nan')):.4f} |")
    lines += [f"- Tried first: {line}" for line in attempts]
    lines += [
        "", "`edge-fer run` and `edge-fer evaluate` open `manifest.json` and run its preferred "
        f"export under test-time augmentation `{args.tta}`: {TTA_SENTENCES[args.tta]}", "",
        f"On test, the float Keras model (same TTA) scores accuracy {float_test['accuracy']:.1%}, "
        f"macro-F1 {float_test['macro_f1']:.3f}; the shipped export {test['accuracy']:.1%}, "
        f"{test['macro_f1']:.3f}.", "",
        *val_lines,
        f"## Test ({args.test}, {test_use}): accuracy "
        f"{test['accuracy']:.1%}, macro-F1 {test['macro_f1']:.3f}", "",
        "```bash", f"edge-fer evaluate --data {args.test} --json m.json", "```", "",
        *_metrics_table(test), "", *_confusion(test), "",
        "![confusion matrix on test](test_confusion.png)", "",
        *_resolution_table(manifest, card),
    ]
    (DEST / "MODEL_CARD.md").write_text("\n".join(lines))


if __name__ == "__main__":
    run_script(main)
