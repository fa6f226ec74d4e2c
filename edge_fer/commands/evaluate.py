"""`edge-fer evaluate`: accuracy, precision/recall/F1 and the confusion matrix of any model."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from edge_fer.options import detector_option, runtime_option, tta_option

if TYPE_CHECKING:
    from edge_fer.data import FaceDataset
    from edge_fer.metrics import Metrics
    from edge_fer.runtimes.base import Classifier


@click.command("evaluate", short_help="Score a model on labelled faces.")
@click.option("--model", type=click.Path(exists=True),
              help="A .keras, .tflite or OpenVINO .xml model, or a manifest.json or its folder "
                   "[default: the shipped model].")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="Labelled faces: an image-folder tree or a FER2013 CSV.")
@click.option("--usage", help="With a CSV: Training, PublicTest or PrivateTest.")
@runtime_option()
@click.option("--resolution", type=click.IntRange(min=8), help="Run at this input size.")
@click.option("--threads", type=click.IntRange(min=1),
              help="Classifier threads [default: all usable cores].")
@click.option("--limit", type=click.IntRange(min=1), help="A stratified sample of N faces.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write metrics as JSON.")
@click.option("--png", "png_out", type=click.Path(dir_okay=False),
              help="Confusion-matrix PNG [default: beside --json, else confusion.png].")
@tta_option(model="the file's own (card or manifest)",
            note="All at once, as on a face that `edge-fer run` has seen for 3 (zooms) or 7 "
                 "(crops) frames.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar on stderr [default: when stderr is a terminal].")
@detector_option(help="Score on detected faces: each face placed in a 640x480 frame (150-230 "
                      "px), found by this detector and cropped as `edge-fer run` crops it; a "
                      "missed face is reported apart [default: the faces as they are].")
@click.option("--align/--no-align", default=None,
              help="With --detector: frame faces from their eyes [default: the detector's own].")
def command(model: str | None, data: str, usage: str | None, runtime: str | None,
            resolution: int | None, threads: int | None, limit: int | None,
            json_out: str | None, png_out: str | None, tta: str, progress: bool | None,
            detector: str | None, align: bool | None) -> None:
    """Score a model on labelled faces: metrics table, JSON, confusion PNG."""
    from edge_fer.data import has_usage_column, load_dataset
    from edge_fer.defaults import default_model
    from edge_fer.evaluation import evaluate
    from edge_fer.metrics import write_confusion_png
    from edge_fer.runtimes import load_classifier

    if align is not None and detector is None:
        raise click.BadParameter("needs --detector", param_hint="--align")
    model_path = Path(model) if model else default_model()
    dataset = load_dataset(data, usage=usage, limit=limit)
    if usage is None and has_usage_column(data):
        click.echo(f"note: {data}: every row, the Training ones included; --usage PrivateTest "
                   "scores the test split alone", err=True)
    found_line, found_record = "", dict[str, object]()
    with load_classifier(model_path, runtime, threads, resolution,
                         None if tta == "model" else tta) as classifier:
        if detector is None:
            with _progress_bar(progress, len(dataset)) as report:
                metrics = evaluate(classifier, dataset, progress=report)
        else:
            metrics, found_line, found_record = _evaluate_detected(classifier, dataset,
                                                                   detector, align)
        r = classifier.resolution
        key = classifier.key
        used = classifier.info.tta
        ran = classifier.path or model_path
    click.echo(f"model: {model_path} ({key}, {r} px, tta {used})   "
               f"data: {dataset.source} ({len(dataset)} faces)")
    if found_line:
        click.echo(found_line)
    click.echo(metrics.table())
    result = metrics.to_dict()
    result.update(model=str(model_path), runtime=key, resolution=r, tta=used, data=dataset.source,
                  **found_record)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"metrics: {json_out}")
    png = Path(png_out) if png_out else (Path(json_out).with_suffix(".png") if json_out
                                         else Path("confusion.png"))
    write_confusion_png(metrics, png, title=_title(ran, key, r, used))
    click.echo(f"confusion matrix: {png}")


def _title(model: Path, runtime: str, resolution: int, tta: str) -> str:
    """'default/model_int8.tflite (tflite, 64 px, tta zooms)': the file that ran, not its manifest."""
    name = f"{model.parent.name}/{model.name}" if model.parent.name else model.name
    return f"{name} ({runtime}, {resolution} px, tta {tta})"


@contextmanager
def _progress_bar(wanted: bool | None, total: int) -> Iterator[Callable[[int, int], None] | None]:
    """Progress on stderr fed by evaluate's (done, total) callback: a bar on a terminal, else
    (--progress into a log) a line at every tenth; None when not wanted."""
    interactive = sys.stderr.isatty()
    if not (interactive if wanted is None else wanted):
        yield None
        return
    if not interactive:
        step = max(total // 10, 1)
        marks = iter(range(step, total + step, step))
        mark = next(marks)

        def log_line(done: int, total: int) -> None:
            nonlocal mark
            if done >= mark or done == total:
                click.echo(f"evaluated {done}/{total} faces", err=True)
                while mark <= done:
                    mark = next(marks, total + 1)

        yield log_line
        return
    with click.progressbar(length=total, label="faces", file=sys.stderr,
                           show_pos=True, show_eta=True) as bar:
        def report(done: int, _total: int) -> None:
            bar.update(done - bar.pos)

        yield report


def _evaluate_detected(classifier: Classifier, dataset: FaceDataset, key: str,
                       align: bool | None) -> tuple[Metrics, str, dict[str, object]]:
    """Metrics on the faces `key` finds, the line that says how many, and their record."""
    from edge_fer.crop import CropConfig
    from edge_fer.detected import evaluate_detected
    from edge_fer.detectors import DetectorConfig, load_detector

    # Every face is in its own frame: no face-following between them.
    with load_detector(key, DetectorConfig(full_frame_every=1)) as detector:
        aligned = detector.align if align is None else align
        crop = CropConfig(shift=detector.crop_shift, align=aligned)
        score = evaluate_detected(classifier, dataset, detector, crop)
    line = (f"detector: {key} ({'aligned' if aligned else 'box'} crops): found {score.found} of "
            f"{score.faces} faces ({100 * score.found_rate:.1f}%), end-to-end accuracy "
            f"{100 * score.end_to_end:.1f}%; the table covers the faces found")
    record = {"detector": key, "align": aligned, "faces": score.faces, "found": score.found,
              "accuracy_end_to_end": score.end_to_end}
    return score.metrics, line, record
