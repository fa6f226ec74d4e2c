"""`edge-fer train`: train an EfficientNetV2 emotion classifier (needs edge-fer[train])."""

from __future__ import annotations

import click

from edge_fer.augment import PRESETS
from edge_fer.model import OUTPUT_STRIDES
from edge_fer.tta import TTA_MODES


def _one_of(value: int, allowed: tuple[int, ...], param: click.Parameter) -> int:
    if value not in allowed:
        raise click.BadParameter(f"{value} is not one of {', '.join(map(str, allowed))}",
                                 param=param)
    return value


def _sizes(value: str | None, param: click.Parameter) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip()) if value else ()
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got '{value}'",
                                 param=param) from None


@click.command("train")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="Training data: an image-folder tree (<root>/<class>/*.png) or a FER2013 CSV.")
@click.option("--out", default="runs/train", show_default=True, type=click.Path(file_okay=False),
              help="Output directory (model.keras, model.card.json, checkpoint/).")
@click.option("--arch", default="efficientnetv2-b0", show_default=True,
              type=click.Choice(["efficientnetv2-b0", "efficientnetv2-b1", "efficientnetv2-b2",
                                 "efficientnetv2-b3", "efficientnetv2-s"]))
@click.option("--resolution", type=int, default=None,
              help="Input side in px [default: 64, or the profile's pick with --profile].")
@click.option("--resolutions", callback=lambda ctx, param, value: _sizes(value, param),
              help="Multi-resolution training: comma-separated sizes, each batch at one of them "
                   "(e.g. 48,64,96,128,160), so one network serves every size a profile may pick; "
                   "each epoch is scored at each size and kept by their mean macro-F1.")
@click.option("--output-stride", default=32, show_default=True, type=int,
              callback=lambda ctx, param, value: _one_of(value, OUTPUT_STRIDES, param),
              help="16 keeps the last stage at twice the spatial size (dilated; the classifier "
                   "takes about 1.4x as long at 64 px); a stride-32 model's weights fine-tune into it.")
@click.option("--profile", "profile_file", type=click.Path(exists=True, dir_okay=False),
              help="A hardware profile: train at the resolution it chose for its device.")
@click.option("--weights", default="none", show_default=True,
              help="none (from scratch), imagenet (needs internet), a local backbone weights file, "
                   "or a trained edge-fer model (.keras) to fine-tune, e.g. at another resolution.")
@click.option("--epochs", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", "learning_rate", default=1e-3, show_default=True, type=float)
@click.option("--schedule", default="cosine", show_default=True,
              type=click.Choice(["cosine", "plateau"]))
@click.option("--warmup-epochs", default=2, show_default=True, type=click.IntRange(min=0))
@click.option("--augment", default="paper", show_default=True, type=click.Choice(list(PRESETS)))
@click.option("--erase", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Random erasing: the share of training faces that get a rectangle of noise.")
@click.option("--mixup", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Mixup's Beta(alpha, alpha) parameter: blend each training face with "
                   "another and their targets alike (0: off; 0.2-0.4 are usual).")
@click.option("--class-weights", default="inverse", show_default=True,
              type=click.Choice(["inverse", "sqrt", "none"]))
@click.option("--label-smoothing", default=0.1, show_default=True, type=click.FloatRange(0, 0.5))
@click.option("--dropout", default=0.3, show_default=True, type=click.FloatRange(0, 0.9))
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 0.5),
              help="Faces held out to select the epoch. 0: train on every face and keep the "
                   "last epoch (refit a recipe chosen on a held-out split).")
@click.option("--patience", default=20, show_default=True, type=click.IntRange(min=1),
              help="Early stopping: epochs without a better validation macro-F1.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--limit", type=click.IntRange(min=10), help="Use a stratified sample of N faces.")
@click.option("--threads", type=click.IntRange(min=1), help="TensorFlow intra-op threads.")
@click.option("--teacher", type=click.Path(exists=True),
              help="Distil: a trained model (.keras, .tflite, manifest) that labels every training "
                   "face once; train on its probabilities mixed with the labels. It must not have "
                   "trained on this run's validation faces.")
@click.option("--teacher-tta", default="crops", show_default=True, type=click.Choice(TTA_MODES),
              help="The teacher's test-time augmentation.")
@click.option("--distill", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="The teacher's share of each face's target (the label's: the rest).")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.")
def command(data: str, out: str, arch: str, resolution: int | None,
            resolutions: tuple[int, ...],
            output_stride: int,
            profile_file: str | None,
            weights: str, epochs: int, batch_size: int, learning_rate: float, schedule: str,
            warmup_epochs: int, augment: str, erase: float, mixup: float, class_weights: str,
            label_smoothing: float,
            dropout: float, val_fraction: float, patience: int, seed: int, limit: int | None,
            threads: int | None, teacher: str | None, teacher_tta: str, distill: float,
            resume: bool) -> None:
    """Train (or resume) an emotion classifier; the best epoch by validation macro-F1 is kept."""
    from edge_fer.training import TrainConfig, train

    if profile_file:
        from edge_fer.profile import load_profile

        picked = load_profile(profile_file).chosen_resolution
        if resolution is not None and resolution != picked:
            raise click.BadParameter(f"--resolution {resolution} contradicts the profile's "
                                     f"{picked}; give one or the other", param_hint="--resolution")
        resolution = picked
    cfg = TrainConfig(data=data, out=out, arch=arch, resolution=resolution or 64,
                      resolutions=resolutions,
                      output_stride=output_stride, weights=weights,
                      epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                      schedule=schedule, warmup_epochs=warmup_epochs, augment=augment,
                      erase=erase, mixup=mixup,
                      class_weights=class_weights, label_smoothing=label_smoothing,
                      dropout=dropout, val_fraction=val_fraction, patience=patience, seed=seed,
                      limit=limit, threads=threads, teacher=teacher, teacher_tta=teacher_tta,
                      distill=distill)
    best = train(cfg, resume=resume, echo=lambda s: click.echo(s))
    click.echo(f"model: {best}")
