"""JSON-lines emotion log: a file rotated by size, or stdout (`-`) for journald."""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys
from pathlib import Path
from typing import TextIO

from edge_fer.errors import RuntimeFailure, UserInputError
from edge_fer.sinks.base import Record, RecordSink, encode

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5


def _write_failure(name: str, e: OSError) -> RuntimeFailure:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk is full"
    else:
        why = e.strerror or str(e)
    return RuntimeFailure(f"{name}: cannot write the emotion log: {why}; stopped so that no "
                          "records are lost silently")


class JsonLinesFile(RecordSink):
    """Appends to `path`; past `max_bytes` it becomes path.1 (path.1 -> path.2, ...), keeping
    `backups` old files, so a box that runs for months never fills its disk with the log.

    Each frame's records go out in one write and are on disk (in the page cache) when write()
    returns; a write the disk could not take is cut back, leaving only whole lines.
    """

    def __init__(self, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.max_bytes = max_bytes
        self.backups = backups
        if not self.path.parent.is_dir():
            raise UserInputError(f"{self.path}: the log's directory does not exist")
        if self.path.is_dir():
            raise UserInputError(f"{self.path}: is a directory, not a log file")
        self._fd: int | None = None
        self._open()

    def _open(self) -> int:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except PermissionError:
            raise UserInputError(f"{self.path}: no permission to write the log") from None
        except OSError as e:
            raise _write_failure(self.name, e) from None
        self._fd = fd
        mode = os.fstat(fd).st_mode
        self._regular = stat.S_ISREG(mode)  # /dev/full, a FIFO: nothing to rotate or truncate
        return fd

    def _size(self, fd: int) -> int:
        return os.fstat(fd).st_size if self._regular else 0

    def _rotate(self, fd: int) -> int:
        os.close(fd)
        self._fd = None
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        log.info("rotated %s", self.path)
        return self._open()

    def write(self, records: list[Record]) -> None:
        if not records:
            return
        fd = self._fd
        if fd is None:
            raise RuntimeFailure(f"{self.name}: the log is closed")
        data = encode(records)
        size: int | None = None
        try:
            size = self._size(fd)
            if self._regular and size > 0 and size + len(data) > self.max_bytes:
                fd = self._rotate(fd)
                size = 0
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError as e:
            self._cut_back(size if self._regular else None)
            raise _write_failure(self.name, e) from None

    def _cut_back(self, size: int | None) -> None:
        """Drop a half-written line, so the log stays parseable up to the last whole frame."""
        if size is None or self._fd is None:
            return
        try:
            os.ftruncate(self._fd, size)
        except OSError as e:
            log.warning("%s: cannot cut back a partial write: %s", self.name, e)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._regular:
                os.fsync(fd)  # the last records survive a power cut right after shutdown
        except OSError as e:
            log.warning("%s: fsync failed: %s", self.name, e)
        finally:
            os.close(fd)


class JsonLinesStdout(RecordSink):
    """One line per record on stdout, flushed per frame, for journald or a pipe."""

    name = "stdout"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._closed = False

    def write(self, records: list[Record]) -> None:
        if not records:
            return
        if self._closed:
            raise RuntimeFailure("stdout: the log is closed")
        try:
            self._stream.write(encode(records).decode())
            self._stream.flush()
        except OSError as e:  # BrokenPipeError included: the reader went away
            raise _write_failure(self.name, e) from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stdout already gone at shutdown: nothing left to save
