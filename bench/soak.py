"""Soak: the real `edge-fer run` for N minutes at a capped frame rate, watched from outside.

Loops a generated clip of real FER2013 faces (or --source) through `edge-fer run --loop
--max-fps F`, and every --every seconds prints the process's RSS, threads and open file
descriptors (from /proc) with the frames, faces and dropped/undecodable frames of its latest
summary record. At the end: RSS growth from the end of the warm-up to the end of the run
(the median of the first and of the last five samples after warm-up; target < 5%).

    .venv/bin/python bench/soak.py --minutes 60 --fps 5 [--model MODEL] [--source SRC]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_fer.synthetic import face_clip, fer_faces  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "fer2013"
WINDOW = 5  # samples whose median stands for the start and for the end


def proc_figures(pid: int) -> dict[str, int]:
    """RSS, its anonymous part (KiB) and threads from /proc/PID/status, open descriptors from
    /proc/PID/fd. A leak grows RssAnon; VmRSS also moves when the kernel reclaims the pages of
    mapped libraries under memory pressure (another job on the box)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "Threads"):
            out[key] = int(value.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def last_summary(log: Path) -> dict[str, Any]:
    """The newest summary record of the log (reads only its tail)."""
    with log.open("rb") as f:
        f.seek(max(0, log.stat().st_size - 65536))
        lines = f.read().decode(errors="replace").splitlines()
    for line in reversed(lines):
        if '"type":"summary"' in line:
            try:
                return dict(json.loads(line))
            except json.JSONDecodeError:
                continue
    return {}


def growth(rss: list[int]) -> float:
    """Percent change from the median of the first WINDOW samples to that of the last."""
    k = min(WINDOW, max(1, len(rss) // 2))
    start, end = statistics.median(rss[:k]), statistics.median(rss[-k:])
    return 100.0 * (end - start) / start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=5.0, help="--max-fps of the run")
    ap.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=120.0, help="seconds before the baseline")
    ap.add_argument("--model", help="edge-fer run --model [default: the shipped model]")
    ap.add_argument("--source", help="a video, camera or URL [default: a generated clip]")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FER2013 folders")
    ap.add_argument("--args", default="", help="more `edge-fer run` options, quoted")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="edge-fer-soak-"))
    source = args.source
    if source is None:
        clip, _ = face_clip(work / "soak.avi", fer_faces(args.data, per_class=2),
                            frames_per_face=5, blank_frames=2)
        source = str(clip)
    log = work / "soak.jsonl"
    cmd = [sys.executable, "-m", "edge_fer", "run", "--source", source, "--loop",
           "--max-fps", str(args.fps), "--log", str(log), "--summary-interval",
           str(min(args.every, 60.0)), *(["--model", args.model] if args.model else []),
           *args.args.split()]
    err = (work / "soak.err").open("w")  # a file, not a pipe: nobody reads it while it runs
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=err, text=True)
    print(f"soak: pid {proc.pid}, {args.minutes:g} min at <= {args.fps:g} fps, log {log}",
          flush=True)
    print(f"{'t_s':>7} {'rss_mib':>8} {'anon_mib':>8} {'threads':>7} {'fds':>4} {'frames':>8} {'fps':>6} "
          f"{'faces':>7} {'dropped':>7} {'undecodable':>11}", flush=True)
    started = time.monotonic()
    rss_after_warmup: list[int] = []
    anon_after_warmup: list[int] = []
    try:
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(args.every)
            if proc.poll() is not None:
                print(f"soak: edge-fer exited {proc.returncode}: "
                      f"{(work / 'soak.err').read_text()[-2000:]}", file=sys.stderr)
                return 1
            t = time.monotonic() - started
            fig = proc_figures(proc.pid)
            s = last_summary(log) if log.exists() else {}
            if t >= args.warmup:
                rss_after_warmup.append(fig["VmRSS"])
                anon_after_warmup.append(fig["RssAnon"])
            print(f"{t:7.0f} {fig['VmRSS'] / 1024:8.1f} {fig['RssAnon'] / 1024:8.1f} "
                  f"{fig['Threads']:7d} {fig['fds']:4d} "
                  f"{s.get('frames_total', 0):8d} {s.get('fps', 0):6.2f} "
                  f"{s.get('faces_total', 0):7d} {s.get('frames_dropped', 0):7d} "
                  f"{s.get('frames_undecodable', 0):11d}", flush=True)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        err.close()
    if len(rss_after_warmup) >= 2:
        print(f"soak: RSS after warm-up {rss_after_warmup[0] / 1024:.1f} -> "
              f"{rss_after_warmup[-1] / 1024:.1f} MiB, growth {growth(rss_after_warmup):+.2f}%; "
              f"anonymous {anon_after_warmup[0] / 1024:.1f} -> {anon_after_warmup[-1] / 1024:.1f} "
              f"MiB, growth {growth(anon_after_warmup):+.2f}% "
              f"(median of the first and last {min(WINDOW, len(rss_after_warmup) // 2 or 1)} "
              f"of {len(rss_after_warmup)} samples; exit {proc.returncode})", flush=True)
    else:
        print("soak: too short for a figure after the warm-up", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
