"""Numeric option types that refuse NaN, infinities and absurd sizes (exit 2, one line).

click's FloatRange compares with < and >, which NaN always passes: `--max-fps nan` would spin a
core and `--duration nan` would switch the limit off. Every bound here is closed and finite.
"""

from __future__ import annotations

import math
from typing import Any

import click

from edge_fer.validate import MAX_THREADS

# Longer than any run needs (about 31 years), short enough for every clock sum to stay exact.
MAX_SECONDS = 1e9
__all__ = ["MAX_SECONDS", "MAX_THREADS", "Finite", "seconds"]


class Finite(click.FloatRange):
    """A FloatRange with both ends required and NaN/inf refused."""

    name = "float"

    def __init__(self, lo: float, hi: float, *, min_open: bool = False) -> None:
        super().__init__(lo, hi, min_open=min_open)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


def seconds(*, zero: bool = False) -> Finite:
    """A span of time: above 0 (or from 0 when `zero`), at most MAX_SECONDS."""
    return Finite(0, MAX_SECONDS, min_open=not zero)

