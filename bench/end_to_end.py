"""edge-fer against `fer` on the same generated clip, scored the same way.

Writes a 640x480 clip of real face crops (one face per frame, 150-230 px, true box and label
known), then runs, each in its own process so that peak RSS and CPU time are its own:
  * edge-fer: the real `edge-fer run` command with each detector asked for (`--detectors
    haar,yunet,mtcnn`; `yunet+align` / `yunet-align` force the landmark alignment on or off),
    a TFLite/OpenVINO model, read back from its JSON-lines log and summary record;
  * fer 25.10.3 (TensorFlow) with its Haar cascade (`FER(mtcnn=False)`) and, with `--fer
    haar,mtcnn`, with MTCNN: fer 25's own MTCNN mode needs facenet-pytorch (PyTorch), so its
    classifier is fed the boxes of the `mtcnn` package's MTCNN on the full frame, which is
    what `FER(mtcnn=True)` ran up to fer 22.
All are scored on the frames they report: coverage (a detection with IoU >= 0.3 to the true
box), accuracy on covered faces, end-to-end accuracy (correct face-frames / all face-frames).

    .venv/bin/python bench/end_to_end.py --model MODEL_DIR_OR_FILE [--frames 150]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_fer.detected import IOU_FOUND as IOU_COVERED  # noqa: E402
from edge_fer.synthetic import (  # noqa: E402
    Placement,
    face_clip,
    fer_faces,
    interleave,
    write_truth,
)
from edge_fer.tracking import iou  # noqa: E402

STAGES = ("decode", "detect", "crop", "classify", "log")
DEFAULT_DATA = REPO.parent / "shared" / "data" / "fer2013"
Box = tuple[int, int, int, int]


@dataclass
class Outcome:
    """What one tool reported on the clip, and what running it cost."""

    name: str
    fps: float
    stages_ms: dict[str, float]
    boxes: dict[int, list[tuple[Box, str]]]  # frame -> (box, label) per detection
    rss_mb: float
    cpu_ms_per_frame: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    face_frames: int
    covered: int
    correct: int
    false_detections: int

    @property
    def coverage(self) -> float:
        return self.covered / self.face_frames if self.face_frames else 0.0

    @property
    def accuracy_covered(self) -> float:
        return self.correct / self.covered if self.covered else 0.0

    @property
    def accuracy_end_to_end(self) -> float:
        return self.correct / self.face_frames if self.face_frames else 0.0


def score(truth: list[list[Placement]], boxes: dict[int, list[tuple[Box, str]]]) -> Score:
    """Each true face is covered by its best-overlapping detection (IoU >= 0.3) and correct
    when that detection's label is the face's class; unmatched detections are false."""
    face_frames = covered = correct = false = 0
    for i, placed in enumerate(truth):
        dets = list(boxes.get(i, []))
        for p in placed:
            face_frames += 1
            best = max(dets, key=lambda d: iou(d[0], p.box), default=None)
            if best is None or iou(best[0], p.box) < IOU_COVERED:
                continue
            covered += 1
            correct += best[1] == p.label
            dets.remove(best)
        false += len(dets)
    return Score(face_frames, covered, correct, false)


def peak_rss_mb(pid: int) -> float | None:
    """The process's own peak RSS (VmHWM) so far; None once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def run_child(cmd: list[str]) -> tuple[float, str]:
    """Run a child process; return its peak RSS (MB) and its stderr.

    The peak is VmHWM read from /proc while the child runs, not getrusage: Linux carries the
    high-water mark of the forked copy of this (bigger) process across exec into ru_maxrss.
    """
    peak = 0.0
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        while proc.poll() is None:
            peak = max(peak, peak_rss_mb(proc.pid) or 0.0)
            time.sleep(0.05)
        err.seek(0)
        text = err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{text[-3000:]}")
    return peak, text


# -- edge-fer ----------------------------------------------------------------------------------

def edge_fer_options(variant: str) -> list[str]:
    """`edge-fer run` options for a variant: a detector key, `+align` or `-align` after it
    forcing the landmark alignment on or off (else the detector's own choice); "": run's
    defaults."""
    if not variant:
        return []
    for suffix, flag in (("+align", "--align"), ("-align", "--no-align")):
        if variant.endswith(suffix):
            return ["--detector", variant[:-len(suffix)], flag]
    return ["--detector", variant]


def edge_fer_once(clip: Path, model: list[str], threads: int | None, extra: list[str],
                  log: Path, variant: str) -> Outcome:
    log.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "edge_fer", "run", "--source", str(clip), *model,
           *edge_fer_options(variant), "--log", str(log), "--summary-interval", "3600", *extra]
    if threads:
        cmd += ["--threads", str(threads)]
    rss, _ = run_child(cmd)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    summary = records[-1]
    boxes: dict[int, list[tuple[Box, str]]] = {}
    for r in records:
        if r["type"] == "face":
            boxes.setdefault(r["frame"], []).append((tuple(r["box"]), r["label"]))
    lat = summary["latency_ms"]
    return Outcome(f"edge-fer {variant or 'default'}", summary["fps"], {s: lat.get(s, 0.0) for s in STAGES},
                   boxes, rss,
                   summary.get("cpu_ms_per_frame", float("nan")),
                   {"frames": summary["frames_total"]})


# -- fer ---------------------------------------------------------------------------------------

def fer_worker(clip: Path, out: Path, mode: str) -> None:
    """Runs inside the fer child process: the clip through fer's Haar or MTCNN pipeline, timed
    per stage."""
    import cv2
    from fer.fer import FER

    detector = FER(mtcnn=False)
    find_faces = detector.find_faces
    if mode == "mtcnn":
        from mtcnn import MTCNN

        net = MTCNN()

        def find_faces(frame: Any) -> list[list[int]]:  # fer 22's FER(mtcnn=True)
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            return [face["box"] for face in net.detect_faces(rgb)]

    cap = cv2.VideoCapture(str(clip))
    ok, frame = cap.read()
    # Warm-up: the first calls build the interpreters' plans.
    detector.detect_emotions(frame, face_rectangles=find_faces(frame) or None)
    cap.release()
    cap = cv2.VideoCapture(str(clip))
    ms: dict[str, list[float]] = {s: [] for s in STAGES}
    boxes: dict[int, list[tuple[list[int], str]]] = {}
    cpu0, t_start = time.process_time(), time.perf_counter()
    i = 0
    while True:
        t0 = time.perf_counter()
        ok, frame = cap.read()
        if not ok:
            break
        t1 = time.perf_counter()
        rects = find_faces(frame)
        t2 = time.perf_counter()
        # fer crops and classifies in one call; its crop is a slice and a resize.
        found = detector.detect_emotions(frame, face_rectangles=rects) if len(rects) else []
        t3 = time.perf_counter()
        boxes[i] = [([int(v) for v in f["box"]], max(f["emotions"], key=f["emotions"].get))
                    for f in found]
        t4 = time.perf_counter()
        ms["decode"].append((t1 - t0) * 1000)
        ms["detect"].append((t2 - t1) * 1000)
        ms["classify"].append((t3 - t2) * 1000)
        ms["log"].append((t4 - t3) * 1000)
        i += 1
    wall = time.perf_counter() - t_start
    cpu = time.process_time() - cpu0
    out.write_text(json.dumps({
        "fps": i / wall, "cpu_ms_per_frame": cpu / max(i, 1) * 1000,
        "stages_ms": {s: statistics.median(v) if v else 0.0 for s, v in ms.items()},
        "boxes": boxes}))


def fer_once(clip: Path, out: Path, mode: str) -> Outcome:
    rss, _ = run_child([sys.executable, __file__, "--fer-worker", str(clip), str(out), mode])
    data = json.loads(out.read_text())
    boxes = {int(k): [(tuple(b), lab) for b, lab in v] for k, v in data["boxes"].items()}
    return Outcome(f"fer {mode}", data["fps"], data["stages_ms"], boxes, rss,
                   data["cpu_ms_per_frame"])


# -- the report --------------------------------------------------------------------------------

def median_outcome(runs: list[Outcome]) -> Outcome:
    """The run with the median FPS (its boxes, RSS and CPU go with it)."""
    return sorted(runs, key=lambda o: o.fps)[len(runs) // 2]


def model_args(model: Path, tmp: Path) -> list[str]:
    """`edge-fer run` options for a model file, a converted folder, or a .keras to convert."""
    if model.suffix == ".keras":
        out = tmp / "converted"
        print(f"converting {model} -> {out} (tflite-fp16) ...", flush=True)
        subprocess.run([sys.executable, "-m", "edge_fer", "convert", "--model", str(model),
                        "--formats", "tflite-fp16", "--out", str(out), "--samples", "100",
                        "--calibration-samples", "100"], check=True, cwd=REPO)
        return ["--manifest", str(out / "manifest.json")]
    if model.is_dir() or model.name.endswith(".json"):
        return ["--manifest", str(model)]
    return ["--model", str(model)]


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("edge-fer", "fer", "opencv-python-headless", "ai-edge-litert", "openvino",
                "tensorflow-cpu", "numpy"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path,
                    help="edge-fer model: a converted folder (manifest.json), a .tflite/.xml "
                         "file, or a .keras model (converted to TFLite fp16 first)")
    ap.add_argument("--faces", type=Path, default=DEFAULT_DATA,
                    help="face crops: FER2013 root with test/<class>/ (default), or any "
                         "<class>/ folder tree (with --split '')")
    ap.add_argument("--split", default="test")
    ap.add_argument("--frames", type=int, default=150, help="frames in the clip")
    ap.add_argument("--frames-per-face", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="runs per tool (median by FPS)")
    ap.add_argument("--threads", type=int, help="edge-fer classifier threads")
    ap.add_argument("--edge-fer-args", default="", help="extra `edge-fer run` options")
    ap.add_argument("--detectors", default="",
                    help="edge-fer detectors, comma-separated; `yunet+align` / `yunet-align` "
                         "force the alignment on / off [default: run's default detector]")
    ap.add_argument("--fer", default="haar",
                    help="fer pipelines, comma-separated: haar, mtcnn [default: haar]")
    ap.add_argument("--skip-fer", action="store_true", help="edge-fer only (fer not installed)")
    ap.add_argument("--keep", type=Path, help="keep the clip and its truth in this folder")
    ap.add_argument("--fer-worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.fer_worker:
        clip_arg, out_arg, mode = args.fer_worker
        fer_worker(Path(clip_arg), Path(out_arg), mode)
        return
    if args.model is None:
        ap.error("--model is required")
    variants = [v for v in args.detectors.split(",") if v] or [""]
    fer_modes = [] if args.skip_fer else [m for m in args.fer.split(",") if m]

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = args.keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        n_faces = max(1, args.frames // args.frames_per_face)
        per_class = n_faces // 7 + 1
        faces = interleave(fer_faces(args.faces, per_class=per_class,
                                     split=args.split or None))[:n_faces]
        clip, truth = face_clip(tmp / "clip.avi", faces, frames_per_face=args.frames_per_face,
                                blank_frames=0, size_range=(150, 230))
        write_truth(tmp / "truth.jsonl", truth)
        model = model_args(args.model, tmp)
        extra = args.edge_fer_args.split()
        print(f"clip: {len(truth)} frames 640x480, {len(faces)} faces x "
              f"{args.frames_per_face} frames, 150-230 px, from {args.faces}")
        print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f} at the start; {platform.python_version()}")
        print(f"versions: {versions()}")
        print(f"edge-fer: `edge-fer run {' '.join(model + extra)}`"
              f"{f' --threads {args.threads}' if args.threads else ''} with "
              f"{', '.join(v or 'its default detector' for v in variants)}; fer: "
              f"{', '.join(fer_modes) or 'skipped'}; {args.repeats} rounds of every tool back "
              f"to back; median by FPS", flush=True)
        # Rounds of every tool back to back: a slow spell of a shared machine then slows
        # them alike, and each round gives one fps ratio per pair.
        runs: dict[str, list[Outcome]] = {}
        for _ in range(args.repeats):
            for variant in variants:
                o = edge_fer_once(clip, model, args.threads, extra, tmp / "edge.jsonl", variant)
                runs.setdefault(o.name, []).append(o)
            for mode in fer_modes:
                o = fer_once(clip, tmp / "fer.json", mode)
                runs.setdefault(o.name, []).append(o)
        report(runs, truth)


def report(runs: dict[str, list[Outcome]], truth: list[list[Placement]]) -> None:
    """The median run of each tool, then each edge-fer variant against fer's pipelines: fps
    (median of the round-by-round ratios) and end-to-end accuracy."""
    outcomes = [median_outcome(r) for r in runs.values()]
    scores = {o.name: score(truth, o.boxes) for o in outcomes}
    width = max(len(o.name) for o in outcomes)
    head = (f"{'tool':{width}} {'fps':>6} {'cover%':>7} {'false':>5} {'acc@cov%':>8} "
            f"{'e2e%':>6} {'CPU ms/f':>8} {'e2e/CPUms':>9} {'RSS MB':>7}  "
            + " ".join(f"{s + ' ms':>11}" for s in STAGES))
    print(head)
    for o in outcomes:
        s = scores[o.name]
        print(f"{o.name:{width}} {o.fps:6.1f} {100 * s.coverage:7.1f} {s.false_detections:5d} "
              f"{100 * s.accuracy_covered:8.1f} {100 * s.accuracy_end_to_end:6.1f} "
              f"{o.cpu_ms_per_frame:8.1f} {100 * s.accuracy_end_to_end / o.cpu_ms_per_frame:9.2f} "
              f"{o.rss_mb:7.0f}  "
              + " ".join(f"{o.stages_ms.get(st, 0.0):11.2f}" for st in STAGES))
    fer_names = [o.name for o in outcomes if o.name.startswith("fer ")]
    for o in outcomes:
        if not o.name.startswith("edge-fer"):
            continue
        for ref in fer_names:
            ratios = [e.fps / f.fps for e, f in zip(runs[o.name], runs[ref])]
            se, sf = scores[o.name], scores[ref]
            acc = (se.accuracy_end_to_end / sf.accuracy_end_to_end if sf.accuracy_end_to_end
                   else float("nan"))
            print(f"{o.name} / {ref}: fps x{statistics.median(ratios):.2f} (rounds "
                  + ", ".join(f"x{r:.2f}" for r in ratios)
                  + f"), end-to-end accuracy x{acc:.2f}")
    for o in outcomes:
        if o.name.startswith("edge-fer"):
            print(f"{o.name} peak RSS {o.rss_mb:.0f} MB (target <= 250 MB): "
                  f"{'ok' if o.rss_mb <= 250 else 'OVER'}")


if __name__ == "__main__":
    main()
