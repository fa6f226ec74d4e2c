"""Synthetic test clips: real face crops (FER2013) placed in 640x480 frames, with ground truth.

One implementation shared by the tests, the benchmark (`bench/end_to_end.py`) and users who
want to check a deployment without a camera. A 48 px FER face is upscaled, padded with its own
border (so the detector sees a face, not a square with a hard edge) and placed on a smooth
background; the clip is encoded with OpenCV's MJPG writer, which every opencv-python(-headless)
wheel can write and read. Every frame's true box and label come back (and can be written as
JSON), so detection coverage and accuracy can be scored frame by frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FRAME_SIZE = (640, 480)  # width, height
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class Placement:
    """Where one face sits in one frame: the upscaled face's box [x, y, w, h] and its source."""

    box: tuple[int, int, int, int]
    face_file: Path

    @property
    def label(self) -> str:
        """The face's class: the name of the folder it came from (FER2013's layout)."""
        return self.face_file.parent.name


def fer_faces(fer_root: Path, per_class: int = 1, classes: tuple[str, ...] | None = None,
              split: str | None = "test") -> list[Path]:
    """The first `per_class` images of each class folder (sorted by name: deterministic).

    `fer_root/split/<class>/*.png` for FER2013; `split=None` takes `fer_root/<class>/` (any
    folder of labelled crops a user gives).
    """
    root = fer_root / split if split else fer_root
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of face crops")
    names = classes or tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    out: list[Path] = []
    for name in names:
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        out += files[:per_class]
    return out


def interleave(faces: list[Path]) -> list[Path]:
    """Faces reordered so consecutive ones come from different classes (round robin)."""
    by_class: dict[str, list[Path]] = {}
    for f in faces:
        by_class.setdefault(f.parent.name, []).append(f)
    queues = list(by_class.values())
    out: list[Path] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def background(size: tuple[int, int] = FRAME_SIZE, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient (BGR): no edges a face detector could take for a face."""
    w, h = size
    rng = np.random.default_rng(seed)
    c0, c1 = rng.integers(60, 200, 3), rng.integers(60, 200, 3)
    t = (np.linspace(0, 1, w)[None, :, None] + np.linspace(0, 1, h)[:, None, None]) / 2
    return (c0 * (1 - t) + c1 * t).astype(np.uint8)


def face_patch(face: Path | np.ndarray, face_px: int, angle: float = 0.0,
               ) -> tuple[np.ndarray, int]:
    """The face (an image file, or a gray image) upscaled to face_px, padded with its own
    border; returns (patch, pad)."""
    gray = cv2.imread(str(face), cv2.IMREAD_GRAYSCALE) if isinstance(face, Path) else face
    if gray is None:
        raise FileNotFoundError(face)
    up = cv2.resize(gray, (face_px, face_px), interpolation=cv2.INTER_CUBIC)
    pad = face_px // 3
    patch = cv2.copyMakeBorder(up, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    if angle:
        side = patch.shape[0]
        m = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        patch = cv2.warpAffine(patch, m, (side, side), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR), pad


def compose(faces: list[tuple[Path, int, tuple[int, int]]], bg: np.ndarray,
            angle: float = 0.0) -> tuple[np.ndarray, list[Placement]]:
    """One frame: each (face file, face px, top-left of the face) pasted onto a copy of bg."""
    frame = bg.copy()
    placed: list[Placement] = []
    for face_file, face_px, (x, y) in faces:
        patch, pad = face_patch(face_file, face_px, angle)
        paste(frame, patch, (x - pad, y - pad))
        placed.append(Placement((x, y, face_px, face_px), face_file))
    return frame, placed


def paste(frame: np.ndarray, patch: np.ndarray, at: tuple[int, int]) -> None:
    """Paste patch into frame (in place) with its top-left at `at`; what falls outside is cut."""
    x0, y0 = at
    ph, pw = patch.shape[:2]
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + pw, frame.shape[1]), min(y0 + ph, frame.shape[0])
    if fx1 > fx0 and fy1 > fy0:
        frame[fy0:fy1, fx0:fx1] = patch[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Encode frames as an MJPG .avi (readable back by cv2.VideoCapture on every wheel)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write MJPG to {path}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def read_clip(path: Path) -> list[np.ndarray]:
    """Every frame of a clip, decoded (what a detector benchmark runs on)."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return frames
            frames.append(frame)
    finally:
        cap.release()


def face_clip(path: Path, face_files: list[Path], frames_per_face: int = 3,
              face_px: int = 180, blank_frames: int = 2, seed: int = 0,
              size_range: tuple[int, int] | None = None,
              ) -> tuple[Path, list[list[Placement]]]:
    """A clip showing each face for a few frames (drifting a little), then a few empty frames.

    Face sides are drawn from `size_range` (inclusive) when given, else face_px +- 30.
    Returns the clip and, per frame, the faces placed in it (the ground truth).
    """
    bg = background(seed=seed)
    rng = np.random.default_rng(seed)
    frames: list[np.ndarray] = []
    truth: list[list[Placement]] = []
    w, h = FRAME_SIZE
    for i, face_file in enumerate(face_files):
        if size_range is not None:
            px = int(rng.integers(size_range[0], size_range[1] + 1))
        else:
            px = int(face_px + rng.integers(-30, 31)) if face_px > 60 else face_px
        # Each face in the next quarter of the frame (diagonal first): a face never overlaps
        # one of the three before it, so a tracker must not take it for the same person.
        cx, cy = ((0, 0), (1, 1), (1, 0), (0, 1))[i % 4]
        cw, ch = w // 2, h // 2
        x = cx * cw + int(rng.integers(10, max(11, cw - px - 10 * frames_per_face)))
        y = cy * ch + int(rng.integers(0, max(1, ch - px - 2 * frames_per_face)))
        # A face larger than the quarter is kept inside the frame (its border pad may leave it).
        x, y = min(x, w - px - 4 * frames_per_face), min(y, h - px - 2 * frames_per_face)
        for k in range(frames_per_face):
            frame, placed = compose([(face_file, px, (x + 4 * k, y + 2 * k))], bg)
            frames.append(frame)
            truth.append(placed)
    for _ in range(blank_frames):
        frames.append(bg.copy())
        truth.append([])
    return write_clip(path, frames), truth


def truth_records(truth: list[list[Placement]]) -> list[dict[str, object]]:
    """The ground truth as plain records: one per frame, its faces' boxes and labels."""
    return [{"frame": i, "faces": [{"box": list(p.box), "label": p.label,
                                    "file": str(p.face_file)} for p in placed]}
            for i, placed in enumerate(truth)]


def write_truth(path: Path, truth: list[list[Placement]]) -> Path:
    """The ground truth as JSON lines beside the clip (one line per frame)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in truth_records(truth)))
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m edge_fer.synthetic FACES OUT.avi`: a demo clip for trying `edge-fer run`."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m edge_fer.synthetic", description=main.__doc__)
    ap.add_argument("faces", type=Path, help="a folder of <class>/ face crops "
                                             "(e.g. ../shared/data/fer2013/test)")
    ap.add_argument("out", type=Path, help="the clip to write (.avi, MJPG)")
    ap.add_argument("--per-class", type=int, default=3, help="faces taken from each class")
    ap.add_argument("--frames-per-face", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        faces = interleave(fer_faces(args.faces, args.per_class, split=None))
    except FileNotFoundError as e:
        print(f"edge_fer.synthetic: error: {e}", file=sys.stderr)
        return 2
    if not faces:
        print(f"edge_fer.synthetic: error: {args.faces}: no <class>/ folders of images",
              file=sys.stderr)
        return 2
    clip, truth = face_clip(args.out, faces, frames_per_face=args.frames_per_face)
    write_truth(clip.with_suffix(".truth.jsonl"), truth)
    print(f"{clip}: {len(truth)} frames, {len(faces)} faces (truth: "
          f"{clip.with_suffix('.truth.jsonl')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
