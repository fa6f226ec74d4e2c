"""JSON-lines emotion log: a file rotated by size, or stdout (`-`) for journald."""

from __future__ import annotations

import errno
import logging
import os
import select
import stat
import sys
from pathlib import Path
from typing import TextIO

from edge_fer.errors import RuntimeFailure, UserInputError
from edge_fer.sinks.base import Record, RecordSink, encode

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5
# A FIFO whose reader takes nothing this long ends the run (exit 3) rather than blocking it.
FIFO_STALL_S = 1.5


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
            # O_NONBLOCK: a FIFO nobody reads would block open() (and every signal) for ever.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK,
                         0o640)
        except PermissionError:
            raise UserInputError(f"{self.path}: no permission to write the log") from None
        except OSError as e:
            if e.errno == errno.ENXIO:
                raise RuntimeFailure(f"{self.path}: a FIFO that no process reads; start its "
                                     "reader first") from None
            raise _write_failure(self.name, e) from None
        self._fd = fd
        info = os.fstat(fd)
        self._regular = stat.S_ISREG(info.st_mode)  # /dev/full, a FIFO: nothing to rotate
        self._identity = (info.st_dev, info.st_ino)
        if self._regular:
            os.set_blocking(fd, True)
            self._repair_tail(fd, info.st_size)
        return fd

    def _repair_tail(self, fd: int, size: int) -> None:
        """Cut a torn last line (a power cut mid-write) back to the last whole record, so the
        next record does not glue onto it and the log parses line by line."""
        if size == 0:
            return
        try:
            reader = os.open(self.path, os.O_RDONLY)
        except OSError:
            return  # write-only log (no read permission): nothing to check
        try:
            end = size
            while end > 0:
                start = max(0, end - 65536)
                block = os.pread(reader, end - start, start)
                if end == size and block.endswith(b"\n"):
                    return
                cut = block.rfind(b"\n")
                if cut >= 0:
                    end = start + cut + 1
                    break
                end = start
        finally:
            os.close(reader)
        log.warning("%s: dropped a torn last line of %d bytes (an interrupted write)",
                    self.name, size - end)
        os.ftruncate(fd, end)

    def _moved(self) -> bool:
        """True when the path no longer names the open file (deleted, or moved by logrotate)."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (info.st_dev, info.st_ino) != self._identity

    def reopen(self) -> None:
        """Close the file and open the path again (SIGHUP, or the file was deleted)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        self._open()
        log.info("reopened %s", self.path)

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
            if self._regular and self._moved():
                log.warning("%s was deleted or moved away; writing to a new file", self.name)
                self.reopen()
                fd = self._fd
                assert fd is not None
            size = self._size(fd)
            if self._regular and size > 0 and size + len(data) > self.max_bytes:
                fd = self._rotate(fd)
                size = 0
            view = memoryview(data)
            while view:
                n = self._write_some(fd, view)
                view = view[n:]
        except OSError as e:
            self._cut_back(size if self._regular else None)
            raise _write_failure(self.name, e) from None

    def _write_some(self, fd: int, data: memoryview) -> int:
        """os.write, but a FIFO (non-blocking) whose reader stalls fails after
        FIFO_STALL_S instead of blocking the loop, and with it every stop."""
        try:
            return os.write(fd, data)
        except BlockingIOError:
            _, ready, _ = select.select([], [fd], [], FIFO_STALL_S)
            if not ready:
                raise OSError(errno.EAGAIN,
                              f"its reader took nothing for {FIFO_STALL_S} s") from None
            return os.write(fd, data)

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
