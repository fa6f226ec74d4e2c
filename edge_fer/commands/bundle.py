"""`edge-fer bundle`: a folder to copy to a device, which installs edge-fer and a model there."""

from __future__ import annotations

from pathlib import Path

import click

from edge_fer.bundle.targets import TARGETS


@click.command("bundle")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write (new or empty).")
@click.option("--model", type=click.Path(exists=True, path_type=Path),
              help="A manifest.json from `edge-fer convert`, or its folder [default: the "
                   "shipped model]. Only the verified exports go in, never the Keras model.")
@click.option("--profile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A hardware profile for the device (`edge-fer profile` on one like it).")
@click.option("--target", "targets", multiple=True, type=click.Choice(list(TARGETS)),
              help="Device platform(s); repeat for several [default: bookworm-arm64 and x86_64].")
@click.option("--extra", type=click.Choice(["tflite", "tflite-runtime", "openvino"]),
              help="The runtime extra the device installs [default: the one the model's "
                   "preferred export needs]. tflite-runtime: 32-bit Raspberry Pi OS, slower.")
@click.option("--with-wheels", is_flag=True,
              help="Download every wheel the device needs (per target) into the bundle, so "
                   "install.sh works offline.")
@click.option("--wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="edge-fer's own wheel [default: built from this source tree].")
def command(out: Path, model: Path | None, profile: Path | None, targets: tuple[str, ...],
            extra: str | None, with_wheels: bool, wheel: Path | None) -> None:
    """Write a folder that installs edge-fer and a model on a device.

    On the device: bash OUT/install.sh --prefix /opt/edge-fer [--no-service].
    """
    from edge_fer.bundle.build import BundleConfig, build_bundle
    from edge_fer.bundle.targets import get_target
    from edge_fer.defaults import DEFAULT_MODEL_DIR

    keys = targets or ("bookworm-arm64", "x86_64")
    cfg = BundleConfig(out=out, model=model or DEFAULT_MODEL_DIR,
                       targets=tuple(get_target(k) for k in keys), profile=profile, extra=extra,
                       with_wheels=with_wheels, wheel=wheel)
    record = build_bundle(cfg, echo=click.echo)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    click.echo(f"bundle: {out} ({size:.1f} MB; {record.name} lists its content)")
    click.echo(f"on the device: bash {out.name}/install.sh --prefix /opt/edge-fer [--no-service]")
