"""scripts/average_weights.py: the mean of runs' weights, scored and described in its card."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "average_weights.py"


def _copy_run(tiny_model: Path, dest: Path, shift: float = 0.0) -> Path:
    """A run folder holding the tiny model with every float weight moved by `shift`."""
    import keras

    dest.mkdir()
    shutil.copy(tiny_model.with_name("model.card.json"), dest / "model.card.json")
    model = keras.models.load_model(tiny_model, compile=False)
    for w in model.weights:
        if np.issubdtype(w.dtype, np.floating) and "variance" not in w.path:
            w.assign(w.numpy() + shift)
    model.save(dest / "model.keras")
    return dest


def _run(*args: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_mean_of_two_runs_is_their_weights_mean_with_its_own_validation(
        tiny_model: Path, tmp_path: Path) -> None:
    import keras

    a = _copy_run(tiny_model, tmp_path / "a")
    b = _copy_run(tiny_model, tmp_path / "b", shift=0.02)
    done = _run(tmp_path / "soup", a, b)
    assert done.returncode == 0, done.stderr[-2000:]
    soup = keras.models.load_model(tmp_path / "soup" / "model.keras", compile=False)
    first = keras.models.load_model(a / "model.keras", compile=False)
    kernel = next(i for i, w in enumerate(first.weights) if w.path.endswith("kernel"))
    np.testing.assert_allclose(soup.weights[kernel].numpy(),
                               first.weights[kernel].numpy() + 0.01, atol=1e-6)
    card = json.loads((tmp_path / "soup" / "model.card.json").read_text())
    assert [r["run"] for r in card["averaged_from"]] == [str(a), str(b)]
    assert "scripts/average_weights.py" in card["command"]
    assert card["training"]["averaged_runs"] == 2  # not the first run's epochs
    assert card["validation"]["n"] == json.loads((a / "model.card.json").read_text())["validation"]["n"]
    assert 0.0 <= card["validation"]["accuracy"] <= 1.0


def test_runs_of_different_resolutions_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for run in (a, b):
        shutil.copytree(tiny_model.parent, run, ignore=shutil.ignore_patterns("checkpoint"))
    card = json.loads((b / "model.card.json").read_text())
    (b / "model.card.json").write_text(json.dumps({**card, "resolution": 64}))
    done = _run(tmp_path / "soup", a, b)
    assert done.returncode != 0
    assert f"{b}: differs from {a} in resolution" in done.stderr
    assert not (tmp_path / "soup").exists()


@pytest.mark.slow
def test_last_averages_the_last_epochs_and_scores_the_mean(tiny_model: Path, tmp_path: Path) -> None:
    """--last: the held-out twin of a refit on every face, made of each run's last epoch."""
    import keras

    runs = []
    for name, shift in (("a", 0.0), ("b", 0.04)):
        run = tmp_path / name
        shutil.copytree(tiny_model.parent, run)
        last = keras.models.load_model(run / "checkpoint" / "last.keras", compile=False)
        for w in last.weights:
            if np.issubdtype(w.dtype, np.floating) and "variance" not in w.path:
                w.assign(w.numpy() + shift)
        last.save(run / "checkpoint" / "last.keras")
        (run / "model.keras").unlink()  # the best epoch must not be what is read
        runs.append(run)
    done = _run(tmp_path / "soup", *runs, Path("--last"))
    assert done.returncode == 0, done.stderr[-2000:]
    soup = keras.models.load_model(tmp_path / "soup" / "model.keras", compile=False)
    first = keras.models.load_model(runs[0] / "checkpoint" / "last.keras", compile=False)
    kernel = next(i for i, w in enumerate(first.weights) if w.path.endswith("kernel"))
    np.testing.assert_allclose(soup.weights[kernel].numpy(),
                               first.weights[kernel].numpy() + 0.02, atol=1e-6)
    card = json.loads((tmp_path / "soup" / "model.card.json").read_text())
    assert [(r["epoch_taken"], r["validation"]) for r in card["averaged_from"]] == [("last", None)] * 2
    assert card["command"].endswith("--last")
    assert 0.0 <= card["validation"]["accuracy"] <= 1.0


@pytest.mark.slow
def test_a_mean_can_be_averaged_with_a_run(tiny_model: Path, tmp_path: Path) -> None:
    """The shipped default is a mean: averaging a fine-tune of it with it must work."""
    a = _copy_run(tiny_model, tmp_path / "a")
    b = _copy_run(tiny_model, tmp_path / "b", shift=0.02)
    assert _run(tmp_path / "soup", a, b).returncode == 0
    c = _copy_run(tiny_model, tmp_path / "c", shift=0.04)
    done = _run(tmp_path / "soup2", c, tmp_path / "soup")
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((tmp_path / "soup2" / "model.card.json").read_text())
    taken = [(r["run"], r["epoch_taken"], r["epoch"]) for r in card["averaged_from"]]
    assert taken[1] == (str(tmp_path / "soup"), "mean", None)
    assert taken[0][1] == "best"
