"""The emotion log: JSON lines, size rotation, stdout, and a full disk; snapshots on request."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_fer.errors import RuntimeFailure, UserInputError
from edge_fer.sinks import JsonLinesFile, JsonLinesStdout, open_log
from edge_fer.sinks.snapshots import Annotation, SnapshotWriter


def _records(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"type": "face", "frame": start + i, "label": "happy", "probs": {"happy": 0.9}}
            for i in range(n)]


def _read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_file_log_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "emotions.jsonl"
    with open_log(str(path)) as sink:
        sink.write(_records(2))
        sink.write([])
        sink.write(_records(1, start=2))
    assert [r["frame"] for r in _read(path)] == [0, 1, 2]
    with open_log(str(path)) as sink:  # a restart appends, it does not truncate
        sink.write(_records(1, start=3))
    assert [r["frame"] for r in _read(path)] == [0, 1, 2, 3]


def test_file_log_rotates_by_size_and_keeps_n_backups(tmp_path: Path) -> None:
    path = tmp_path / "emotions.jsonl"
    line = len(json.dumps(_records(1)[0], separators=(",", ":"))) + 1
    sink = JsonLinesFile(path, max_bytes=3 * line, backups=2)
    for i in range(10):
        sink.write(_records(1, start=i))
    sink.close()
    sink.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["emotions.jsonl", "emotions.jsonl.1", "emotions.jsonl.2"]
    assert [r["frame"] for r in _read(path)] == [9]
    assert [r["frame"] for r in _read(tmp_path / "emotions.jsonl.1")] == [6, 7, 8]
    assert [r["frame"] for r in _read(tmp_path / "emotions.jsonl.2")] == [3, 4, 5]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 3 * line


def test_a_frame_is_never_split_across_files(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    sink = JsonLinesFile(path, max_bytes=10, backups=1)  # smaller than one frame
    sink.write(_records(3))
    sink.write(_records(3, start=3))
    sink.close()
    assert [r["frame"] for r in _read(path)] == [3, 4, 5]
    assert [r["frame"] for r in _read(tmp_path / "e.jsonl.1")] == [0, 1, 2]


def test_stdout_log_writes_and_flushes_each_frame() -> None:
    stream = io.StringIO()
    sink = JsonLinesStdout(stream)
    sink.write(_records(2))
    assert [json.loads(x)["frame"] for x in stream.getvalue().splitlines()] == [0, 1]
    sink.close()
    sink.close()
    with pytest.raises(RuntimeFailure, match="closed"):
        sink.write(_records(1))


def test_a_full_disk_is_a_clear_runtime_failure(tmp_path: Path) -> None:
    # /dev/full answers every write with ENOSPC, as a full disk does.
    sink = open_log("/dev/full")
    with pytest.raises(RuntimeFailure, match="/dev/full: cannot write the emotion log: the disk "
                                             "is full"):
        sink.write(_records(1))
    sink.close()


def test_bad_log_paths_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="directory does not exist"):
        open_log(str(tmp_path / "missing" / "e.jsonl"))
    with pytest.raises(UserInputError, match="is a directory"):
        open_log(str(tmp_path))


def test_snapshots_are_annotated_spaced_and_pruned(tmp_path: Path) -> None:
    frame = np.full((120, 160, 3), 128, np.uint8)
    faces = [Annotation((20, 20, 60, 60), "happy", 0.9, 1)]
    writer = SnapshotWriter(tmp_path / "snaps", interval_s=10, keep=2)
    assert writer.offer(frame, 0, [], now=0.0) is None  # no face: nothing stored
    first = writer.offer(frame, 1, faces, now=0.0)
    assert first is not None and first.exists()
    assert writer.offer(frame, 2, faces, now=5.0) is None  # within the interval
    for i, t in enumerate((10.0, 20.0, 30.0)):
        assert writer.offer(frame, 3 + i, faces, now=t) is not None
    kept = sorted((tmp_path / "snaps").iterdir())
    assert len(kept) == 2 and all(p.suffix == ".jpg" for p in kept)
    image = cv2.imread(str(kept[-1]))
    assert image is not None and image.shape == frame.shape
    assert not np.array_equal(image, frame)  # the box and label are drawn
    assert np.array_equal(frame, np.full((120, 160, 3), 128, np.uint8))  # on a copy


def test_a_write_cut_short_leaves_only_whole_frames(tmp_path: Path) -> None:
    # A file-size limit (RLIMIT_FSIZE) stops a write half-way, as a disk filling up does;
    # run in a child process so the limit does not touch the test runner.
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "e.jsonl"
    code = textwrap.dedent(f"""
        import resource, signal
        from edge_fer.errors import RuntimeFailure
        from edge_fer.sinks import JsonLinesFile
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        sink = JsonLinesFile({str(path)!r}, max_bytes=10**6)
        frames = 0
        try:
            while True:
                sink.write([{{"frame": frames, "pad": "x" * 50}} for _ in range(3)])
                frames += 1
        except RuntimeFailure as e:
            print(frames, e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    frames = int(out.split()[0])
    assert "cannot write the emotion log" in out
    records = _read(path)  # every line parses: the partial frame was cut back
    assert len(records) == 3 * frames and frames > 0
    assert path.stat().st_size <= 1000
