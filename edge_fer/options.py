"""Options several commands share (--runtime, --detector, --tta, sizes, -v), defined once.

Choices and help come from the backend tables, so a new backend shows up in every command.
Light on purpose: `edge-fer --help` builds these without importing numpy or cv2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from edge_fer.backends import DETECTORS, RUNTIMES
from edge_fer.registry import Registry
from edge_fer.tta import TTA_MODES

F = TypeVar("F", bound=Callable[..., Any])

# What each TTA mode does; commands add what "model" means for them and how they pay for it.
TTA_MODES_HELP = ("none; flip = average each face with its mirror image (twice the classifier's "
                  "work); zooms = flip over the face and two zoomed re-framings (6 images a face "
                  "at once); crops = flip over the face and six re-framings (14 images a face "
                  "at once)")


def choice(registry: Registry, only: Sequence[str] | None = None) -> click.Choice:
    """A click.Choice of a registry's keys (or the subset `only`, in the registry's order)."""
    return click.Choice([k for k in registry if only is None or k in only])


def runtime_option(*, only: Sequence[str] | None = None, help: str = "", **kwargs: Any
                   ) -> Callable[[F], F]:
    """--runtime KEY, one of RUNTIMES (or the subset `only`)."""
    keys = [k for k in RUNTIMES if only is None or k in only]
    text = help or "Force a runtime [default: by the model's file suffix]."
    listed = ", ".join(RUNTIMES[k].describe() for k in keys)
    return click.option("--runtime", type=choice(RUNTIMES, keys), help=f"{text} Choices: {listed}.",
                        **kwargs)


def detector_option(*, help: str = "Face detector.", **kwargs: Any) -> Callable[[F], F]:
    """--detector KEY, one of DETECTORS."""
    return click.option("--detector", type=choice(DETECTORS),
                        help=f"{help} Choices: {DETECTORS.help()}.", **kwargs)


def tta_option(*, model: str | None, note: str = "", **kwargs: Any) -> Callable[[F], F]:
    """--tta MODE; with `model` (what 'model' means here) the default is the file's own mode."""
    if model is None:
        return click.option("--tta", type=click.Choice(TTA_MODES),
                            help=f"Test-time augmentation: {TTA_MODES_HELP}. {note}".strip(),
                            **kwargs)
    kwargs.setdefault("default", "model")
    kwargs.setdefault("show_default", True)
    return click.option("--tta", type=click.Choice(["model", *TTA_MODES]),
                        help=f"Test-time augmentation: model = {model}; {TTA_MODES_HELP}. "
                             f"{note}".strip(), **kwargs)


MAX_SIDE = 16384


def parse_size(text: str | None, param_hint: str) -> tuple[int, int] | None:
    """'640x480' -> (640, 480); None or '' -> None; click.BadParameter when malformed, under
    16 px or over MAX_SIDE (no camera or model frame is that large; an absurd size would only
    fail later, deep in OpenCV)."""
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"'{text}' is not WIDTHxHEIGHT (e.g. 640x480)",
                                 param_hint=param_hint) from None
    if w < 16 or h < 16:
        raise click.BadParameter(f"'{text}' is too small", param_hint=param_hint)
    if w > MAX_SIDE or h > MAX_SIDE:
        raise click.BadParameter(f"'{text}' is too large (at most {MAX_SIDE} px a side)",
                                 param_hint=param_hint)
    return (w, h)


def size_callback(ctx: click.Context, param: click.Parameter,
                  value: str | None) -> tuple[int, int] | None:
    """click callback form of parse_size."""
    return parse_size(value, param.get_error_hint(ctx))


def parse_ints(value: str | None, param: click.Parameter | None = None,
               at_least: int = 0) -> tuple[int, ...]:
    """'48,64, 96' -> (48, 64, 96); None -> (); click.BadParameter when not whole numbers."""
    if not value:
        return ()
    try:
        values = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got '{value}'",
                                 param=param) from None
    if len(values) < at_least:
        raise click.BadParameter(f"give at least {at_least} values, got '{value}'", param=param)
    return values


def _add_verbosity(ctx: click.Context, param: click.Parameter, count: int) -> None:
    """Each -v lowers the root logger's threshold, wherever it stands on the command line."""
    if not count or ctx.resilient_parsing:
        return
    meta = ctx.find_root().meta
    meta["edge_fer.verbose"] = meta.get("edge_fer.verbose", 0) + count
    logging.getLogger().setLevel(verbosity_level(meta["edge_fer.verbose"]))


def verbosity_level(count: int) -> int:
    """0 -> WARNING, 1 -> INFO, 2 or more -> DEBUG."""
    return logging.WARNING - 10 * min(count, 2)


def add_verbose_option(command: click.Command) -> None:
    """Give a subcommand (and its own subcommands) -v, so it works after the command name too."""
    if not any("-v" in p.opts for p in command.params):
        command.params.append(click.Option(["-v", "--verbose"], count=True, expose_value=False,
                                           is_eager=True, callback=_add_verbosity,
                                           help="More log output (-vv for debug)."))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_verbose_option(sub)
