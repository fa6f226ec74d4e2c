"""Measure a converted model's accuracy against resolution and write it into its manifest.

    .venv/bin/python scripts/accuracy_table.py edge_fer/models/default --data ../shared/data/fer2013/test

The table (each of --sizes under each of --tta) goes into the manifest entry of the file it
was measured on, replacing the one the export copied from its Keras card; `edge-fer profile`
then picks the size with the best expected accuracy within a latency budget.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from edge_fer.accuracy import TABLE_SIZES
from edge_fer.data import load_dataset
from edge_fer.errors import run_script
from edge_fer.evaluation import accuracy_table
from edge_fer.manifest import Manifest
from edge_fer.tta import TTA_MODES


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, help="a folder with manifest.json (edge-fer convert --out)")
    ap.add_argument("--data", required=True, help="labelled faces (the test split for a default)")
    ap.add_argument("--split", default="test", help="what --data is, recorded in the table")
    ap.add_argument("--sizes", type=_ints, default=TABLE_SIZES)
    ap.add_argument("--tta", default="model,none",
                    help="comma-separated TTA modes; model = the manifest entry's own")
    ap.add_argument("--limit", type=int, help="a stratified sample of N faces")
    ap.add_argument("--threads", type=int)
    args = ap.parse_args(argv)
    manifest_file = args.folder / "manifest.json"
    manifest = Manifest.load(manifest_file)
    preferred = manifest.preferred()
    if not preferred:
        sys.exit(f"accuracy_table: {manifest_file}: no verified export")
    ttas = list(dict.fromkeys(preferred[0].tta if t == "model" else t
                              for t in args.tta.split(",")))
    unknown = [t for t in ttas if t not in TTA_MODES]
    if unknown:
        sys.exit(f"accuracy_table: --tta: unknown mode {unknown[0]!r}")
    data = load_dataset(args.data, limit=args.limit)
    # Every export of the preferred format: per-size exports (convert --resolutions) each get
    # their own table, which the profile and the loader compare size by size.
    files = list(dict.fromkeys(a.file for a in preferred if a.format == preferred[0].format))
    sizes = tuple(sorted({*args.sizes, *(a.resolution for a in preferred if a.file in files)}))
    for file in files:
        artifact = next(a for a in preferred if a.file == file)
        print(f"{args.folder / file}: {len(data)} faces, sizes {sizes}, tta {ttas}")
        table = accuracy_table(args.folder / file, data, sizes, ttas, args.split,
                               artifact.runtime, args.threads, progress=print)
        manifest = replace(manifest, artifacts=tuple(
            replace(a, accuracy=table) if a.file == file else a for a in manifest.artifacts))
        manifest.save(manifest_file)
        print(f"wrote the table into {manifest_file} ({file})")
    return 0


if __name__ == "__main__":
    run_script(main)
