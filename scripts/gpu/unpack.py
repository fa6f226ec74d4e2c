"""On the GPU machine: the packed faces back into their folder tree, and the warm-start model.

Usage: unpack.py FACES_DIR INIT_KERAS [PACK_DIR]
"""
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

pack = Path(sys.argv[3] if len(sys.argv) > 3 else ".gpu")
dest = Path(sys.argv[1])
names = json.loads((pack / "data" / "names.json").read_text())
chunks = sorted((pack / "data").glob("chunk*.png"))
faces = np.concatenate([np.asarray(cv2.imread(str(c), cv2.IMREAD_GRAYSCALE)).reshape(-1, 48, 48)
                        for c in chunks])
assert len(faces) == len(names), (len(faces), len(names))
for d in {n.split("/")[0] for n in names}:
    (dest / d).mkdir(parents=True, exist_ok=True)
with ThreadPoolExecutor(16) as pool:
    list(pool.map(lambda i: cv2.imwrite(str(dest / names[i]), faces[i]), range(len(names))))
print("faces written:", len(names))

from edge_fer.model import build_model, save_for_inference  # noqa: E402

init = np.load(pack / "init_fp16.npz")
model = build_model("efficientnetv2-b0", 7, "none", 0.3, 64, output_stride=16)
model.set_weights([init[f"arr_{i}"].astype(np.float32) for i in range(len(init.files))])
save_for_inference(model, sys.argv[2])
print("init model:", sys.argv[2])
