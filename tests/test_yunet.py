"""The YuNet detector (real cv2.FaceDetectorYN, the shipped ONNX) on real FER faces placed in
frames, the crop framed from its eye landmarks, the CLI choice, and bad model files."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result
from videos import background, compose, face_clip, face_patch, fer_faces

from edge_fer.cli import cli
from edge_fer.crop import EYES_TO_SIDE, CropConfig, crop_face, crop_transform, eye_angle, eye_frame
from edge_fer.detectors import DetectorConfig, load_detector
from edge_fer.detectors.base import Detection, FaceDetector
from edge_fer.detectors.guided import GuidedDetector
from edge_fer.detectors.yunet import MODEL_FILE
from edge_fer.errors import ModelError
from edge_fer.tracking import iou

DEFAULT_INT8 = Path(__file__).resolve().parents[1] / "edge_fer" / "models" / "default" / \
    "model_int8.tflite"


@pytest.fixture(scope="module")
def faces(fer_root: Path) -> list[Path]:
    return fer_faces(fer_root, per_class=1)  # one real face of each of the 7 classes


@pytest.fixture(scope="module")
def yunet() -> FaceDetector:
    # One detector pass per image: these tests show unrelated images one after another.
    return load_detector("yunet", DetectorConfig(full_frame_every=1))


def _frame(face: Path, px: int = 180, at: tuple[int, int] = (230, 140),
           angle: float = 0.0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    frame, placed = compose([(face, px, at)], background(), angle)
    return frame, placed[0].box


def test_yunet_finds_faces_with_their_eyes(yunet: FaceDetector, faces: list[Path]) -> None:
    found = 0
    for face in faces:
        frame, truth = _frame(face)
        dets = yunet.detect(frame)
        assert len(dets) <= 1, f"{face.name}: {len(dets)} faces in a one-face frame"
        if not dets:
            continue
        found += 1
        d = dets[0]
        assert iou(d.box, truth) > 0.3 and 0.5 <= d.score <= 1.0, (face.name, d)
        assert d.left_eye is not None and d.right_eye is not None
        x, y, w, h = d.box
        for ex, ey in (d.left_eye, d.right_eye):
            assert x <= ex <= x + w and y <= ey <= y + h
        assert d.left_eye[0] < d.right_eye[0]  # the image's left eye is on the left
        assert abs(eye_angle(d)) < 10  # an upright face
    assert found >= 6, f"YuNet found {found} of {len(faces)} faces"


def test_yunet_finds_nothing_on_an_empty_frame(yunet: FaceDetector) -> None:
    assert yunet.detect(background()) == []


def test_yunet_boxes_come_back_in_full_frame_pixels(faces: list[Path]) -> None:
    full = load_detector("yunet", DetectorConfig(detect_width=640, full_frame_every=1))
    small = load_detector("yunet", DetectorConfig(detect_width=240, full_frame_every=1))
    frame, truth = _frame(faces[3], at=(380, 220))
    a, b = full.detect(frame), small.detect(frame)
    assert a and b
    assert iou(a[0].box, truth) > 0.4 and iou(b[0].box, truth) > 0.4
    assert a[0].left_eye == pytest.approx(b[0].left_eye, abs=8)


def test_yunet_respects_the_minimum_face_size(yunet: FaceDetector, faces: list[Path]) -> None:
    big_only = load_detector("yunet", DetectorConfig(min_face=400, full_frame_every=1))
    frame, _ = _frame(faces[3])
    assert yunet.detect(frame)
    assert big_only.detect(frame) == []  # the ~180 px face (a ~250 px box) is below 400 px


def test_a_face_cut_by_the_border_is_clipped_and_cropped(yunet: FaceDetector,
                                                         faces: list[Path]) -> None:
    frame, truth = _frame(faces[3], px=200, at=(520, 320))  # a third of it outside the frame
    dets = yunet.detect(frame)
    assert dets, "the visible part of the face is still a face"
    h, w = frame.shape[:2]
    for d in dets:
        x, y, bw, bh = d.box
        assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
        for config in (CropConfig(), CropConfig(align=False)):
            crop = crop_face(frame, d, config)
            assert crop.shape[0] == crop.shape[1] >= 100 and crop.shape[2] == 3


def test_followed_faces_keep_their_eyes(faces: list[Path]) -> None:
    guided = load_detector("yunet", DetectorConfig(full_frame_every=5))
    assert isinstance(guided, GuidedDetector) and guided.align
    first = guided.detect(_frame(faces[3], at=(230, 140))[0])
    moved = guided.detect(_frame(faces[3], at=(238, 144))[0])
    assert guided.full_passes == 1 and len(first) == len(moved) == 1  # the second was followed
    (a, b) = first[0], moved[0]
    assert a.left_eye is not None and b.left_eye is not None
    dx, dy = b.box[0] - a.box[0], b.box[1] - a.box[1]
    assert (dx, dy) != (0, 0)
    assert b.left_eye == pytest.approx((a.left_eye[0] + dx, a.left_eye[1] + dy))


# -- the crop framed from the eyes ---------------------------------------------------------

def _eyes_in_crop(det: Detection, config: CropConfig) -> tuple[np.ndarray, int]:
    m, side = crop_transform(det, config)
    assert det.left_eye is not None and det.right_eye is not None
    return np.array([[*det.left_eye, 1.0], [*det.right_eye, 1.0]]) @ m.T, side


def test_a_tilted_face_comes_out_upright(fer_root: Path) -> None:
    """YuNet measures the tilt; the aligned crop, shown to YuNet again, has level eyes.

    At 640 px: on the 320 px copy a blurred (upscaled) FER face's landmarks stay level
    whatever the tilt (docs/detectors.md)."""
    yunet = load_detector("yunet", DetectorConfig(detect_width=640, full_frame_every=1))
    tilts: list[float] = []
    again: dict[bool, list[float]] = {True: [], False: []}
    for face in fer_faces(fer_root, per_class=2):
        tilted, _ = _frame(face, angle=20.0)  # counter-clockwise on screen: the right eye rises
        dets = yunet.detect(tilted)
        if not dets:
            continue
        tilts.append(eye_angle(dets[0]))
        for align in (True, False):
            crop = crop_face(tilted, dets[0], CropConfig(margin=0.6, align=align))
            found = yunet.detect(cv2.resize(crop, (300, 300)))
            if found:
                again[align].append(eye_angle(found[0]))
    assert len(tilts) >= 8 and len(again[True]) >= 8 and len(again[False]) >= 8
    assert statistics.median(tilts) < -10  # the tilt is seen (cv2's angle is clockwise-negative)
    assert statistics.median(again[False]) < -10  # a box crop keeps it
    assert abs(statistics.median(again[True])) < 5  # the aligned crop is upright


def test_the_aligned_crop_is_scaled_by_the_eye_distance(yunet: FaceDetector,
                                                        faces: list[Path]) -> None:
    """A face at 150 and at 230 px: the eyes land at the same place in both crops."""
    small = yunet.detect(_frame(faces[3], px=150)[0])
    large = yunet.detect(_frame(faces[3], px=230, at=(200, 100))[0])
    assert small and large
    config = CropConfig(margin=0.0)
    (eyes_s, side_s), (eyes_l, side_l) = _eyes_in_crop(small[0], config), _eyes_in_crop(large[0],
                                                                                        config)
    assert side_l / side_s == pytest.approx(230 / 150, rel=0.1)
    for eyes, side in ((eyes_s, side_s), (eyes_l, side_l)):
        assert (eyes[1, 0] - eyes[0, 0]) / side == pytest.approx(1 / EYES_TO_SIDE, rel=0.02)
        assert eyes[:, 1].mean() / side == pytest.approx(0.5 - 0.1, abs=0.02)  # above centre
    np.testing.assert_allclose(eyes_s / side_s, eyes_l / side_l, atol=0.02)


def test_implausible_landmarks_fall_back_to_the_box() -> None:
    frame = cv2.cvtColor(background(), cv2.COLOR_BGR2GRAY)
    box = (500, 380, 120, 100)  # near the corner
    for left, right in (((-900.0, 2000.0), (3000.0, 2100.0)),  # far off the frame
                        ((540.0, 400.0), (545.0, 400.0)),  # 5 px apart in a 120 px box
                        ((560.0, 400.0), (520.0, 480.0))):  # turned past 45 degrees
        det = Detection(box, 0.9, left, right)
        assert eye_frame(det) is None
        np.testing.assert_array_equal(crop_face(frame, det, CropConfig()),
                                      crop_face(frame, det, CropConfig(align=False)))


def test_an_aligned_crop_reaching_off_the_frame_repeats_the_border(faces: list[Path]) -> None:
    """Eyes near the corner, tilted: the turned square reaches outside the frame."""
    patch, pad = face_patch(faces[3], 150)
    frame = background()
    frame[-100:, -100:] = patch[pad:pad + 100, pad:pad + 100]
    det = Detection((560, 400, 80, 80), 0.9, (570.0, 420.0), (610.0, 440.0))
    assert eye_frame(det) is not None
    crop = crop_face(frame, det, CropConfig())
    side = round(EYES_TO_SIDE * math.hypot(40, 20) * 1.05)
    assert crop.shape == (side, side, 3)
    assert np.isfinite(crop).all() and crop.std() > 0


# -- the command line ----------------------------------------------------------------------

def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["run", *args])


def test_run_with_yunet_logs_the_faces(fer_root: Path, tmp_path: Path) -> None:
    path, truth = face_clip(tmp_path / "short.avi", fer_faces(fer_root, per_class=1)[:3],
                            frames_per_face=2, blank_frames=1)
    log = tmp_path / "out.jsonl"
    result = _run("--source", str(path), "--model", str(DEFAULT_INT8), "--log", str(log),
                  "--detector", "yunet")
    assert result.exit_code == 0, result.output
    faces = [json.loads(line) for line in log.read_text().splitlines()]
    faces = [r for r in faces if r["type"] == "face"]
    assert len({r["frame"] for r in faces}) >= 5
    assert not any(r["frame"] == 6 for r in faces)  # the empty last frame
    for r in faces:
        assert max(iou(tuple(r["box"]), p.box) for p in truth[r["frame"]]) > 0.4


@pytest.mark.parametrize("content, problem", [(None, "no such YuNet model file"),
                                              (b"not an onnx file" * 20, "cannot load")])
def test_bad_detector_model_is_a_one_line_error(tmp_path: Path, fer_root: Path,
                                                content: bytes | None, problem: str) -> None:
    bad = tmp_path / "yunet.onnx"
    if content is not None:
        bad.write_bytes(content)
    with pytest.raises(ModelError, match=problem):
        load_detector("yunet", DetectorConfig(model_path=str(bad)))
    clip, _ = face_clip(tmp_path / "c.avi", fer_faces(fer_root, per_class=1)[:1],
                        frames_per_face=1, blank_frames=0)
    result = _run("--source", str(clip), "--model", str(DEFAULT_INT8), "--log",
                  str(tmp_path / "o.jsonl"), "--detector", "yunet", "--detector-model", str(bad))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and problem in lines[0], result.stderr


def test_detector_model_is_only_for_yunet(tmp_path: Path) -> None:
    result = _run("--source", "0", "--detector", "haar", "--detector-model", str(MODEL_FILE))
    assert result.exit_code == 2 and "--detector-model" in result.output


def test_evaluate_on_faces_found_by_yunet(fer_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(fer_root / "test"), "--limit",
                                      "21", "--model", str(DEFAULT_INT8), "--detector", "yunet",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["detector"] == "yunet" and record["align"] is True
    assert record["faces"] == 21 and 15 <= record["found"] <= 21
    assert "found" in result.output and "yunet (aligned crops)" in result.output
    assert sum(sum(row) for row in record["confusion_matrix"]) == record["found"]


def test_profile_times_the_whole_pipeline_with_yunet(tmp_path: Path) -> None:
    from edge_fer.profiling.schema import load_profile

    out = tmp_path / "p.json"
    result = CliRunner().invoke(cli, ["profile", "--model", str(DEFAULT_INT8), "--detector",
                                      "yunet", "--frame", "320x240", "--resolutions", "48,64",
                                      "--max-resolution", "64", "--budget-ms", "1000",
                                      "--min-repeats", "3", "--min-seconds", "0", "--warmup",
                                      "1", "--threads", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    pipe = load_profile(out).settings.pipeline
    assert pipe is not None and pipe.detector == "yunet"
    assert "whole pipeline: yunet on a 320x240 frame" in result.output


def test_evaluate_align_needs_a_detector(fer_root: Path) -> None:
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(fer_root / "test"), "--align"])
    assert result.exit_code == 2 and "--align" in result.output and "needs --detector" in \
        result.output
