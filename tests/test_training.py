"""Model building, augmentation, the learning-rate schedule, and a real tiny training run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_fer.card import ModelCard, card_path_for
from edge_fer.classes import CLASS_NAMES
from edge_fer.errors import UserInputError
from edge_fer.training import TrainConfig, learning_rate, rewind_state, train


def test_cosine_schedule_warms_up_then_decays() -> None:
    cfg = TrainConfig(data="x", out="y", epochs=12, warmup_epochs=2, learning_rate=1e-3,
                      min_lr=1e-6)
    lrs = [learning_rate(cfg, e, 1.0) for e in range(12)]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))
    assert lrs[-1] < 1e-4


def test_plateau_schedule_follows_its_scale() -> None:
    cfg = TrainConfig(data="x", out="y", schedule="plateau", warmup_epochs=0, learning_rate=1e-3)
    assert learning_rate(cfg, 5, 0.25) == pytest.approx(2.5e-4)


@pytest.mark.slow
@pytest.mark.parametrize("resolution", [32, 48, 96])
def test_model_is_fully_convolutional(resolution: int) -> None:
    from edge_fer.model import build_model

    model = build_model("efficientnetv2-b0")
    x = np.random.default_rng(0).uniform(0, 255, (2, resolution, resolution, 3)).astype("float32")
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (2, 7)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_output_stride_16_doubles_the_last_stage_and_keeps_every_weight(tmp_path: Path) -> None:
    import tensorflow as tf

    from edge_fer.model import build_model, output_stride, with_output_stride_16

    coarse = build_model("efficientnetv2-b0")
    dense = with_output_stride_16(coarse)
    assert (output_stride(coarse), output_stride(dense)) == (32, 16)
    assert with_output_stride_16(dense) is dense  # not a second stage undone
    assert all(np.array_equal(a, b) for a, b in zip(coarse.get_weights(), dense.get_weights()))
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")

    def features(model: object, layer: str) -> np.ndarray:
        return np.asarray(tf.keras.Model(model.input, model.get_layer(layer).output)(x))

    assert features(coarse, "top_activation").shape[1:3] == (2, 2)
    assert features(dense, "top_activation").shape[1:3] == (4, 4)
    # Where the stride-2 convolution sampled, the dense one computes the same values.
    np.testing.assert_allclose(features(dense, "block6a_dwconv2")[:, 1::2, 1::2],
                               features(coarse, "block6a_dwconv2"), atol=1e-4)
    dense.save(tmp_path / "dense.keras")  # plain Keras layers: loads without custom objects
    loaded = tf.keras.models.load_model(tmp_path / "dense.keras", compile=False)
    assert output_stride(loaded) == 16
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(dense(x)), atol=1e-6)
    with pytest.raises(UserInputError, match="output stride 8"):
        build_model("efficientnetv2-b0", output_stride=8)


def test_unknown_arch_and_missing_weights_file() -> None:
    from edge_fer.model import build_model

    with pytest.raises(UserInputError, match="unknown architecture"):
        build_model("resnet50")
    with pytest.raises(UserInputError, match="weights"):
        build_model("efficientnetv2-b0", weights="/nonexistent/w.h5")


def test_bad_erasing_and_mixup_settings_are_refused(tmp_path: Path) -> None:
    base = {"data": "x", "out": str(tmp_path / "run")}
    with pytest.raises(UserInputError, match="erasing probability 1.5"):
        train(TrainConfig(**base, erase=1.5), echo=lambda s: None)
    with pytest.raises(UserInputError, match="mixup alpha -0.2"):
        train(TrainConfig(**base, mixup=-0.2), echo=lambda s: None)

@pytest.mark.slow
def test_tiny_training_run_writes_loadable_model_and_card(tiny_model: Path) -> None:
    from edge_fer.runtimes import load_classifier

    card = ModelCard.load(card_path_for(tiny_model))
    assert card.arch == "efficientnetv2-b0" and card.resolution == 32
    assert card.class_names == CLASS_NAMES
    assert card.details["data"]["sha256"] and card.details["seed"] == 1
    assert set(card.details["validation"]) >= {"accuracy", "macro_f1", "confusion_matrix"}
    assert card.details["hardware"]["cores"] >= 1
    assert (tiny_model.parent / "checkpoint" / "last.keras").exists()
    with load_classifier(tiny_model) as clf:
        for r in (32, 64):
            clf.set_resolution(r)
            faces = np.random.default_rng(r).integers(0, 255, (3, r, r), dtype=np.uint8)
            probs = clf.predict(faces)
            assert probs.shape == (3, 7)
            assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_a_trained_model_warm_starts_another_at_a_new_resolution(tiny_model: Path,
                                                                  tmp_path: Path) -> None:
    """`--weights MODEL.keras`: every weight, head included, carries over; foreign ones are refused."""
    import tensorflow as tf

    from edge_fer.model import build_model

    trained = tf.keras.models.load_model(tiny_model, compile=False)
    warm = build_model("efficientnetv2-b0", weights=str(tiny_model), resolution=48)
    cold = build_model("efficientnetv2-b0", resolution=48)
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype(np.float32)
    expected = np.asarray(trained(x, training=False))
    assert np.allclose(np.asarray(warm(x, training=False)), expected, atol=1e-5)
    assert not np.allclose(np.asarray(cold(x, training=False)), expected, atol=1e-3)
    with pytest.raises(UserInputError, match="do not match"):
        build_model("efficientnetv2-b1", weights=str(tiny_model))
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(UserInputError, match="broken.keras: cannot load Keras model"):
        build_model("efficientnetv2-b0", weights=str(broken))


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(tmp_path: Path, fer_root: Path) -> None:
    cfg = TrainConfig(data=str(fer_root / "train"), out=str(tmp_path), resolution=32, epochs=1,
                      batch_size=32, limit=150, warmup_epochs=0, augment="none", seed=2)
    train(cfg, echo=lambda s: None)
    with pytest.raises(UserInputError, match="--resume"):
        train(cfg, echo=lambda s: None)
    lines: list[str] = []
    longer = TrainConfig(**{**cfg.__dict__, "epochs": 2})
    train(longer, resume=True, echo=lines.append)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert any(s.startswith("resuming after epoch 1 (best val macro-F1 0.") for s in lines)
    assert (tmp_path / "history.csv").read_text().count("\n") == 3
    other_res = TrainConfig(**{**cfg.__dict__, "epochs": 3, "resolution": 48})
    with pytest.raises(UserInputError, match="same settings"):
        train(other_res, resume=True, echo=lambda s: None)
    other_stride = TrainConfig(**{**cfg.__dict__, "epochs": 3, "output_stride": 16})
    with pytest.raises(UserInputError, match="output stride 32; resume with the same settings"):
        train(other_stride, resume=True, echo=lambda s: None)


@pytest.mark.slow
def test_with_nothing_held_out_every_face_trains_and_the_last_epoch_is_kept(
        tmp_path: Path, fer_root: Path) -> None:
    """--val-fraction 0 (the refit of a recipe chosen on a split): no validation, last epoch kept."""
    import keras

    cfg = TrainConfig(data=str(fer_root / "train"), out=str(tmp_path), resolution=32, epochs=2,
                      batch_size=32, limit=150, warmup_epochs=0, augment="none", seed=4,
                      val_fraction=0.0)
    lines: list[str] = []
    train(cfg, echo=lines.append)
    assert any("150 train, 0 validation faces" in s for s in lines)
    card = ModelCard.load(card_path_for(tmp_path / "model.keras"))
    assert card.details["validation"] is None
    assert card.details["training"]["best_epoch"] == 2
    assert sum(card.details["data"]["train_counts"].values()) == 150
    assert "--val-fraction 0.0" in card.details["command"]
    kept = keras.models.load_model(tmp_path / "model.keras", compile=False)
    last = keras.models.load_model(tmp_path / "checkpoint" / "last.keras", compile=False)
    for a, b in zip(kept.weights, last.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert (tmp_path / "history.csv").read_text().splitlines()[1].split(",")[4:6] == ["", ""]
    resumed: list[str] = []
    train(TrainConfig(**{**cfg.__dict__, "epochs": 3}), resume=True, echo=resumed.append)
    assert "resuming after epoch 2" in resumed  # no "best val macro-F1 -1.0000": nothing scored
    assert ModelCard.load(card_path_for(tmp_path / "model.keras")).details["training"][
        "best_epoch"] == 3


@pytest.mark.slow
def test_a_fer2013_csv_trains_on_its_training_rows_unless_told(tmp_path: Path,
                                                               fer_root: Path) -> None:
    """The Kaggle CSV holds the test splits too: they are read only when --usage names them."""
    import cv2

    files = sorted((fer_root / "train" / "happy").glob("*.png"))[:30]
    rows = ["emotion,pixels,Usage"]
    for i, f in enumerate(files):
        pixels = " ".join(map(str, cv2.imread(str(f), cv2.IMREAD_GRAYSCALE).ravel()))
        rows.append(f"{i % 7},{pixels},{'Training' if i < 20 else 'PrivateTest'}")
    csv_file = tmp_path / "fer2013.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    common = dict(data=str(csv_file), resolution=32, epochs=1, batch_size=32, warmup_epochs=0,
                  augment="none", val_fraction=0.0)
    lines: list[str] = []
    train(TrainConfig(out=str(tmp_path / "default"), **common), echo=lines.append)
    assert any(f"20 train, 0 validation faces from {csv_file} [Training]" in s for s in lines)
    card = ModelCard.load(card_path_for(tmp_path / "default" / "model.keras"))
    assert card.details["data"]["source"] == f"{csv_file} [Training]"
    lines.clear()
    train(TrainConfig(out=str(tmp_path / "test"), usage="PrivateTest", **common),
          echo=lines.append)
    assert any("10 train, 0 validation faces" in s for s in lines)


@pytest.mark.slow
def test_resume_from_the_best_weights_alone(tmp_path: Path, fer_root: Path) -> None:
    """A run restored from a shipped model has no optimizer checkpoint: it goes on from the best epoch."""
    cfg = TrainConfig(data=str(fer_root / "train"), out=str(tmp_path), resolution=32, epochs=2,
                      batch_size=32, limit=150, warmup_epochs=0, augment="none", seed=3)
    train(cfg, echo=lambda s: None)
    ckpt = tmp_path / "checkpoint"
    best = json.loads((ckpt / "state.json").read_text())["best_epoch"]
    (ckpt / "last.keras").unlink()
    lines: list[str] = []
    train(TrainConfig(**{**cfg.__dict__, "epochs": 3}), resume=True, echo=lines.append)
    assert any(f"resuming after epoch {best} from the best weights" in s for s in lines)
    state = json.loads((ckpt / "state.json").read_text())
    assert state["epoch"] == 3
    assert [row["epoch"] for row in state["history"]] == list(range(1, 4))
    assert (tmp_path / "history.csv").read_text().count("\n") == 4
    (ckpt / "last.keras").unlink()
    (tmp_path / "model.keras").unlink()
    with pytest.raises(UserInputError, match="nothing to resume"):
        train(TrainConfig(**{**cfg.__dict__, "epochs": 4}), resume=True, echo=lambda s: None)


def test_rewinding_restores_the_best_epochs_learning_rate_state() -> None:
    """Plateau halvings after the best epoch are undone with the epochs that made them."""
    rows = [{"epoch": e, "seconds": 10.0} for e in range(1, 13)]
    state = {"epoch": 12, "best_f1": 0.5, "best_epoch": 4, "best_plateau_scale": 0.5,
             "plateau_scale": 0.125, "since_best": 8, "history": rows, "wall_s": 120.0}
    rewound = rewind_state(state)
    assert (rewound["epoch"], rewound["since_best"], rewound["plateau_scale"]) == (4, 0, 0.5)
    assert [r["epoch"] for r in rewound["history"]] == [1, 2, 3, 4]
    assert rewound["wall_s"] == pytest.approx(40.0)
    older = {k: v for k, v in state.items() if k != "best_plateau_scale"}
    assert rewind_state(older)["plateau_scale"] == 0.125  # all an older state can say


def test_the_card_command_reproduces_the_configuration() -> None:
    import shlex

    from edge_fer.commands.train import command
    from edge_fer.training import TrainConfig, train_command

    cfg = TrainConfig(data="../shared/data/fer2013/train", out="runs/a b", resolution=96,
                      epochs=60, augment="medium", learning_rate=5e-4, limit=500,
                      output_stride=16, erase=0.5, mixup=0.2, resolutions=(48, 96, 128))
    words = shlex.split(train_command(cfg))
    assert words[:2] == ["edge-fer", "train"]
    params = command.make_context("train", words[2:]).params
    for key, value in vars(cfg).items():
        if key != "min_lr":  # not an option
            assert params[key] == value, key


def test_targets_mix_the_smoothed_label_with_the_teachers_probabilities() -> None:
    from edge_fer.training import training_targets

    labels = np.array([0, 3])
    plain = training_targets(labels, 0.1)
    k = len(CLASS_NAMES)
    assert plain[0, 0] == pytest.approx(0.9 + 0.1 / k) and plain[0, 1] == pytest.approx(0.1 / k)
    teacher = np.full((2, k), 1.0 / k, np.float32)
    teacher[1] = 0.0
    teacher[1, 5] = 1.0  # the teacher disagrees with the second label
    mixed = training_targets(labels, 0.1, teacher, distill=0.25)
    np.testing.assert_allclose(mixed, 0.75 * plain + 0.25 * teacher, rtol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    assert mixed[1, 5] == pytest.approx(0.25 + 0.75 * 0.1 / k)
    with pytest.raises(ValueError, match="teacher probabilities"):
        training_targets(labels, 0.1, teacher[:1], distill=0.5)


@pytest.mark.slow
def test_a_multi_resolution_run_records_accuracy_at_each_size(tmp_path: Path,
                                                              fer_root: Path) -> None:
    """Seed 2 draws one size for the first two batches of its first epoch (before batch 1 was made to
    differ, Keras on TensorFlow pinned the input shape to it and the next size ended the run)."""
    cfg = TrainConfig(data=str(fer_root / "train"), out=str(tmp_path / "run"), resolution=48,
                      resolutions=(32, 64), epochs=1, batch_size=32, limit=200, augment="light",
                      warmup_epochs=0, seed=2)
    card = ModelCard.load(card_path_for(train(cfg, echo=lambda s: None)))
    table = card.accuracy
    assert table is not None
    held_out = sum(card.details["data"]["val_counts"].values())
    assert table.split == "validation" and table.faces == held_out > 0
    assert table.sizes("none") == [32, 48, 64]
    assert all(0.0 <= p.accuracy <= 1.0 for p in table.rows)
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    assert {"val_acc_32", "val_acc_48", "val_acc_64"} <= set(header)


def test_a_bad_teacher_is_refused_before_training(tmp_path: Path) -> None:
    base = {"data": "x", "out": str(tmp_path / "run")}
    with pytest.raises(UserInputError, match="missing.keras: no such teacher model"):
        train(TrainConfig(**base, teacher=str(tmp_path / "missing.keras")), echo=lambda s: None)
    with pytest.raises(UserInputError, match="unknown tta 'mirror'"):
        train(TrainConfig(**base, teacher_tta="mirror"), echo=lambda s: None)
    with pytest.raises(UserInputError, match="distillation weight 1.5"):
        train(TrainConfig(**base, distill=1.5), echo=lambda s: None)


@pytest.mark.slow
def test_a_run_distils_a_teacher(tmp_path: Path, fer_root: Path, tiny_model: Path) -> None:
    """--teacher labels every training face once; the card and its command record it."""
    cfg = TrainConfig(data=str(fer_root / "train"), out=str(tmp_path), resolution=32, epochs=1,
                      batch_size=32, limit=150, warmup_epochs=0, augment="none", seed=5,
                      val_fraction=0.0, teacher=str(tiny_model), teacher_tta="flip",
                      distill=0.7)
    lines: list[str] = []
    train(cfg, echo=lines.append)
    assert any(s.startswith(f"teacher {tiny_model} (tta flip): labelled 150 faces") for s in lines)
    card = ModelCard.load(card_path_for(tmp_path / "model.keras"))
    assert card.details["hyperparameters"]["teacher"] == str(tiny_model)
    assert card.details["hyperparameters"]["distill"] == 0.7
    assert f"--teacher {tiny_model} --teacher-tta flip --distill 0.7" in card.details["command"]
    cached = np.load(tmp_path / "checkpoint" / "teacher_probs.npy")
    assert cached.shape == (150, len(CLASS_NAMES))
    np.testing.assert_allclose(cached.sum(axis=1), 1.0, rtol=1e-4)
    resumed: list[str] = []
    train(TrainConfig(**{**cfg.__dict__, "epochs": 2}), resume=True, echo=resumed.append)
    assert f"teacher probabilities: {tmp_path / 'checkpoint' / 'teacher_probs.npy'}" in resumed
    assert not any(s.startswith("teacher ") and "labelled" in s for s in resumed)
