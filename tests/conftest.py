"""Shared fixtures: the real FER2013 folders beside the repo, and one tiny real trained model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FER_ROOT = Path(os.environ.get("EDGE_FER_DATA", REPO.parent / "shared" / "data" / "fer2013"))


@pytest.fixture(scope="session")
def fer_root() -> Path:
    """../shared/data/fer2013 (CI has it): tests read real faces, never copies in the repo."""
    if not (FER_ROOT / "train").is_dir():
        pytest.fail(f"FER2013 not found at {FER_ROOT} (set EDGE_FER_DATA)")
    return FER_ROOT


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, fer_root: Path) -> Path:
    """A real EfficientNetV2-B0 trained for one epoch on 300 faces at 32 px, with its card.

    Its accuracy is near chance; tests use it for shapes, formats and plumbing, not quality.
    """
    from edge_fer.training import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny_model")
    cfg = TrainConfig(data=str(fer_root / "train"), out=str(out), resolution=32, epochs=1,
                      batch_size=32, limit=300, augment="light", warmup_epochs=0, seed=1)
    return train(cfg, echo=lambda s: None)


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, fer_root: Path) -> Path:
    """`tiny_model` converted once per session to every format, verified, with manifest.json."""
    from converters.convert import ConvertConfig, convert
    from converters.formats import parse_formats

    out = tmp_path_factory.mktemp("converted")
    cfg = ConvertConfig(model=tiny_model, out=out, formats=tuple(parse_formats("all")),
                        calibration=fer_root / "train", calibration_samples=100,
                        verify_data=fer_root / "test", samples=100)
    convert(cfg, echo=lambda s: None)
    return out
