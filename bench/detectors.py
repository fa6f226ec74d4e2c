"""The face detectors alone on the benchmark clip: faces found, false detections, detect ms,
YuNet's score threshold and NMS swept, and where each detector puts the eyes on a FER face.

Each detector runs on every frame (no face-following) of the clip `bench/end_to_end.py`
writes (640x480, one FER2013 test face a frame at 150-230 px, MJPG), detecting at
`--detect-width`. The eye geometry (true box side / eye distance, and the true box centre
from the eye midpoint as a fraction of the side) is what `edge_fer.crop`'s aligned crop uses.

    .venv/bin/python bench/detectors.py [--frames 300] [--detectors haar,yunet,mtcnn]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_fer.detectors import DetectorConfig, load_detector  # noqa: E402
from edge_fer.detectors import yunet as yunet_module  # noqa: E402
from edge_fer.detectors.base import Detection  # noqa: E402
from edge_fer.synthetic import Placement, face_clip, fer_faces, interleave, read_clip  # noqa: E402
from edge_fer.tracking import iou  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "fer2013"
IOU_COVERED = 0.3
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def run(key: str, frames: list[np.ndarray], detect_width: int,
        ) -> tuple[list[list[Detection]], list[float]]:
    """Every frame's detections and detect ms (after one warm-up pass)."""
    with load_detector(key, DetectorConfig(detect_width=detect_width, full_frame_every=1)) as det:
        det.detect(frames[0])
        found, ms = [], []
        for frame in frames:
            t0 = time.perf_counter()
            found.append(det.detect(frame))
            ms.append((time.perf_counter() - t0) * 1000)
    return found, ms


def score(truth: list[list[Placement]], found: list[list[Detection]], min_score: float = 0.0,
          ) -> tuple[int, int, int, list[tuple[Placement, Detection]]]:
    """Faces, faces found (IoU >= 0.3), false detections, and the matched pairs."""
    faces = covered = false = 0
    pairs = []
    for placed, dets in zip(truth, found):
        left = [d for d in dets if d.score >= min_score]
        for p in placed:
            faces += 1
            best = max(left, key=lambda d: iou(d.box, p.box), default=None)
            if best is not None and iou(best.box, p.box) >= IOU_COVERED:
                covered += 1
                pairs.append((p, best))
                left.remove(best)
        false += len(left)
    return faces, covered, false, pairs


def eye_geometry(pairs: list[tuple[Placement, Detection]]) -> str:
    side_over_eyes, dx, dy = [], [], []
    for p, d in pairs:
        if d.left_eye is None or d.right_eye is None:
            continue
        (lx, ly), (rx, ry) = d.left_eye, d.right_eye
        dist = float(np.hypot(rx - lx, ry - ly))
        x, y, w, h = p.box
        side_over_eyes.append(w / dist)
        dx.append((x + w / 2 - (lx + rx) / 2) / w)
        dy.append((y + h / 2 - (ly + ry) / 2) / h)
    if not side_over_eyes:
        return "no landmarks"
    q = np.percentile(side_over_eyes, [25, 75])
    return (f"true side / eye distance median {statistics.median(side_over_eyes):.2f} "
            f"(IQR {q[0]:.2f}-{q[1]:.2f}); true centre - eye midpoint: "
            f"x {statistics.median(dx):+.3f}, y {statistics.median(dy):+.3f} of the side")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--split", default="test")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--detect-width", type=int, default=320)
    ap.add_argument("--detectors", default="haar,yunet,mtcnn")
    ap.add_argument("--nms", default="0.3,0.45", help="YuNet NMS thresholds to sweep")
    args = ap.parse_args(argv)
    n_faces = max(1, args.frames // 3)
    faces = interleave(fer_faces(args.faces, per_class=n_faces // 7 + 1,
                                 split=args.split or None))[:n_faces]
    with tempfile.TemporaryDirectory() as tmp:
        clip, truth = face_clip(Path(tmp) / "clip.avi", faces, blank_frames=0,
                                size_range=(150, 230))
        frames = read_clip(clip)
    print(f"clip: {len(frames)} frames 640x480, {len(faces)} faces x 3, 150-230 px; detect "
          f"width {args.detect_width}; every frame a full pass; cv2 threads "
          f"{cv2.getNumThreads()}")
    print(f"{'detector':22} {'found%':>7} {'false':>5} {'detect ms':>9}")
    for key in args.detectors.split(","):
        if key != "yunet":
            found, ms = run(key, frames, args.detect_width)
            faces_n, covered, false, pairs = score(truth, found)
            print(f"{key:22} {100 * covered / faces_n:7.1f} {false:5d} "
                  f"{statistics.median(ms):9.2f}")
            if key == "mtcnn":
                print(f"  mtcnn eyes: {eye_geometry(pairs)}")
            continue
        shipped = yunet_module.SCORE_THRESHOLD, yunet_module.NMS_THRESHOLD
        for nms in (float(v) for v in args.nms.split(",")):
            # Detect once at the lowest threshold; each higher one keeps the boxes above it.
            yunet_module.SCORE_THRESHOLD, yunet_module.NMS_THRESHOLD = min(THRESHOLDS), nms
            found, ms = run(key, frames, args.detect_width)
            for t in THRESHOLDS:
                faces_n, covered, false, pairs = score(truth, found, t)
                print(f"yunet score {t:.1f} nms {nms:.2f} {100 * covered / faces_n:7.1f} "
                      f"{false:5d} {statistics.median(ms):9.2f}")
                if (t, nms) == shipped:
                    print(f"  yunet eyes: {eye_geometry(pairs)}")
        yunet_module.SCORE_THRESHOLD, yunet_module.NMS_THRESHOLD = shipped


if __name__ == "__main__":
    main()
