"""The one reader and writer of the JSON files users copy around: cards, manifests, profiles, state.

A write is atomic, so a crash or a full disk never leaves a half-written file behind. A read
checks the document's kind and schema version once, then hands out typed fields; every
problem is one line naming the file and the field, raised as the caller's error class (so
its exit code follows edge_fer.errors).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
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
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{p}: no such {what} file") from None
    except IsADirectoryError:
        raise error(f"{p}: unreadable {what}: is a directory, not a file") from None
    except UnicodeDecodeError:
        raise error(f"{p}: unreadable {what}: binary, not UTF-8 JSON") from None
    except OSError as e:
        raise error(f"{p}: unreadable {what} ({e.strerror or e})") from None
    if not text.strip():
        raise error(f"{p}: unreadable {what}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{p}: unreadable {what}: corrupt or truncated (invalid JSON at line "
                    f"{e.lineno}, column {e.colno}: {e.msg})") from None


@dataclass(frozen=True)
class DocumentType:
    """One kind of file: its "kind" marker, the newest schema this edge-fer reads, its error."""

    kind: str
    schema: int
    what: str  # how messages name it: "model card", "manifest", ...
    error: type[EdgeFerError]
    # Files written before they carried "kind" and "schema" (training state) still load.
    header_optional: bool = False

    def header(self) -> dict[str, Any]:
        return {"kind": self.kind, "schema": self.schema}

    def check(self, data: Any, origin: str) -> int:
        """The schema version of `data` after checking its kind; refuses newer ones."""
        if self.header_optional and isinstance(data, dict) and "kind" not in data:
            if "schema" in data:
                raise self.error(f"{origin}: \"schema\" without \"kind\": \"{self.kind}\"")
            return 0
        if not isinstance(data, dict) or data.get("kind") != self.kind:
            raise self.error(f"{origin}: not an edge-fer {self.what} "
                             f"(no \"kind\": \"{self.kind}\")")
        schema = data.get("schema")
        if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
            raise self.error(f"{origin}: bad {self.what} schema {schema!r}")
        if schema > self.schema:
            raise self.error(f"{origin}: {self.what} schema {schema} is newer than this "
                             f"edge-fer reads ({self.schema}); upgrade edge-fer")
        return schema

    def read(self, path: str | Path) -> dict[str, Any]:
        """The file's object after `check` (kind and schema); its fields are the caller's."""
        data = load_json(path, self.what, self.error)
        self.check(data, str(path))
        result: dict[str, Any] = data
        return result

    def fields(self, data: Any, origin: str, where: str) -> Fields:
        """Typed access to a checked document; "kind" and "schema" count as read."""
        self.check(data, origin)
        f = Fields(data, where, origin, self.error)
        f.used.update({"kind", "schema"})
        return f


class Fields:
    """Typed reads from one JSON object; every problem names the file and the field path."""

    def __init__(self, data: Any, where: str, origin: str,
                 error: type[EdgeFerError]) -> None:
        self.error_class = error
        if not isinstance(data, dict):
            raise error(f"{origin}: {where}: expected an object, got {describe(data)}")
        self.data, self.where, self.origin = data, where, origin
        self.used: set[str] = set()

    def error(self, key: str, problem: str) -> EdgeFerError:
        return self.error_class(f"{self.origin}: {self.where}.{key}: {problem}")

    def _get(self, key: str, optional: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if optional:
                return None
            raise self.error(key, "missing")
        return self.data[key]

    def text(self, key: str, optional: bool = False) -> Any:
        v = self._get(key, optional)
        if v is None and optional:
            return None
        if not isinstance(v, str):
            raise self.error(key, f"expected text, got {describe(v)}")
        return v

    def whole(self, key: str, optional: bool = False, minimum: int | None = None) -> Any:
        v = self._get(key, optional)
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(key, f"expected a whole number, got {describe(v)}")
        if minimum is not None and v < minimum:
            raise self.error(key, f"must be at least {minimum}, got {v}")
        return v

    def number(self, key: str, optional: bool = False, positive: bool = False,
               minimum: float | None = None) -> Any:
        v = self._get(key, optional)
        if v is None and optional:
            return None
        if not is_number(v):
            raise self.error(key, f"expected a number, got {describe(v)}")
        if positive and v <= 0:
            raise self.error(key, f"must be positive, got {v}")
        if minimum is not None and v < minimum:
            raise self.error(key, f"must be at least {minimum:g}, got {v}")
        return float(v)

    def obj(self, key: str) -> Fields:
        return Fields(self._get(key, False), f"{self.where}.{key}", self.origin, self.error_class)

    def optional_obj(self, key: str) -> Fields | None:
        v = self._get(key, True)
        return (None if v is None
                else Fields(v, f"{self.where}.{key}", self.origin, self.error_class))

    def array(self, key: str) -> list[Any]:
        v = self._get(key, False)
        if not isinstance(v, list):
            raise self.error(key, f"expected a list, got {describe(v)}")
        return v

    def objects(self, key: str) -> list[Fields]:
        return [Fields(v, f"{self.where}.{key}[{i}]", self.origin, self.error_class)
                for i, v in enumerate(self.array(key))]

    def numbers(self, key: str) -> list[float]:
        values = self.array(key)
        for v in values:
            if not is_number(v):
                raise self.error(key, f"expected a list of numbers, found {describe(v)}")
        return [float(v) for v in values]

    def texts(self, key: str, optional: bool = False) -> list[str] | None:
        if optional and self._get(key, True) is None:
            return None
        values = self.array(key)
        if not all(isinstance(v, str) for v in values):
            raise self.error(key, "expected a list of text")
        return list(values)

    def done(self) -> None:
        """Unknown keys are refused: a typo in a hand-edited file must not pass silently."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown field")


def is_number(v: Any) -> bool:
    """A finite JSON number (not a bool, not NaN or Infinity, which Python's json accepts)."""
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def describe(v: Any) -> str:
    """A value as an error message shows it: short JSON, or its type."""
    if v is None:
        return "null"
    text = json.dumps(v) if isinstance(v, (str, int, float, bool)) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."
