"""`edge-fer train`: train an EfficientNetV2 emotion classifier (workstation; needs edge-fer[train]).

The options are TrainConfig's fields by name, so the command builds one frozen TrainConfig
and makes one call; `TrainConfig` documents each setting, the options say how to choose it.
"""

from __future__ import annotations

from typing import Any

import click

from edge_fer.augment import PRESETS
from edge_fer.backends import ARCHS, OUTPUT_STRIDES
from edge_fer.options import choice, parse_ints
from edge_fer.tta import TTA_MODES


def _one_of(value: int, allowed: tuple[int, ...], param: click.Parameter) -> int:
    if value not in allowed:
        raise click.BadParameter(f"{value} is not one of {', '.join(map(str, allowed))}",
                                 param=param)
    return value


@click.command("train", short_help="Train an emotion classifier (needs edge-fer[train]).")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="Training data: an image-folder tree (<root>/<class>/*.png) or a FER2013 CSV.")
@click.option("--usage", help="With a FER2013 CSV: the rows to train on, Training, PublicTest or "
                               "PrivateTest [default: Training; the test splits are read only "
                               "when named here].")
@click.option("--out", default="runs/train", show_default=True, type=click.Path(file_okay=False),
              help="Output directory (model.keras, model.card.json, checkpoint/).")
@click.option("--arch", default="efficientnetv2-b0", show_default=True, type=choice(ARCHS),
              help="The network: larger ones are slower on the device (time them with "
                   "`edge-fer profile --arch`).")
@click.option("--resolution", type=int, default=None,
              help="Input side in px [default: 64, or the profile's pick with --profile].")
@click.option("--resolutions", callback=lambda ctx, param, value: parse_ints(value, param),
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
@click.option("--epochs", default=100, show_default=True, type=click.IntRange(min=1),
              help="Epochs at most (early stopping may end sooner).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1),
              help="Faces per training step.")
@click.option("--lr", "learning_rate", default=1e-3, show_default=True, type=float,
              help="Peak learning rate (Adam).")
@click.option("--schedule", default="cosine", show_default=True,
              type=click.Choice(["cosine", "plateau"]),
              help="Learning-rate schedule after warm-up: cosine decay over the epochs, or "
                   "plateau (halved after every 5 epochs without a better validation macro-F1).")
@click.option("--warmup-epochs", default=2, show_default=True, type=click.IntRange(min=0),
              help="Epochs of linear learning-rate warm-up.")
@click.option("--augment", default="paper", show_default=True, type=click.Choice(list(PRESETS)),
              help="Random affine augmentation (rotation, shift, shear, zoom, flip): paper is the "
                   "paper's strength, medium and light milder, none off.")
@click.option("--erase", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Random erasing: the share of training faces that get a rectangle of noise.")
@click.option("--mixup", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Mixup's Beta(alpha, alpha) parameter: blend each training face with "
                   "another and their targets alike (0: off; 0.2-0.4 are usual).")
@click.option("--class-weights", default="inverse", show_default=True,
              type=click.Choice(["inverse", "sqrt", "none"]),
              help="Weight each face by its class's rarity (inverse frequency, its square root, "
                   "or not at all): FER2013 has 16 times more happy than disgust faces.")
@click.option("--label-smoothing", default=0.1, show_default=True, type=click.FloatRange(0, 0.5),
              help="Share of each target spread over the other classes.")
@click.option("--dropout", default=0.3, show_default=True, type=click.FloatRange(0, 0.9),
              help="Dropout before the classification head.")
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 0.5),
              help="Faces held out to select the epoch. 0: train on every face and keep the "
                   "last epoch (refit a recipe chosen on a held-out split).")
@click.option("--patience", default=20, show_default=True, type=click.IntRange(min=1),
              help="Early stopping: epochs without a better validation macro-F1.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the split, sampling, augmentation and initial weights.")
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
def command(profile_file: str | None, resume: bool, **settings: Any) -> None:
    """Train (or resume) a classifier, keeping the best epoch by validation macro-F1."""
    from edge_fer.training import TrainConfig, train

    settings["resolution"] = _resolution(settings["resolution"], profile_file)
    best = train(TrainConfig(**settings), resume=resume, echo=click.echo)
    click.echo(f"model: {best}")


def _resolution(given: int | None, profile_file: str | None) -> int:
    """--resolution, else the profile's pick, else 64; both given must agree."""
    if not profile_file:
        return given or 64
    from edge_fer.profiling.schema import load_profile

    picked = load_profile(profile_file).chosen_resolution
    if given is not None and given != picked:
        raise click.BadParameter(f"--resolution {given} contradicts the profile's "
                                 f"{picked}; give one or the other", param_hint="--resolution")
    return picked
