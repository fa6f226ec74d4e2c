"""The registry helper every role uses: a short key -> "module:Class", its install extra, suffixes.

One table per role (edge_fer/backends.py) feeds the loader, the CLI's choices and help, file
suffix lookup and error messages, so adding a backend is one entry. Importing this module (or
a table) imports no backend: `edge-fer --help` lists the keys without loading numpy or cv2.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_fer.errors import MissingDependencyError, UserInputError


@dataclass(frozen=True)
class Backend:
    """One entry: `target` is "module:Name", imported only when the key is chosen."""

    key: str
    target: str
    summary: str = ""  # a few words for --help, e.g. "OpenCV, light"
    extra: str | None = None  # the pip extra that installs what it needs: edge-fer[extra]
    suffixes: tuple[str, ...] = ()  # file suffixes this backend opens by default
    packages: tuple[str, ...] = ()  # distributions that provide it, preferred first

    @property
    def name(self) -> str:
        """The attribute `target` names in its module."""
        return self.target.split(":", 1)[1]

    def load(self, role: str) -> Any:
        """The class (or function) `target` names; an ImportError says which extra to install."""
        module_name = self.target.split(":", 1)[0]
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            if self.extra is None:
                raise
            raise MissingDependencyError(e.name or module_name, self.extra,
                                         f"the {self.key} {role}") from e
        return getattr(module, self.name)

    def describe(self) -> str:
        """'mtcnn (needs edge-fer[mtcnn])' or 'haar (OpenCV, light)' for help text."""
        notes = [n for n in (self.summary, f"needs edge-fer[{self.extra}]" if self.extra else "")
                 if n]
        return f"{self.key} ({'; '.join(notes)})" if notes else self.key


class Registry:
    """The backends of one role (runtime, detector, ...) by key, in the order they are listed."""

    def __init__(self, role: str, *backends: Backend) -> None:
        self.role = role
        self._backends = {b.key: b for b in backends}
        if len(self._backends) != len(backends):
            raise ValueError(f"duplicate {role} key in {[b.key for b in backends]}")

    def __contains__(self, key: object) -> bool:
        return key in self._backends

    def __iter__(self) -> Iterator[str]:
        return iter(self._backends)

    def __len__(self) -> int:
        return len(self._backends)

    def __getitem__(self, key: str) -> Backend:
        return self._backends[key]

    def keys(self) -> tuple[str, ...]:
        return tuple(self._backends)

    def get(self, key: str) -> Backend:
        """The entry for `key`, or a one-line UserInputError with the choices (and a guess)."""
        if key in self._backends:
            return self._backends[key]
        close = difflib.get_close_matches(str(key), list(self._backends), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserInputError(f"unknown {self.role} '{key}'{hint} (choose from "
                             f"{', '.join(self._backends)})")

    def load(self, key: str) -> Any:
        """The class registered under `key`, imported now."""
        return self.get(key).load(self.role)

    def for_path(self, path: str | Path) -> str:
        """The key whose suffixes include `path`'s (ModelError-free: callers word the error)."""
        suffix = Path(path).suffix.lower()
        for backend in self._backends.values():
            if suffix in backend.suffixes:
                return backend.key
        raise KeyError(suffix)

    def suffixes(self) -> tuple[str, ...]:
        return tuple(s for b in self._backends.values() for s in b.suffixes)

    def help(self) -> str:
        """'haar (OpenCV, light), mtcnn (needs edge-fer[mtcnn])': the choices for --help."""
        return ", ".join(b.describe() for b in self._backends.values())
