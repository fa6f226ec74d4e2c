"""Shared fixtures: the real FER2013 folders beside the repo, and one tiny real trained model.

Two rules keep `pytest -m "not slow"` fast (README's test command runs everything):
a test that uses a trained or converted model is `slow` (added here from its fixtures, so a
new test cannot forget it), and a test not marked `slow` fails if it loads TensorFlow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FER_ROOT = Path(os.environ.get("EDGE_FER_DATA", REPO.parent / "shared" / "data" / "fer2013"))


# Fixtures that train or convert a model: every test using one is slow.
SLOW_FIXTURES = {"tiny_model", "converted"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `-m "not slow"` replaces pyproject's `-m "not hardware"`: hardware tests run only when
    # the marker expression names them (`pytest -m hardware` on a Pi or beside a camera).
    wants_hardware = "hardware" in (config.getoption("markexpr") or "")
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("hardware") is not None and not wants_hardware:
            item.add_marker(pytest.mark.skip(reason="needs a camera or a Raspberry Pi: "
                                                    "run with -m hardware"))


_TF_BEFORE = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_TF_BEFORE] = "tensorflow" in sys.modules


@pytest.hookimpl(trylast=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """A fast test that loads TensorFlow (in its setup or body) fails: mark it slow."""
    if (not item.stash.get(_TF_BEFORE, True) and "tensorflow" in sys.modules
            and item.get_closest_marker("slow") is None):
        pytest.fail(f"{item.nodeid} loads TensorFlow but is not marked slow", pytrace=False)


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
    from edge_fer.converters.convert import ConvertConfig, convert
    from edge_fer.converters.formats import parse_formats

    out = tmp_path_factory.mktemp("converted")
    cfg = ConvertConfig(model=tiny_model, out=out, formats=tuple(parse_formats("all")),
                        calibration=fer_root / "train", calibration_samples=100,
                        verify_data=fer_root / "test", samples=100)
    convert(cfg, echo=lambda s: None)
    return out
