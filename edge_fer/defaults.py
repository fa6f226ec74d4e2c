"""Where the shipped default model and profiles live, and how commands find them."""

from __future__ import annotations

from pathlib import Path

from edge_fer.errors import ModelError

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = PACKAGE_DIR / "models" / "default"
# Preference order on a device: a float export that keeps Keras' accuracy, then Keras itself.
DEFAULT_MODEL_FILES = ("model_fp16.tflite", "model_fp32.tflite", "model.keras")


def default_model() -> Path:
    """The shipped model edge-fer uses when no --model is given."""
    for name in DEFAULT_MODEL_FILES:
        p = DEFAULT_MODEL_DIR / name
        if p.exists():
            return p
    raise ModelError(f"{DEFAULT_MODEL_DIR}: no shipped default model yet; pass --model")
