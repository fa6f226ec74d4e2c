"""Where the shipped default model and profiles live, and how commands find them."""

from __future__ import annotations

from pathlib import Path

from edge_fer.errors import ModelError

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = PACKAGE_DIR / "models" / "default"


def default_model() -> Path:
    """The shipped model edge-fer uses when no --model is given: its manifest, from which
    `load_classifier` opens the preferred export whose runtime is installed (see
    `edge_fer.manifest.PREFERENCE`)."""
    manifest = DEFAULT_MODEL_DIR / "manifest.json"
    if manifest.exists():
        return manifest
    keras_file = DEFAULT_MODEL_DIR / "model.keras"
    if keras_file.exists():
        return keras_file
    raise ModelError(f"{DEFAULT_MODEL_DIR}: no shipped default model; pass --model")
