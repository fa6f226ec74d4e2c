"""Reading and writing the project's small JSON files (cards, manifests, profiles, state).

One place for the two rules they share: a write is atomic, so a crash or a full disk never
leaves a half-written file behind, and a read that fails is one line naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_fer.errors import EdgeFerError


def save_json(path: str | Path, data: Any, indent: int = 2) -> None:
    """Write `data` beside `path`, then rename it into place."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=indent) + "\n")
        tmp.replace(p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_json(path: str | Path, what: str, error: type[EdgeFerError]) -> Any:
    """The parsed content of `path`; `error("<path>: ...")` when it is missing or unreadable."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise error(f"{p}: {what} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{p}: unreadable {what} ({e})") from None
