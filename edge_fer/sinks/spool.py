"""The MQTT spool: an on-disk FIFO of messages not yet acknowledged by the broker.

Every message is appended here before it is published and leaves only when the broker has
acknowledged it (PUBACK), so neither a broker outage nor a restart of edge-fer loses one. The
spool is a directory of numbered segment files (one JSON payload a line) and an `acked` file
holding the position up to which the broker has confirmed; past `max_bytes` the oldest segment
is deleted and its unsent lines counted as dropped. A lock file keeps two processes out of one
spool (two cameras need two spools).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from edge_fer.errors import UserInputError

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
SEGMENTS = 8  # the limit is enforced a segment at a time: at most 1/8 is dropped at once


@dataclass(frozen=True, order=True)
class Position:
    """Where a line ends: segment number and byte offset just past its newline."""

    segment: int
    offset: int


class Spool:
    """Append on the camera thread, read and acknowledge on the sender thread."""

    def __init__(self, directory: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise UserInputError(f"{self.directory}: cannot use as the MQTT spool "
                                 f"({e.strerror or e})") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise UserInputError(f"{self.directory}: the MQTT spool is in use by another edge-fer "
                                 "(give each camera its own --device-id or --mqtt-spool)") from None
        self.max_bytes = max_bytes
        self.segment_bytes = max(max_bytes // SEGMENTS, 1)
        self.dropped = 0
        self._mutex = threading.Lock()
        self._closed = False
        segments = self._segments()
        self._acked = self._read_acked(segments)
        self._read = self._acked
        self._head = segments[-1] if segments else self._acked.segment
        self._sizes = {n: self._path(n).stat().st_size for n in segments}
        self._sizes.setdefault(self._head, 0)
        self._fd = os.open(self._path(self._head), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.depth = self._count_from(self._acked)
        if self.depth:
            log.info("%s: %d messages left from an earlier run will be sent first",
                     self.directory, self.depth)

    # -- files -------------------------------------------------------------------------------

    def _path(self, n: int) -> Path:
        return self.directory / f"{n:012d}.jsonl"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.jsonl") if p.stem.isdigit())

    def _read_acked(self, segments: list[int]) -> Position:
        try:
            seg, off = (int(v) for v in (self.directory / "acked").read_text().split())
            pos = Position(seg, off)
        except (OSError, ValueError):
            pos = Position(segments[0] if segments else 1, 0)
        if segments and pos.segment < segments[0]:
            pos = Position(segments[0], 0)  # its segment was dropped: start at the oldest left
        return pos

    def _count_from(self, pos: Position) -> int:
        count = 0
        for n in sorted(self._sizes):
            if n < pos.segment:
                continue
            with open(self._path(n), "rb") as f:
                if n == pos.segment:
                    f.seek(pos.offset)
                count += sum(1 for _ in f)
        return count

    # -- camera thread -----------------------------------------------------------------------

    def append(self, payloads: list[bytes]) -> None:
        """Store payloads (no newline inside); raises OSError when the disk refuses."""
        if not payloads:
            return
        data = b"".join(p + b"\n" for p in payloads)
        with self._mutex:
            if self._closed:
                raise OSError("the spool is closed")
            if self._sizes[self._head] and self._sizes[self._head] + len(data) > self.segment_bytes:
                self._roll()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            self._sizes[self._head] += len(data)
            self.depth += len(payloads)
            while sum(self._sizes.values()) > self.max_bytes and len(self._sizes) > 1:
                self._drop_oldest()

    def _roll(self) -> None:
        os.close(self._fd)
        self._head += 1
        self._sizes[self._head] = 0
        self._fd = os.open(self._path(self._head), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _drop_oldest(self) -> None:
        oldest = min(self._sizes)
        lost = self._count_from(max(self._acked, Position(oldest, 0))) - \
            self._count_from(Position(oldest + 1, 0))
        self._path(oldest).unlink(missing_ok=True)
        del self._sizes[oldest]
        self.dropped += lost
        self.depth -= lost
        if self._read.segment <= oldest:
            self._read = Position(oldest + 1, 0)
        if self._acked.segment <= oldest:
            self._acked = Position(oldest + 1, 0)
        log.warning("%s: the MQTT spool is full (%d bytes): dropped its %d oldest messages",
                    self.directory, self.max_bytes, lost)

    # -- sender thread -----------------------------------------------------------------------

    def read(self, limit: int) -> list[tuple[Position, bytes]]:
        """Up to `limit` lines after the last one read, each with the position it ends at."""
        out: list[tuple[Position, bytes]] = []
        with self._mutex:
            while len(out) < limit and self._read.segment in self._sizes:
                seg, off = self._read.segment, self._read.offset
                if off >= self._sizes[seg]:
                    if seg == self._head:
                        break
                    self._read = Position(seg + 1, 0)
                    continue
                with open(self._path(seg), "rb") as f:
                    f.seek(off)
                    for line in f:
                        if len(out) >= limit or not line.endswith(b"\n"):
                            break
                        off += len(line)
                        out.append((Position(seg, off), line[:-1]))
                self._read = Position(seg, off)
                if off < self._sizes[seg]:
                    break  # `limit` reached inside this segment
        return out

    def rewind(self) -> None:
        """Read again from the last acknowledged line (after the connection's state is lost)."""
        with self._mutex:
            self._read = self._acked

    def ack(self, pos: Position, count: int) -> None:
        """The broker confirmed every line up to `pos` (`count` more lines than before)."""
        with self._mutex:
            if pos <= self._acked:
                return
            self._acked = pos
            self.depth = max(self.depth - count, 0)
            for n in [n for n in self._sizes if n < pos.segment]:
                self._path(n).unlink(missing_ok=True)
                del self._sizes[n]
            tmp = self.directory / "acked.tmp"
            tmp.write_text(f"{pos.segment} {pos.offset}\n")
            tmp.replace(self.directory / "acked")

    def close(self) -> None:
        """Release the files; the unsent lines stay for the next run. Safe to call twice."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            os.close(self._fd)
            os.close(self._lock_fd)
