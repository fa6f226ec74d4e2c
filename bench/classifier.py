"""Classifier latency: every runtime and format x resolutions x batch 1 and 4 x 1 and all threads.

Takes a folder made by `edge-fer convert` (its manifest.json lists the formats) or a .keras
model, which is converted first (all formats). Each cell: warm-up calls, then the median and
90th percentile of timed calls on a batch of real-sized uint8 face crops, under the
file's TTA as the camera loop runs it on one frame (one framing of each face and its mirror).

    .venv/bin/python bench/classifier.py --model MODEL_DIR_OR_KERAS [--resolutions 48,64,96]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_fer.errors import EdgeFerError  # noqa: E402
from edge_fer.manifest import Manifest  # noqa: E402
from edge_fer.runtimes import load_classifier  # noqa: E402
from edge_fer.runtimes.base import SUFFIXES, Classifier, read_model_info  # noqa: E402
from edge_fer.tta import classify_framings  # noqa: E402


def percentile_ms(times: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(times) * 1000, q))


def time_predict(classifier: Classifier, batch: np.ndarray, warmup: int, runs: int) -> list[float]:
    tta = classifier.info.tta

    def frame() -> None:  # a frame's share of the TTA (every framing costs the same)
        classify_framings(tta, classifier.infer, batch)

    for _ in range(warmup):
        frame()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        frame()
        times.append(time.perf_counter() - t0)
    return times


def models(path: Path, tmp: Path) -> tuple[list[tuple[str, str, Path]], int]:
    """(format, runtime, file) for every artifact, the Keras source included; native px."""
    if path.suffix == ".keras":
        out = tmp / "converted"
        print(f"converting {path} -> {out} (all formats) ...", flush=True)
        subprocess.run([sys.executable, "-m", "edge_fer", "convert", "--model", str(path),
                        "--out", str(out), "--samples", "100", "--calibration-samples", "100"],
                       cwd=REPO, check=False)
        path = out
    if path.suffix in SUFFIXES and path.suffix != ".json":
        info = read_model_info(path)
        return [(path.name, SUFFIXES[path.suffix], path)], info.resolution
    manifest_file = path / "manifest.json" if path.is_dir() else path
    manifest = Manifest.load(manifest_file)
    rows = [(a.format, a.runtime, manifest_file.parent / a.file) for a in manifest.artifacts]
    keras = Path(manifest.source) if manifest.source else None
    if keras is not None and not keras.is_absolute():
        keras = manifest_file.parent / keras
    if keras is not None and keras.exists():
        rows.append(("keras", "keras", keras))
    native = manifest.artifacts[0].resolution if manifest.artifacts else 96
    return rows, native


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True,
                    help="a folder (or manifest.json) from `edge-fer convert`, or a .keras")
    ap.add_argument("--resolutions", default="",
                    help="comma-separated px [default: 48, 64 and the model's own]")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--threads", default=f"1,{os.cpu_count() or 1}")
    ap.add_argument("--formats", default="", help="only these formats (comma-separated)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rows, native = models(args.model, Path(tmp))
        wanted = set(filter(None, args.formats.split(",")))
        rows = [r for r in rows if not wanted or r[0] in wanted]
        resolutions = ([int(v) for v in args.resolutions.split(",")] if args.resolutions
                       else sorted({48, 64, native}))
        batches = [int(v) for v in args.batches.split(",")]
        threads = sorted({int(v) for v in args.threads.split(",")})
        print(f"{len(rows)} formats; median / p90 ms per frame batch after {args.warmup} warm-up "
              f"calls, {args.runs} timed; {os.cpu_count()} CPUs")
        print(f"{'format':14} {'px':>4} {'batch':>5} {'thr':>3} {'median':>8} {'p90':>8} "
              f"{'ms/face':>8}")
        rng = np.random.default_rng(0)
        for fmt, runtime, file in rows:
            for n_threads in threads:
                for px in resolutions:
                    try:
                        classifier = load_classifier(file, runtime, n_threads, px)
                    except EdgeFerError as e:
                        print(f"{fmt:14} {px:4d}   -- skipped: {e}")
                        continue
                    with classifier:
                        for batch in batches:
                            faces = rng.integers(0, 256, (batch, px, px), dtype=np.uint8)
                            times = time_predict(classifier, faces, args.warmup, args.runs)
                            med = percentile_ms(times, 50)
                            print(f"{fmt:14} {px:4d} {batch:5d} {n_threads:3d} {med:8.2f} "
                                  f"{percentile_ms(times, 90):8.2f} {med / batch:8.2f}",
                                  flush=True)


if __name__ == "__main__":
    main()
