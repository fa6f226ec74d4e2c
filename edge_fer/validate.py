"""The limits model metadata is held to, checked in one place for cards, manifests and profiles.

A file a user can copy or edit must fail where it is read, with one line naming the file and the
field, never on the first face (a cv2 traceback, exit 1, and systemd restarting it in a loop).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_fer.errors import ModelError

MIN_RESOLUTION = 8  # below this the network's strides leave nothing to classify
MAX_RESOLUTION = 1024  # the largest input a profile may pick: the sweep stops here too
MAX_CLASSES = 1000
# More threads than any edge board has cores; far fewer than the thousands that crash LiteRT.
MAX_THREADS = 256
CHANNELS = (1, 3)


def whole(value: Any, origin: str, field: str, lo: int, hi: int) -> int:
    """An integer within [lo, hi]: a JSON number with no fraction, not a bool or a string."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value != int(value):
        raise ModelError(f"{origin}: {field} must be a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise ModelError(f"{origin}: {field} {int(value)} is outside {lo}..{hi}")
    return int(value)


def resolution(value: Any, origin: str, field: str = "resolution") -> int:
    return whole(value, origin, field, MIN_RESOLUTION, MAX_RESOLUTION)


def class_names(value: Any, origin: str, field: str = "class_names") -> tuple[str, ...]:
    """Distinct, non-empty names: a duplicate would collapse the `probs` dict."""
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_CLASSES:
        raise ModelError(f"{origin}: {field} must be a list of 1..{MAX_CLASSES} names")
    if not all(isinstance(n, str) and n.strip() for n in value):
        raise ModelError(f"{origin}: {field} must be non-empty strings, got {list(value)!r}")
    seen: set[str] = set()
    for name in value:
        if name in seen:
            raise ModelError(f"{origin}: {field} names '{name}' twice")
        seen.add(name)
    return tuple(value)


def preprocessing(value: Any, origin: str, field: str = "preprocessing") -> dict[str, Any]:
    """The preprocessing table with its numbers checked (the defaults fill what is absent)."""
    if not isinstance(value, Mapping):
        raise ModelError(f"{origin}: {field} must be a table, got {value!r}")
    data = dict(value)
    if "native_size" in data:
        data["native_size"] = whole(data["native_size"], origin, f"{field}.native_size",
                                    MIN_RESOLUTION, MAX_RESOLUTION)
    if "channels" in data and whole(data["channels"], origin, f"{field}.channels", 1, 3) \
            not in CHANNELS:
        raise ModelError(f"{origin}: {field}.channels must be 1 or 3, got {data['channels']!r}")
    for key in ("color", "input_range", "resize_down", "resize_up"):
        if key in data and not isinstance(data[key], str):
            raise ModelError(f"{origin}: {field}.{key} must be a string, got {data[key]!r}")
    return data


def input_shape(shape: tuple[int, ...], size: int, dynamic: bool, origin: str,
                field: str = "input.shape") -> None:
    """An (N, r, r, 3) input whose fixed sides, if any, are the stated resolution."""
    if len(shape) != 4 or shape[3] != 3:
        raise ModelError(f"{origin}: {field} must be (N, r, r, 3), got {list(shape)}")
    sides = [d for d in shape[1:3] if d > 0]
    if not dynamic and any(d != size for d in sides):
        raise ModelError(f"{origin}: {field} {list(shape)} disagrees with resolution {size}")


def relative_file(name: Any, origin: str, field: str = "file") -> str:
    """A file name relative to its folder, never absolute and never climbing out with `..`."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() \
            or ".." in Path(name).parts:
        raise ModelError(f"{origin}: {field} {name!r} must be a path inside its folder")
    return name


def inside(folder: Path, name: Any, origin: str, field: str = "file") -> Path:
    """`folder / name`, refused unless it stays in `folder` (symbolic links followed)."""
    path = folder / relative_file(name, origin, field)
    base = folder.resolve()
    if not path.resolve().is_relative_to(base):
        raise ModelError(f"{origin}: {field} {name!r} points outside {folder}")
    return path


def sha256_hex(value: Any, origin: str, field: str = "sha256") -> str:
    text = str(value).lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ModelError(f"{origin}: {field} is not a sha256 hex digest")
    return text
