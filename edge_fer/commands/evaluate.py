"""`edge-fer evaluate`: accuracy, precision/recall/F1 and the confusion matrix of any model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge_fer.tta import TTA_MODES


@click.command("evaluate")
@click.option("--model", type=click.Path(exists=True),
              help="A .keras, .tflite or OpenVINO .xml model, or a manifest.json or its folder "
                   "[default: the shipped model].")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="Labelled faces: an image-folder tree or a FER2013 CSV.")
@click.option("--usage", help="With a CSV: Training, PublicTest or PrivateTest.")
@click.option("--runtime", type=click.Choice(["keras", "tflite", "openvino"]),
              help="Force a runtime [default: by the model's file suffix].")
@click.option("--resolution", type=click.IntRange(min=8), help="Run at this input size.")
@click.option("--threads", type=click.IntRange(min=1))
@click.option("--limit", type=click.IntRange(min=1), help="A stratified sample of N faces.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write metrics as JSON.")
@click.option("--png", "png_out", type=click.Path(dir_okay=False),
              help="Confusion-matrix PNG [default: beside --json, else confusion.png].")
@click.option("--tta", default="model", show_default=True,
              type=click.Choice(["model", *TTA_MODES]),
              help="Test-time augmentation: model = the file's own (card or manifest); none; "
                   "flip = average each face with its mirror image; zooms = flip over the face "
                   "and two zoomed re-framings (6 images a face); crops = flip over the face and "
                   "six re-framings of it (14 images a face). All at once, as on a face that "
                   "`edge-fer run` has seen for 3 (zooms) or 7 (crops) frames.")
def command(model: str | None, data: str, usage: str | None, runtime: str | None,
            resolution: int | None, threads: int | None, limit: int | None,
            json_out: str | None, png_out: str | None, tta: str) -> None:
    """Score a model on labelled faces and print the metrics table."""
    from edge_fer.data import load_dataset
    from edge_fer.defaults import default_model
    from edge_fer.evaluation import evaluate
    from edge_fer.metrics import write_confusion_png
    from edge_fer.runtimes import load_classifier

    model_path = Path(model) if model else default_model()
    dataset = load_dataset(data, usage=usage, limit=limit)
    with load_classifier(model_path, runtime, threads, resolution,
                         None if tta == "model" else tta) as classifier:
        metrics = evaluate(classifier, dataset)
        r = classifier.resolution
        key = classifier.key
        used = classifier.info.tta
    click.echo(f"model: {model_path} ({key}, {r} px, tta {used})   "
               f"data: {dataset.source} ({len(dataset)} faces)")
    click.echo(metrics.table())
    result = metrics.to_dict()
    result.update(model=str(model_path), runtime=key, resolution=r, tta=used, data=dataset.source)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"metrics: {json_out}")
    png = Path(png_out) if png_out else (Path(json_out).with_suffix(".png") if json_out
                                         else Path("confusion.png"))
    write_confusion_png(metrics, png, title=model_path.name)
    click.echo(f"confusion matrix: {png}")
