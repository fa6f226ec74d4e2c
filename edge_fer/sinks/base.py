"""The RecordSink interface: where the emotion log goes (a JSON-lines file, stdout, ...)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any

Record = dict[str, Any]


def encode(records: list[Record]) -> bytes:
    """Records as JSON lines (compact, keys in the order given), ready to write in one go."""
    return "".join(json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n"
                   for r in records).encode()


class RecordSink(ABC):
    """Takes one frame's records at a time, so a frame is written whole or not at all."""

    name: str = ""

    @abstractmethod
    def write(self, records: list[Record]) -> None:
        """Append records; raises RuntimeFailure when they cannot be stored (disk full)."""

    def reopen(self) -> None:  # noqa: B027 - optional hook: only files have something to reopen
        """Reopen the output by its name (SIGHUP, after logrotate moved it)."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release; safe to call twice."""

    def __enter__(self) -> RecordSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
