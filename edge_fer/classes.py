"""The emotion classes: canonical FER2013 order, and the aliases users' data sets carry."""

from __future__ import annotations

from edge_fer.errors import DataError

CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

_ALIASES: dict[str, str] = {
    "anger": "angry",
    "mad": "angry",
    "disgusted": "disgust",
    "contempt": "disgust",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "calm": "neutral",
}


def canonical_class(name: str) -> str:
    """Map a folder or label name (any case, common aliases) to its canonical class name."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in CLASS_NAMES:
        raise DataError(
            f"unknown emotion class '{name}': expected one of {', '.join(CLASS_NAMES)} "
            "(or an alias such as anger, happiness, surprised)"
        )
    return key


def class_index(name: str) -> int:
    """Index of a class name (aliases accepted) in the canonical order."""
    return CLASS_NAMES.index(canonical_class(name))
