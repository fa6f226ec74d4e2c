"""Here, after a GPU run: a run's float16 weights and card back into a model.keras and card.

Usage: restore.py WEIGHTS_FP16_NPZ RUN_CARD_JSON OUT_DIR
"""
import shutil
import sys
from pathlib import Path

import numpy as np

from edge_fer.card import ModelCard
from edge_fer.model import build_model, save_for_inference

weights, card_file, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
card = ModelCard.load(card_file)
stride = int(card.details.get("hyperparameters", {}).get("output_stride", 32))
model = build_model(card.arch, len(card.class_names), "none", resolution=card.resolution,
                    output_stride=stride)
arrays = np.load(weights)
model.set_weights([arrays[f"arr_{i}"].astype(np.float32) for i in range(len(arrays.files))])
out.mkdir(parents=True, exist_ok=True)
save_for_inference(model, out / "model.keras")
shutil.copy(card_file, out / "model.card.json")
print(out / "model.keras")
