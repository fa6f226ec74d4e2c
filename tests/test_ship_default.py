"""scripts/ship_default.py refuses, before touching the default, what it cannot describe."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "edge_fer" / "models" / "default"


def test_a_model_trained_on_every_face_needs_its_held_out_twin(tiny_model: Path,
                                                                tmp_path: Path) -> None:
    run = tmp_path / "refit"
    shutil.copytree(tiny_model.parent, run, ignore=shutil.ignore_patterns("checkpoint"))
    card = json.loads((run / "model.card.json").read_text())
    (run / "model.card.json").write_text(json.dumps({**card, "validation": None}))
    before = sorted(p.name for p in DEFAULT.iterdir())
    done = subprocess.run([sys.executable, "scripts/ship_default.py", str(run),
                           "--test", str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert f"{run / 'model.card.json'}: trained on every face" in done.stderr
    assert "--validation-from" in done.stderr
    assert sorted(p.name for p in DEFAULT.iterdir()) == before
    assert not DEFAULT.with_name("default.previous").exists()
    # A "twin" that trained on every face too has no validation to lend.
    done = subprocess.run([sys.executable, "scripts/ship_default.py", str(run),
                           "--test", str(tmp_path), "--validation-from", str(run)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"{run / 'model.card.json'}: has no validation either" in done.stderr
    assert sorted(p.name for p in DEFAULT.iterdir()) == before


def test_no_validation_needs_a_reason_and_excludes_a_twin(tiny_model: Path,
                                                          tmp_path: Path) -> None:
    run = tiny_model.parent
    before = sorted(p.name for p in DEFAULT.iterdir())
    for extra, message in ((["--no-validation", " "], "--no-validation: give the reason"),
                           (["--no-validation", "why", "--validation-from", str(run)],
                            "--no-validation and --validation-from: give one")):
        done = subprocess.run([sys.executable, "scripts/ship_default.py", str(run),
                               "--test", str(tmp_path), *extra], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode != 0
        assert message in done.stderr
        assert sorted(p.name for p in DEFAULT.iterdir()) == before


def test_an_old_cards_rebuilt_command_keeps_the_csv_rows_it_trained_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    from ship_default import _train_command

    card = {"data": {"source": "data/fer2013.csv [PublicTest]"},
            "hyperparameters": {"resolution": 64, "epochs": 3, "not_an_option": 1}}
    words = shlex.split(_train_command(card))
    assert words[words.index("--data") + 1] == "data/fer2013.csv"
    assert words[words.index("--usage") + 1] == "PublicTest"
    assert words[words.index("--epochs") + 1] == "3"
    folder = shlex.split(_train_command({**card, "data": {"source": "data/train"}}))
    assert folder[folder.index("--data") + 1] == "data/train" and "--usage" not in folder
