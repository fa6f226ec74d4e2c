"""Frame sources: OpenCV on real video files, --source parsing, the readers, picamera2's adapter."""

from __future__ import annotations

import itertools
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from videos import background, write_clip

from edge_fer.errors import UserInputError
from edge_fer.sources import open_source, source_key
from edge_fer.sources.base import SourceError
from edge_fer.sources.opencv import OpenCVSource
from edge_fer.sources.picamera2 import Picamera2Source
from edge_fer.sources.reader import LatestFrameReader, SequentialReader, reader_for


def _numbered_clip(path: Path, n: int) -> Path:
    """Frames whose brightness encodes their number (survives MJPG), 640x480."""
    bg = background()
    frames = []
    for i in range(n):
        f = bg.copy()
        f[:40, :40] = 10 + 20 * i
        frames.append(f)
    return write_clip(path, frames)


def _number(frame: np.ndarray) -> int:
    return round((float(frame[5:35, 5:35].mean()) - 10) / 20)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _numbered_clip(tmp_path_factory.mktemp("clip") / "numbers.avi", 8)


def test_file_source_reads_every_frame_in_order_then_ends(clip: Path) -> None:
    with open_source(str(clip)) as source:
        assert isinstance(source, OpenCVSource) and not source.live
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
    assert [_number(f) for f in frames] == list(range(8))
    assert frames[0].shape == (480, 640, 3) and frames[0].dtype == np.uint8


def test_close_is_safe_twice_and_before_open(clip: Path) -> None:
    source = open_source(str(clip))
    source.close()
    source.open()
    source.close()
    source.close()
    with pytest.raises(SourceError, match="not open"):
        source.read()


@pytest.mark.parametrize("spec, kind, target", [
    ("0", "device", 0),
    ("2", "device", 2),
    ("/dev/video0", "device", "/dev/video0"),
    ("rtsp://cam.local:554/stream1", "stream", "rtsp://cam.local:554/stream1"),
    ("http://10.0.0.5/video.mjpg", "stream", "http://10.0.0.5/video.mjpg"),
])
def test_source_strings_pick_the_right_kind(spec: str, kind: str, target: object) -> None:
    source = open_source(spec)
    assert isinstance(source, OpenCVSource)
    assert (source.kind, source.target, source.live) == (kind, target, True)


def test_picamera2_strings_pick_the_picamera2_backend() -> None:
    assert source_key("picamera2") == source_key("picamera2:1") == "picamera2"
    source = open_source("picamera2:1")
    assert isinstance(source, Picamera2Source) and source.camera_num == 1


@pytest.mark.parametrize("spec, message", [
    ("", "empty"),
    ("ftp://host/video.mp4", "unsupported stream scheme 'ftp'"),
    ("picamera2:left", "picamera2:N"),
])
def test_malformed_source_strings_are_user_errors(spec: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        open_source(spec)


def test_missing_and_undecodable_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no such video file"):
        open_source(str(tmp_path / "nope.avi"))
    with pytest.raises(UserInputError, match="not a video file"):
        open_source(str(tmp_path))
    junk = tmp_path / "junk.avi"
    junk.write_text("not a video")
    source = open_source(str(junk))
    with pytest.raises(UserInputError, match="junk.avi: cannot decode"):
        source.open()


def test_absent_camera_is_a_transient_source_error() -> None:
    # Retried by the runner (a USB camera may be plugged in later), not a user error.
    for spec in ("/dev/video99", "63"):
        source = open_source(spec)
        with pytest.raises(SourceError):
            source.open()
        source.close()


def test_sequential_reader_numbers_frames_and_drops_none(clip: Path) -> None:
    source = open_source(str(clip))
    source.open()
    counter = itertools.count(100)
    reader = reader_for(source, counter)
    assert isinstance(reader, SequentialReader)
    frames = []
    while (frame := reader.next(0.1)) is not None:
        frames.append(frame)
    reader.close()
    assert reader.ended and reader.dropped == 0
    assert [f.index for f in frames] == list(range(100, 108))
    assert [_number(f.image) for f in frames] == list(range(8))
    assert all(f.decode_ms > 0 for f in frames)


class _FileFailingAfter(OpenCVSource):
    """A real file whose reads fail after a few frames (a disk or share gone mid-file; read
    like a camera with `live`: a camera unplugged)."""

    def __init__(self, path: Path, fail_after: int, live: bool = False) -> None:
        super().__init__(str(path), "file")
        self.live = live
        self.reads = 0
        self.fail_after = fail_after

    def read(self) -> np.ndarray | None:
        self.reads += 1
        if self.reads > self.fail_after:
            raise SourceError("input/output error" if not self.live else "camera unplugged")
        return super().read()


def test_sequential_reader_hands_out_the_good_frames_then_the_failure(clip: Path) -> None:
    source = _FileFailingAfter(clip, fail_after=3)
    source.open()
    reader = reader_for(source, itertools.count())
    assert isinstance(reader, SequentialReader)
    got = [reader.next(5.0) for _ in range(3)]
    assert [_number(f.image) for f in got if f is not None] == [0, 1, 2]
    for _ in range(2):  # and again on the next call: the failure is not forgotten
        with pytest.raises(SourceError, match="input/output error"):
            reader.next(5.0)
    assert not reader.ended
    reader.close()


def test_sequential_reader_closed_mid_file_stops_reading(clip: Path) -> None:
    source = open_source(str(clip))
    source.open()
    reader = reader_for(source, itertools.count())
    assert reader.next(5.0) is not None
    reader.close()  # with its read-ahead queue full: must not hang
    reader.close()
    with pytest.raises(SourceError):
        source.read()  # the source was closed


class _LiveFile(OpenCVSource):
    """A real file read like a camera: the capture thread reads it as fast as it decodes."""

    live = True

    def __init__(self, path: Path) -> None:
        super().__init__(str(path), "file")
        self.live = True

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise SourceError("not open")
        ok, frame = self._cap.read()
        return frame if ok else None


def test_latest_frame_reader_keeps_the_newest_and_counts_the_dropped(clip: Path) -> None:
    source = _LiveFile(clip)
    source.open()
    reader = reader_for(source, itertools.count())
    assert isinstance(reader, LatestFrameReader)
    first = reader.next(5.0)
    assert first is not None
    # The consumer is busy while the camera goes on: the capture thread reads to the end.
    assert reader.wait_finished(10.0)
    newest = reader.next(0.1)
    assert newest is not None and newest.index == 7 and _number(newest.image) == 7
    assert reader.dropped == 8 - 2  # every frame but the two handed out
    assert reader.next(0.1) is None and reader.ended
    reader.close()
    reader.close()


def test_a_failure_in_the_capture_thread_reaches_the_consumer(clip: Path) -> None:
    source = _FileFailingAfter(clip, fail_after=2, live=True)
    source.open()
    reader = reader_for(source, itertools.count())
    assert isinstance(reader, LatestFrameReader) and reader.wait_finished(10.0)
    assert reader.next(0.1) is not None  # the newest good frame is still handed out
    with pytest.raises(SourceError, match="unplugged"):
        reader.next(0.1)
    reader.close()


# -- picamera2: the hardware is absent here, so a stand-in module with Picamera2's API --------

class _StandInPicamera2:
    """The part of picamera2.Picamera2 the adapter uses, recording the calls it gets."""

    instances: list[_StandInPicamera2] = []
    cameras = 1

    def __init__(self, camera_num: int = 0) -> None:
        if camera_num >= self.cameras:
            raise IndexError("list index out of range")  # what picamera2 raises: no camera
        self.camera_num = camera_num
        self.calls: list[str] = []
        self.config: dict[str, Any] = {}
        self.frame = 0
        _StandInPicamera2.instances.append(self)

    def create_video_configuration(self, main: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("create_video_configuration")
        return {"main": dict(main)}

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append("configure")
        self.config = config

    def start(self) -> None:
        self.calls.append("start")

    def capture_array(self, name: str = "main") -> np.ndarray:
        w, h = self.config["main"]["size"]
        self.frame += 1
        channels = 4 if self.config["main"]["format"].startswith("X") else 3
        return np.full((h, w, channels), self.frame, np.uint8)

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


@pytest.fixture
def stand_in_picamera2(monkeypatch: pytest.MonkeyPatch) -> type[_StandInPicamera2]:
    module = types.ModuleType("picamera2")
    module.Picamera2 = _StandInPicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    _StandInPicamera2.instances = []
    return _StandInPicamera2


def test_picamera2_adapter_configures_reads_and_closes(
        stand_in_picamera2: type[_StandInPicamera2]) -> None:
    source = open_source("picamera2", (320, 240))
    with source:
        frames = [source.read(), source.read()]
    cam = stand_in_picamera2.instances[-1]
    assert cam.config == {"main": {"size": (320, 240), "format": "RGB888"}}
    assert cam.calls == ["create_video_configuration", "configure", "start", "stop", "close"]
    assert all(f is not None and f.shape == (240, 320, 3) for f in frames)
    assert [int(f[0, 0, 0]) for f in frames if f is not None] == [1, 2]
    source.close()  # twice: no second stop/close on the camera
    assert cam.calls.count("close") == 1


def test_picamera2_adapter_runs_under_the_live_reader(
        stand_in_picamera2: type[_StandInPicamera2]) -> None:
    source = open_source("picamera2")
    source.open()
    reader = reader_for(source, itertools.count())
    assert isinstance(reader, LatestFrameReader)
    frame = reader.next(5.0)
    reader.close()
    assert frame is not None and frame.image.shape == (480, 640, 3)
    assert stand_in_picamera2.instances[-1].calls[-2:] == ["stop", "close"]


def test_picamera2_missing_camera_is_transient(
        stand_in_picamera2: type[_StandInPicamera2]) -> None:
    source = open_source("picamera2:3")
    with pytest.raises(SourceError, match="picamera2:3: camera not available"):
        source.open()


def test_without_picamera2_the_error_says_where_it_comes_from(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import picamera2 -> ImportError
    source = open_source("picamera2")
    with pytest.raises(UserInputError, match="Raspberry Pi OS"):
        source.open()
