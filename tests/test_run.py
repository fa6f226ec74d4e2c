"""`edge-fer run` end to end on real video clips of real FER faces, with the tiny real model:
the log, labels against the classifier itself, bad inputs, a camera that fails and recovers,
a full disk, snapshots only when asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Container
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result
from videos import Placement, background, compose, face_clip, fer_faces, write_clip

from edge_fer.cli import cli
from edge_fer.crop import CropConfig, prepare_faces
from edge_fer.detectors import load_detector
from edge_fer.detectors.base import Detection, FaceDetector
from edge_fer.detectors.haar import HaarDetector
from edge_fer.errors import RuntimeFailure
from edge_fer.pipeline import FramePipeline
from edge_fer.runner import RunConfig, Runner
from edge_fer.runtimes import Classifier, load_classifier
from edge_fer.schedule import FaceSchedule, ScheduleConfig
from edge_fer.sinks import open_log
from edge_fer.sources import open_source
from edge_fer.sources.base import FrameSource, SourceError
from edge_fer.tracking import Tracker, iou
from edge_fer.tta import classify_framings

MARGIN = 0.05  # the CLI default, used again to rebuild crops from the logged boxes
RUN_CROP = CropConfig(margin=MARGIN, shift=HaarDetector.crop_shift)  # `run`'s, with haar


@pytest.fixture(scope="module")
def clip(fer_root: Path, tmp_path_factory: pytest.TempPathFactory,
         ) -> tuple[Path, list[list[Placement]]]:
    """7 faces (one per class) x 3 frames, then 2 frames with two faces, then 2 empty."""
    out = tmp_path_factory.mktemp("clip") / "faces.avi"
    faces = fer_faces(fer_root, per_class=1)
    _, truth = face_clip(out, faces, frames_per_face=3, blank_frames=0)
    frames = _decode(out)
    bg = background()
    for k in range(2):
        frame, placed = compose([(faces[3], 170, (60 + 4 * k, 120)),
                                 (faces[6], 170, (380 - 4 * k, 150))], bg)
        frames.append(frame)
        truth.append(placed)
    frames += [bg.copy(), bg.copy()]
    truth += [[], []]
    write_clip(out, frames)
    return out, truth


@pytest.fixture(scope="module")
def short_clip(fer_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 faces x 2 frames: for tests about the run, not about detection."""
    out = tmp_path_factory.mktemp("short") / "short.avi"
    return face_clip(out, fer_faces(fer_root, per_class=1)[:3], frames_per_face=2,
                     blank_frames=0)[0]


@pytest.fixture(scope="module")
def classifier(tiny_model: Path) -> Classifier:
    return load_classifier(tiny_model)


def _decode(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(*args: str) -> Result:
    # These tests rebuild crops from the logged boxes as Haar's box crops (RUN_CROP).
    detector = () if "--detector" in args else ("--detector", "haar")
    return CliRunner().invoke(cli, ["run", *detector, *args])


def test_run_logs_each_face_with_the_classifiers_own_label(
        clip: tuple[Path, list[list[Placement]]], tiny_model: Path, classifier: Classifier,
        tmp_path: Path) -> None:
    path, truth = clip
    log = tmp_path / "out.jsonl"
    result = _run("--source", str(path), "--model", str(tiny_model), "--log", str(log),
                  "--no-smoothing")
    assert result.exit_code == 0, result.output
    records = _records(log)
    faces = [r for r in records if r["type"] == "face"]
    summary = records[-1]

    # One summary at the end, counting every frame of the file, none dropped.
    assert [r["type"] for r in records].count("summary") == 1 and summary["type"] == "summary"
    assert summary["frames_total"] == len(truth) and summary["frames_dropped"] == 0
    assert summary["reconnects"] == 0 and summary["faces_total"] == len(faces)
    assert set(summary["latency_ms"]) == {"decode", "detect", "crop", "classify", "log", "total"}

    # A record on most face frames, every record on a real face, none on empty frames.
    face_frames = [i for i, t in enumerate(truth) if t]
    hit = {r["frame"] for r in faces}
    assert len(hit & set(face_frames)) >= 0.7 * len(face_frames), (sorted(hit), face_frames)
    for r in faces:
        assert max(iou(tuple(r["box"]), p.box) for p in truth[r["frame"]]) > 0.4, r
        assert r["timestamp"].endswith("Z") and r["timestamp"][:2] == "20"
        assert set(r["latency_ms"]) == {"detect", "crop", "classify", "total"}
    two = [r for r in faces if len(truth[r["frame"]]) == 2]
    assert len(two) >= 2, "both faces of the two-face frames should be found"

    # The same face keeps its track id over its 3 frames; the next face (in the other half
    # of the frame) gets a new one.
    by_face: dict[int, set[int]] = {}
    for r in faces:
        if len(truth[r["frame"]]) == 1:
            by_face.setdefault(r["frame"] // 3, set()).add(r["track_id"])
    ids = [next(iter(v)) for v in by_face.values() if len(v) == 1]
    assert len(ids) >= 0.7 * len(by_face) and len(set(ids)) == len(ids)

    # Labels and probabilities are what the classifier says on the same crops.
    frames = _decode(path)
    names = classifier.info.class_names
    for r in faces:
        batch = prepare_faces(frames[r["frame"]], [Detection(tuple(r["box"]))],
                              classifier.resolution, RUN_CROP,
                              classifier.info.preprocessing)
        probs = classifier.predict(batch)[0]
        np.testing.assert_allclose([r["probs"][n] for n in names], probs, atol=2e-3)
        top2 = np.sort(probs)[-2:]
        if top2[1] - top2[0] > 2e-3:  # a near tie may round either way in the log
            assert r["label"] == names[int(np.argmax(probs))]
            assert r["confidence"] == pytest.approx(float(probs.max()), abs=2e-3)


def test_run_applies_the_tta_override_and_logs_it(short_clip: Path, tiny_model: Path,
                                                  classifier: Classifier, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "out.jsonl"
    with caplog.at_level("INFO", logger="edge_fer"):
        result = _run("--source", str(short_clip), "--model", str(tiny_model), "--log", str(log),
                      "--no-smoothing", "--tta", "flip")
    assert result.exit_code == 0, result.output
    assert any("tta flip" in r.getMessage() for r in caplog.records), caplog.text
    faces = [r for r in _records(log) if r["type"] == "face"]
    assert faces
    frames = _decode(short_clip)
    names = classifier.info.class_names
    moved, off = 0.0, 0.0
    with load_classifier(tiny_model, tta="flip") as flip:
        for r in faces:
            batch = prepare_faces(frames[r["frame"]], [Detection(tuple(r["box"]))],
                                  flip.resolution, RUN_CROP,
                                  flip.info.preprocessing)
            logged = [r["probs"][n] for n in names]
            off = max(off, float(np.abs(np.subtract(logged, flip.predict(batch)[0])).max()))
            moved = max(moved, float(np.abs(np.subtract(logged, classifier.predict(batch)[0])).max()))
    # The log rounds to 4 decimals; the tiny model's flip moves its probabilities by ~1e-3.
    assert off <= 1e-4, "the run's probabilities are not the flip-averaged ones"
    assert moved > 3e-4, "the run's probabilities are those of the model without TTA"


@pytest.mark.parametrize("timed, used, warned", [("none", "flip", True), ("flip", "flip", False),
                                                 ("flip", "crops", False)])
def test_a_run_with_more_tta_than_its_profile_timed_is_warned(
        short_clip: Path, tiny_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        timed: str, used: str, warned: bool) -> None:
    """Any TTA doubles each call's batch: a pick timed without it may not hold with it. Crops
    is spread over frames, so a frame costs it what flip costs: no warning."""
    shipped = json.loads((Path(__file__).parents[1] / "profiles"
                          / "x86-epyc-2c-tflite-1t.json").read_text())
    shipped["settings"]["tta"] = timed
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps(shipped))
    with caplog.at_level("WARNING", logger="edge_fer"):
        result = _run("--source", str(short_clip), "--model", str(tiny_model), "--profile",
                      str(profile), "--tta", used, "--log", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0, result.output
    said = [r.getMessage() for r in caplog.records if "measured with tta" in r.getMessage()]
    assert bool(said) == warned, caplog.text
    if warned:
        assert said[0] == (f"{profile} was measured with tta none, this run uses tta flip "
                           "(2 images a face a frame): its pick may not hold; profile with this "
                           "tta")
    # The profile's pick (128 px) is not the size the tiny model was trained at: said too.
    assert any(r.getMessage().startswith(f"{profile} chose 128 px, but ")
               and "was trained at" in r.getMessage()
               and f"--profile {profile} --weights MODEL.keras" in r.getMessage()
               for r in caplog.records), caplog.text


def test_a_pick_the_models_accuracy_table_covers_is_not_warned_about(
        short_clip: Path, tiny_model: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """A model measured at the profile's pick (its card's table spans it) runs there as a
    choice, not a mistake: no 'trained at' warning, the expected accuracy logged instead."""
    import shutil

    model = tmp_path / "model.keras"
    shutil.copy(tiny_model, model)
    card = json.loads(tiny_model.with_name("model.card.json").read_text())
    card["accuracy"] = {"split": "test", "faces": 50, "rows": [
        {"resolution": r, "tta": "none", "accuracy": a, "macro_f1": a}
        for r, a in ((32, 0.3), (96, 0.35), (160, 0.32))]}
    (tmp_path / "model.card.json").write_text(json.dumps(card))
    shipped = json.loads((Path(__file__).parents[1] / "profiles"
                          / "x86-epyc-2c-tflite-1t.json").read_text())
    shipped["settings"]["tta"] = "none"
    shipped["schema"] = 2
    shipped["pick"].update(expected_accuracy=0.3438, reason="the best expected accuracy")
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps(shipped))
    with caplog.at_level("INFO", logger="edge_fer"):
        result = _run("--source", str(short_clip), "--model", str(model), "--profile",
                      str(profile), "--tta", "none", "--log", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0, result.output
    assert not any("was trained at" in r.getMessage() for r in caplog.records), caplog.text
    assert f"{profile} chose 128 px: expected accuracy 34.4%" in caplog.text


def test_a_run_takes_the_tta_its_profile_timed_unless_told_otherwise(
        short_clip: Path, tiny_model: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    shipped = json.loads((Path(__file__).parents[1] / "profiles"
                          / "x86-epyc-2c-tflite-1t.json").read_text())
    shipped["settings"]["tta"] = "flip"  # the tiny model's own card names none
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps(shipped))
    for told, used in (((), "flip"), (("--tta", "none"), "none"), (("--tta", "model"), "flip")):
        caplog.clear()
        with caplog.at_level("INFO", logger="edge_fer"):
            result = _run("--source", str(short_clip), "--model", str(tiny_model), "--profile",
                          str(profile), *told, "--duration", "0.5",
                          "--log", str(tmp_path / "out.jsonl"))
        assert result.exit_code == 0, result.output
        running = [r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("running: source")]
        assert running and running[0].endswith(f", tta {used}"), caplog.text


def test_zooms_are_spread_over_a_tracked_faces_frames_and_averaged_back(
        clip: tuple[Path, list[list[Placement]]], tiny_model: Path, tmp_path: Path) -> None:
    """Each frame runs one framing of a face (flip's cost); the log gives the mean of the
    track's last 3 (a still face's equals the mode at once: tests/test_runtimes.py)."""
    path, _ = clip
    frames = _decode(path)
    log = tmp_path / "zooms.jsonl"
    result = _run("--source", str(path), "--model", str(tiny_model), "--log", str(log),
                  "--no-smoothing", "--tta", "zooms")
    assert result.exit_code == 0, result.output
    faces = [r for r in _records(log) if r["type"] == "face"]
    seen: dict[int, list[np.ndarray]] = {}  # per track: its classifications, in order
    with load_classifier(tiny_model, tta="zooms") as zooms:
        names = zooms.info.class_names
        for r in faces:
            batch = prepare_faces(frames[r["frame"]], [Detection(tuple(r["box"]))],
                                  zooms.resolution, RUN_CROP, zooms.info.preprocessing)
            history = seen.setdefault(r["track_id"], [])
            # its n-th classification: framing n
            history.append(classify_framings("zooms", zooms.infer, batch, [len(history)])[0])
            logged = [r["probs"][n] for n in names]
            np.testing.assert_allclose(logged, np.mean(history[-3:], axis=0), atol=2e-4)
    assert max(len(h) for h in seen.values()) >= 3, faces  # some mean covers all 3 framings


def test_classify_every_reclassifies_a_tracked_face_only_every_n_frames(
        clip: tuple[Path, list[list[Placement]]], tiny_model: Path, classifier: Classifier,
        tmp_path: Path) -> None:
    path, _ = clip
    frames = _decode(path)
    names = classifier.info.class_names

    def run(every: int) -> list[dict[str, Any]]:
        log = tmp_path / f"every{every}.jsonl"
        result = _run("--source", str(path), "--model", str(tiny_model), "--log", str(log),
                      "--no-smoothing", "--classify-every", str(every))
        assert result.exit_code == 0, result.output
        return [r for r in _records(log) if r["type"] == "face"]

    def own(r: dict[str, Any]) -> np.ndarray:
        """What the classifier says on this record's own crop."""
        batch = prepare_faces(frames[r["frame"]], [Detection(tuple(r["box"]))],
                              classifier.resolution, RUN_CROP,
                              classifier.info.preprocessing)
        return classifier.predict(batch)[0]

    # Each face record carries the probabilities of the track's last classification: its own
    # crop's on the track's first frame and every 2nd frame after, the previous one's between.
    faces = run(2)
    last: dict[int, tuple[int, np.ndarray]] = {}
    reused = 0
    for r in faces:
        probs = np.array([r["probs"][n] for n in names])
        first, before = last.get(r["track_id"], (None, None))
        if first is None or (r["frame"] - first) % 2 == 0:
            np.testing.assert_allclose(probs, own(r), atol=2e-3)
            last[r["track_id"]] = (r["frame"] if first is None else first, probs)
        else:
            np.testing.assert_array_equal(probs, before)
            reused += 1
    assert reused >= 5, faces
    # Every frame by default: the same tracks, each record from its own crop.
    every = run(1)
    assert [r["track_id"] for r in every] == [r["track_id"] for r in faces]
    for r in every:
        np.testing.assert_allclose([r["probs"][n] for n in names], own(r), atol=2e-3)


def _one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-fer: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_model_profile_and_source_are_one_line_errors(
        clip: tuple[Path, list[list[Placement]]], tiny_model: Path, tmp_path: Path) -> None:
    path = str(clip[0])
    log = str(tmp_path / "out.jsonl")
    _one_line_error(_run("--source", path, "--model", str(tmp_path / "nope.keras"), "--log", log),
                    "nope.keras", "no such model file")
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\0" * 64)
    (tmp_path / "corrupt.card.json").write_text(
        (tiny_model.parent / "model.card.json").read_text())
    _one_line_error(_run("--source", path, "--model", str(corrupt), "--log", log), "corrupt.tflite")
    _one_line_error(_run("--source", path, "--model", str(tmp_path / "m.onnx"), "--log", log))
    bad_profile = tmp_path / "profile.json"
    bad_profile.write_text("{not json")
    _one_line_error(_run("--source", path, "--model", str(tiny_model), "--profile",
                         str(bad_profile), "--log", log), "profile.json", "invalid JSON")
    _one_line_error(_run("--source", str(tmp_path / "gone.mp4"), "--model", str(tiny_model),
                         "--log", log), "gone.mp4", "no such video file")
    junk = tmp_path / "junk.avi"
    junk.write_text("not a video")
    _one_line_error(_run("--source", str(junk), "--model", str(tiny_model), "--log", log),
                    "junk.avi", "cannot decode")
    _one_line_error(_run("--source", "ftp://cam/x", "--model", str(tiny_model), "--log", log),
                    "ftp")
    _one_line_error(_run("--source", path, "--model", str(tiny_model), "--log",
                         str(tmp_path / "no" / "dir" / "out.jsonl")), "directory does not exist")


def test_a_video_without_frames_is_an_error_even_with_loop(tiny_model: Path,
                                                           tmp_path: Path) -> None:
    empty = tmp_path / "empty.avi"
    cv2.VideoWriter(str(empty), cv2.VideoWriter.fourcc(*"MJPG"), 10, (640, 480)).release()
    _one_line_error(_run("--source", str(empty), "--model", str(tiny_model), "--loop", "--log",
                         str(tmp_path / "out.jsonl")), "empty.avi: no frame could be decoded")


def test_without_a_model_the_missing_default_is_named(
        clip: tuple[Path, list[list[Placement]]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import edge_fer.defaults

    monkeypatch.setattr(edge_fer.defaults, "DEFAULT_MODEL_DIR", tmp_path / "no-models")
    _one_line_error(_run("--source", str(clip[0]), "--log", str(tmp_path / "o.jsonl")),
                    "no shipped default model", "--model")


def test_a_camera_that_never_comes_gives_up_with_exit_3(tiny_model: Path, tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    result = _run("--source", "/dev/video99", "--model", str(tiny_model), "--log", str(log),
                  "--give-up-after", "0.5")
    assert result.exit_code == 3, result.output
    assert "camera /dev/video99 is not present" in result.stderr
    assert "gave up after" in result.stderr


def test_a_full_disk_stops_the_run_with_exit_3(short_clip: Path, tiny_model: Path) -> None:
    result = _run("--source", str(short_clip), "--model", str(tiny_model), "--log", "/dev/full")
    assert result.exit_code == 3, result.output
    assert result.stderr.strip() == ("edge-fer: error: /dev/full: cannot write the emotion log: "
                                     "the disk is full; stopped so that no records are lost "
                                     "silently")


def test_snapshots_only_when_asked(short_clip: Path, tiny_model: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    log = work / "out.jsonl"
    assert _run("--source", str(short_clip), "--model", str(tiny_model), "--log",
                str(log)).exit_code == 0
    assert sorted(p.name for p in work.rglob("*")) == ["out.jsonl"]  # no frame stored
    snaps = work / "snaps"
    result = _run("--source", str(short_clip), "--model", str(tiny_model), "--log", str(log),
                  "--snapshots", str(snaps), "--snapshot-interval", "0")
    assert result.exit_code == 0, result.output
    jpgs = sorted(snaps.glob("*.jpg"))
    assert 1 <= len(jpgs) <= 6  # one per face frame at interval 0
    image = cv2.imread(str(jpgs[-1]))
    assert image is not None and image.shape == (480, 640, 3)


def test_max_fps_caps_the_rate_and_duration_ends_a_looping_file(
        short_clip: Path, tiny_model: Path, tmp_path: Path) -> None:
    log = tmp_path / "out.jsonl"
    result = _run("--source", str(short_clip), "--model", str(tiny_model), "--log", str(log),
                  "--loop", "--duration", "1.5", "--max-fps", "4")
    assert result.exit_code == 0, result.output
    summary = _records(log)[-1]
    assert summary["type"] == "summary"
    assert 1 <= summary["frames_total"] <= 4 * 1.5 + 1  # never faster than the cap


def test_mtcnn_detector_end_to_end(fer_root: Path, tiny_model: Path, tmp_path: Path) -> None:
    path, truth = face_clip(tmp_path / "short.avi", fer_faces(fer_root, per_class=1)[:3],
                            frames_per_face=2, blank_frames=1)
    log = tmp_path / "out.jsonl"
    result = _run("--source", str(path), "--model", str(tiny_model), "--log", str(log),
                  "--detector", "mtcnn")
    assert result.exit_code == 0, result.output
    faces = [r for r in _records(log) if r["type"] == "face"]
    assert len({r["frame"] for r in faces}) >= 4
    for r in faces:
        assert max(iou(tuple(r["box"]), p.box) for p in truth[r["frame"]]) > 0.4


# -- a source that fails, then recovers: the runner itself, behind the FrameSource interface --

class _Plan:
    """Shared by every connection attempt: which opens and which reads fail (1-based)."""

    def __init__(self, fail_opens: Container[int] = (), fail_reads: Container[int] = ()) -> None:
        self.fail_opens = fail_opens
        self.fail_reads = fail_reads
        self.opens = 0
        self.reads = 0


class _FlakyCamera(FrameSource):
    """A real clip read like a camera whose connection fails when the plan says so."""

    live = False  # read in order: the test controls exactly which reads fail

    def __init__(self, clip: Path, plan: _Plan) -> None:
        super().__init__(f"flaky {clip.name}")
        self.inner = open_source(str(clip))
        self.plan = plan

    def open(self) -> None:
        self.plan.opens += 1
        if self.plan.opens in self.plan.fail_opens:
            raise SourceError("camera not plugged in")
        self.inner.open()

    def read(self) -> np.ndarray | None:
        self.plan.reads += 1
        if self.plan.reads in self.plan.fail_reads:
            raise SourceError("USB camera disconnected")
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()


def _pipeline(detector: FaceDetector, classifier: Classifier) -> FramePipeline:
    """`run`'s pipeline with smoothing off."""
    return FramePipeline(detector, classifier, Tracker(), CropConfig(MARGIN),
                         FaceSchedule(ScheduleConfig(tta=classifier.info.tta, smoothing=False)))


def _runner(clip: Path, plan: _Plan, classifier: Classifier, log: Path,
            give_up_after: float = 30.0, stop: threading.Event | None = None) -> Runner:
    pipeline = _pipeline(load_detector("haar"), classifier)
    config = RunConfig(give_up_after=give_up_after, backoff_initial=0.01, backoff_max=0.05)
    return Runner(lambda: _FlakyCamera(clip, plan), pipeline, open_log(str(log)), config,
                  stop=stop)


def test_a_camera_lost_mid_run_is_reconnected(clip: tuple[Path, list[list[Placement]]],
                                              classifier: Classifier, tmp_path: Path) -> None:
    path, truth = clip
    # Read 6 fails (the camera drops out), and two reconnects fail before it is back.
    plan = _Plan(fail_opens={2, 3}, fail_reads={6})
    log = tmp_path / "out.jsonl"
    with _runner(path, plan, classifier, log) as runner:
        runner.run()
        runner.sink.close()
    records = _records(log)
    summary = records[-1]
    assert summary["reconnects"] == 1 and plan.opens == 4  # 1 + 2 failed reconnects + 1 good
    # Before the loss 5 frames; after it the clip plays again from its first frame.
    assert summary["frames_total"] == 5 + len(truth)
    frames = [r["frame"] for r in records if r["type"] == "face"]
    assert any(f < 5 for f in frames) and any(f >= 5 + 3 for f in frames)


class _LiveFlakyCamera(_FlakyCamera):
    """The same, read like a real camera: on a capture thread that keeps only the newest frame."""

    live = True


def test_a_live_camera_drops_stale_frames_counts_them_and_reconnects(
        clip: tuple[Path, list[list[Placement]]], classifier: Classifier,
        tmp_path: Path) -> None:
    path, truth = clip
    plan = _Plan(fail_reads={4})
    log = tmp_path / "out.jsonl"
    pipeline = _pipeline(load_detector("haar"), classifier)
    config = RunConfig(backoff_initial=0.01, backoff_max=0.05)
    with Runner(lambda: _LiveFlakyCamera(path, plan), pipeline, open_log(str(log)),
                config) as runner:
        runner.run()
        runner.sink.close()
    summary = _records(log)[-1]
    assert summary["reconnects"] == 1
    # Every frame the camera delivered is either processed or counted as dropped (how many
    # are dropped depends on the machine's speed; tests/test_sources.py pins that down).
    assert summary["frames_total"] + summary["frames_dropped"] == 3 + len(truth)


def test_a_camera_missing_at_start_is_waited_for(clip: tuple[Path, list[list[Placement]]],
                                                 classifier: Classifier, tmp_path: Path) -> None:
    path, truth = clip
    plan = _Plan(fail_opens={1, 2, 3})
    log = tmp_path / "out.jsonl"
    with _runner(path, plan, classifier, log) as runner:
        runner.run()
        runner.sink.close()
    summary = _records(log)[-1]
    assert plan.opens == 4 and summary["reconnects"] == 1
    assert summary["frames_total"] == len(truth) and summary["faces_total"] > 0


def test_a_camera_gone_for_good_fails_after_the_give_up_time(
        clip: tuple[Path, list[list[Placement]]], classifier: Classifier,
        tmp_path: Path) -> None:
    plan = _Plan(fail_opens=range(1, 10**9))
    runner = _runner(clip[0], plan, classifier, tmp_path / "out.jsonl", give_up_after=0.3)
    with pytest.raises(RuntimeFailure, match="camera not plugged in; gave up after"):
        runner.run()
    runner.close()
    runner.close()
    assert plan.opens >= 2  # it did retry before giving up


class _StopDuringFrame(FaceDetector):
    """Real Haar detection that sets the stop event during its call number `at` (1-based; the
    runner's warm-up is call 1), as a SIGTERM handler would mid-frame."""

    def __init__(self, at: int, stop: threading.Event) -> None:
        self.inner = load_detector("haar")
        super().__init__(self.inner.config)
        self.at, self.stop, self.frames = at, stop, 0

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.frames += 1
        if self.frames == self.at:
            self.stop.set()
        return self.inner.detect(frame)

    def close(self) -> None:
        self.inner.close()


def test_the_stop_event_ends_the_loop_after_the_current_frame(
        clip: tuple[Path, list[list[Placement]]], classifier: Classifier,
        tmp_path: Path) -> None:
    stop = threading.Event()
    log = tmp_path / "out.jsonl"
    pipeline = _pipeline(_StopDuringFrame(1 + 3, stop), classifier)
    with Runner(lambda: _FlakyCamera(clip[0], _Plan()), pipeline, open_log(str(log)),
                RunConfig(), stop=stop) as runner:
        runner.run()
        runner.sink.close()
    summary = _records(log)[-1]
    assert summary["type"] == "summary" and summary["frames_total"] == 3
