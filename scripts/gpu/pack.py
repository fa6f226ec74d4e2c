"""Pack what a lent GPU machine needs to train into .gpu/ (git-ignored; carried by the call).

The machine reaches no network and takes 64 MiB a call with the working tree, so: the
training faces as lossless PNG strips of 1,000 (47 MB; the same pixels, names and order, so
the card's data fingerprint matches), the warm-start weights as float16 (12 MB), and the
Keras wheels its image lacks. The tracked model files must not travel with them: see
docs/train.md, "On a GPU".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

WHEELS = ("keras==3.15.1", "namex", "optree")


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        sys.exit(f"pack: {path}: cannot read this image")
    return image


def pack_faces(root: Path, out: Path) -> int:
    names = [f"{d.name}/{f.name}" for d in sorted(p for p in root.iterdir() if p.is_dir())
             for f in sorted(f for f in d.iterdir() if f.suffix.lower() == ".png")]
    faces = np.stack([_read(root / n) for n in names])
    if faces.shape[1:] != (48, 48):
        sys.exit(f"pack: {root}: faces are {faces.shape[1:]}, not 48x48")
    out.mkdir(parents=True, exist_ok=True)
    for k, i in enumerate(range(0, len(faces), 1000)):
        ok, buf = cv2.imencode(".png", faces[i:i + 1000].reshape(-1, 48),
                               [cv2.IMWRITE_PNG_COMPRESSION, 9])
        (out / f"chunk{k:03d}.png").write_bytes(buf.tobytes())
    (out / "names.json").write_text(json.dumps(names))
    return len(names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/fer2013/train"))
    ap.add_argument("--init", type=Path, default=Path("edge_fer/models/default/model.keras"))
    ap.add_argument("--out", type=Path, default=Path(".gpu"))
    args = ap.parse_args()
    print("faces:", pack_faces(args.data, args.out / "data"))
    from edge_fer.runtimes.keras_runtime import load_keras_model

    weights = load_keras_model(args.init).get_weights()
    np.savez(args.out / "init_fp16.npz", *[w.astype(np.float16) for w in weights])
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                    *[f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64",
                                                  "manylinux_2_17_x86_64", "manylinux2014_x86_64")],
                    "-d", str(args.out / "whl"), *WHEELS], check=True)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{args.out}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
