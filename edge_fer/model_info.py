"""ModelInfo: what a runtime needs to know about a model file besides its weights.

Its own module so that the manifest, the card readers and the runtimes can all build one
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_fer.accuracy import AccuracyTable
from edge_fer.preprocess import Preprocessing
from edge_fer.tta import parse_tta


@dataclass(frozen=True)
class ModelInfo:
    """What a runtime needs to know about a model file besides its weights."""

    class_names: tuple[str, ...]
    resolution: int  # the resolution it was trained (or exported) at; the default input size
    preprocessing: Preprocessing
    arch: str = "unknown"
    tta: str = "none"  # test-time augmentation, one of TTA_MODES
    accuracy: AccuracyTable | None = None  # measured accuracy against resolution, if known

    def __post_init__(self) -> None:
        parse_tta(self.tta)  # ValueError: files and options are checked before this, with context
