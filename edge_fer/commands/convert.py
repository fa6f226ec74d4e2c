"""`edge-fer convert`: Keras -> TFLite / OpenVINO IR, each verified against Keras, with a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from edge_fer.converters.formats import FORMATS
from edge_fer.options import parse_ints, tta_option


@click.command("convert", short_help="Export a Keras model to TFLite/OpenVINO, verified.")
@click.option("--model", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The Keras model (.keras) to convert; its .card.json must sit beside it.")
@click.option("--formats", default="all", show_default=True,
              help=f"Comma-separated formats: {', '.join(FORMATS)}, or all (none: see --also-runtime).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for the models and manifest.json.")
@click.option("--calibration", type=click.Path(exists=True, path_type=Path),
              help="Labelled faces (image-folder tree or FER2013 CSV) for int8 calibration "
                   "[default: the training data named in the model card].")
@click.option("--calibration-samples", default=500, show_default=True,
              type=click.IntRange(min=1), help="Faces used to calibrate int8.")
@click.option("--calibration-trim", default=0.02, show_default=True,
              type=click.FloatRange(0, 0.5, max_open=True),
              help="Share of the calibration faces left out: those whose features reach "
                   "furthest, which would set the int8 ranges for everyone (docs/convert.md).")
@click.option("--verify-data", type=click.Path(exists=True, path_type=Path),
              help="Labelled faces to verify on [default: other faces of --calibration].")
@click.option("--samples", default=500, show_default=True, type=click.IntRange(min=1),
              help="Faces run through Keras and every export.")
@click.option("--io-dtype", type=click.Choice(["uint8", "int8", "float32"]),
              help="Input/output type of the int8 TFLite model [default: uint8].")
@click.option("--int8-fallback", metavar="LAYER,...|none",
              help="When full int8 loses more than --max-int8-drop, export it again with the "
                   "layers from LAYER to the output in float, trying each LAYER in turn "
                   "[default: top,block6a: the head, then EfficientNetV2's last stage]; "
                   "none: fail instead.")
@click.option("--min-agreement", default=99.0, show_default=True,
              type=click.FloatRange(0, 100), help="Float exports: % of faces with Keras' top-1 class.")
@click.option("--max-int8-drop", default=1.0, show_default=True, type=click.FloatRange(0, 100),
              help="Quantized exports: accuracy points they may lose against Keras.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the face samples.")
@tta_option(model=None, note="Every export records it and is verified with it "
                             "[default: the model card's, none when it names none].")
@click.option("--resolutions", metavar="PX,...",
              callback=lambda ctx, param, value: parse_ints(value, param),
              help="Also export for each of these sizes, with the network's batch-norm "
                   "statistics re-estimated there (a network trained at several sizes: one "
                   "folded export per size, named model_<variant>_<PX>px; docs/convert.md).")
@click.option("--bn-faces", default=2048, show_default=True, type=click.IntRange(min=2),
              help="Faces of --calibration that re-estimate batch norm for --resolutions.")
@click.option("--also-runtime", "also_runtimes", multiple=True, type=click.Choice(["openvino"]),
              help="Verify the TFLite exports through this runtime too (OpenVINO reads .tflite) "
                   "and list them for it, so a device with only that runtime runs them. With "
                   "--formats none: only verify the exports already in OUT (same faces).")
def command(model: Path, formats: str, out: Path, calibration: Path | None,
            calibration_samples: int, calibration_trim: float, verify_data: Path | None,
            samples: int,
            io_dtype: str | None, int8_fallback: str | None, min_agreement: float,
            max_int8_drop: float, seed: int, tta: str | None, resolutions: tuple[int, ...],
            bn_faces: int, also_runtimes: tuple[str, ...]) -> None:
    """Export a Keras model to TFLite/OpenVINO, verify each, write a manifest.

    Exits 1 when an export fails verification (the manifest still records its figures).
    """
    from edge_fer.converters.convert import INT8_FALLBACK, ConvertConfig, add_runtimes, convert
    from edge_fer.converters.formats import check_options, parse_formats
    from edge_fer.converters.verify import Thresholds, raise_if_failed
    from edge_fer.errors import UserInputError

    only_verify = formats.strip().lower() == "none"
    if only_verify and not also_runtimes:
        raise UserInputError("--formats none exports nothing: add --also-runtime to verify the "
                             "exports in --out through another runtime")
    chosen = parse_formats("tflite-int8" if only_verify else formats)
    check_options(chosen, {"io_dtype": "--io-dtype"} if io_dtype else {})
    check_options(chosen, {"float_from": "--int8-fallback"} if int8_fallback else {})
    fallback = INT8_FALLBACK if int8_fallback is None else tuple(
        layer.strip() for layer in int8_fallback.split(",")
        if layer.strip() and layer.strip().lower() != "none")
    cfg = ConvertConfig(
        model=model, out=out, formats=tuple(chosen), calibration=calibration,
        calibration_samples=calibration_samples, calibration_trim=calibration_trim,
        verify_data=verify_data, samples=samples,
        io_dtype=io_dtype or "uint8", int8_fallback=fallback,
        thresholds=Thresholds(min_agreement / 100, max_int8_drop / 100), seed=seed, tta=tta,
        also_runtimes=also_runtimes, resolutions=resolutions,
        bn_faces=bn_faces)
    result = (add_runtimes if only_verify else convert)(cfg, echo=click.echo)
    click.echo(f"\n{'format':<14} {'file':<20} {'size MB':>8} {'agree %':>8} {'max diff':>9} "
               f"{'acc %':>6} {'keras %':>8}  check")
    for a in result.artifacts:
        v = a.verification
        assert v is not None  # convert always verifies
        label = a.format if a.format.startswith(a.runtime) else f"{a.format}@{a.runtime}"
        click.echo(f"{label:<14} {a.file:<20} {a.size / 1e6:>8.2f} {100 * v.agreement:>8.1f} "
                   f"{v.max_abs_diff:>9.4f} {100 * (v.accuracy or 0):>6.1f} "
                   f"{100 * (v.reference_accuracy or 0):>8.1f}  {'ok' if v.passed else 'FAILED'}"
                   + (f" (float from {a.options['float_from']})" if "float_from" in a.options
                      else ""))
    ttas = sorted({a.tta for a in result.artifacts})
    click.echo(f"manifest: {result.manifest} (tta {', '.join(ttas) or 'none'})")
    raise_if_failed(list(result.failures))
