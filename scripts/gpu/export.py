"""On the GPU machine: each run's chosen weights as float16 (16 MiB a file comes back).

Usage: export.py OUT_DIR RUN_DIR...; scripts/gpu/restore.py makes a model.keras of each.
"""
import sys
from pathlib import Path

import numpy as np

from edge_fer.runtimes.keras_runtime import load_keras_model

for run in sys.argv[2:]:
    p = Path(run) / "model.keras"
    if not p.exists():
        print("no model in", run)
        continue
    w = load_keras_model(p).get_weights()
    np.savez(Path(sys.argv[1]) / f"{Path(run).name}_fp16.npz", *[a.astype(np.float16) for a in w])
    print("exported", run, len(w))
