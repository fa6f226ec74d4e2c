"""`edge-fer train`: resumable EfficientNetV2 training on FER data, selected by validation macro-F1
(or, with nothing held out, the last epoch). Workstation or GPU box: needs Keras, on the backend
KERAS_BACKEND names (TensorFlow by default; PyTorch or JAX where a GPU has them).

Layout of the output directory:
  model.keras, model.card.json   the best epoch so far (validation macro-F1) and its card
  checkpoint/last.keras          the last finished epoch, optimizer state included (--resume)
  checkpoint/state.json          epoch, best score, learning-rate state, history
  checkpoint/teacher_probs.npy   with --teacher: its probabilities for every training face
  history.csv                    one row per epoch
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import edge_fer
from edge_fer.accuracy import AccuracyPoint, AccuracyTable
from edge_fer.augment import PRESETS
from edge_fer.batches import BatchRecipe, TrainingBatches
from edge_fer.card import ModelCard, card_path_for
from edge_fer.classes import CLASS_NAMES
from edge_fer.data import FaceDataset, class_weights, load_dataset, train_validation_split, training_usage
from edge_fer.errors import UserInputError
from edge_fer.hardware import machine_summary
from edge_fer.metrics import Metrics, compute_metrics
from edge_fer.preprocess import Preprocessing, prepare_batch, to_model_input
from edge_fer.runtimes.keras_runtime import import_keras
from edge_fer.training_state import load_state, save_state
from edge_fer.tta import parse_tta

log = logging.getLogger(__name__)

CLASS_WEIGHT_MODES = ("inverse", "sqrt", "none")


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    usage: str | None = None  # a FER2013 CSV's rows to train on (None: its Training rows)
    arch: str = "efficientnetv2-b0"
    resolution: int = 64
    # Multi-resolution training: each batch at one of these sizes, drawn at random, so one
    # network serves every size a profile may pick; validation then scores each of them.
    resolutions: tuple[int, ...] = ()
    output_stride: int = 32
    weights: str = "none"
    epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 1e-3
    schedule: str = "cosine"  # cosine (with warm-up) or plateau (reduce on plateau)
    warmup_epochs: int = 2
    min_lr: float = 1e-6
    augment: str = "paper"
    erase: float = 0.0  # random-erasing probability per face (0: off)
    mixup: float = 0.0  # mixup's Beta(alpha, alpha) parameter (0: off)
    class_weights: str = "inverse"
    label_smoothing: float = 0.1
    dropout: float = 0.3
    val_fraction: float = 0.1
    patience: int = 20  # early stopping on validation macro-F1
    seed: int = 0
    limit: int | None = None
    threads: int | None = None
    # Distillation: a trained model (any edge-fer model file) labels every training face once,
    # under its test-time augmentation `teacher_tta`; each face's target is then
    # (1 - distill) x its smoothed label + distill x the teacher's probabilities.
    teacher: str | None = None
    teacher_tta: str = "crops"
    distill: float = 0.5


_OPTION_NAMES = {"learning_rate": "lr"}
_NOT_OPTIONS = ("data", "out", "min_lr")  # min_lr has no option: it is always the default


def train_command(cfg: TrainConfig) -> str:
    """The `edge-fer train` command line that reproduces `cfg` (recorded in the model card)."""
    defaults = TrainConfig(data="", out="")
    words = ["edge-fer", "train", "--data", cfg.data, "--out", cfg.out]
    for key, value in asdict(cfg).items():
        if key in _NOT_OPTIONS or (value == getattr(defaults, key) and key != "resolution"):
            continue
        text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        words += [f"--{_OPTION_NAMES.get(key, key).replace('_', '-')}", text]
    return shlex.join(words)


def learning_rate(cfg: TrainConfig, epoch: int, plateau_scale: float) -> float:
    """Learning rate for a 0-based epoch: linear warm-up, then cosine or plateau-reduced."""
    if epoch < cfg.warmup_epochs:
        return cfg.learning_rate * (epoch + 1) / (cfg.warmup_epochs + 1)
    if cfg.schedule == "plateau":
        return max(cfg.learning_rate * plateau_scale, cfg.min_lr)
    span = max(cfg.epochs - cfg.warmup_epochs, 1)
    t = (epoch - cfg.warmup_epochs) / span
    return cfg.min_lr + 0.5 * (cfg.learning_rate - cfg.min_lr) * (1 + math.cos(math.pi * t))


def _validate(cfg: TrainConfig) -> None:
    if cfg.augment not in PRESETS:
        raise UserInputError(f"unknown augmentation '{cfg.augment}' (choose from {', '.join(PRESETS)})")
    if cfg.class_weights not in CLASS_WEIGHT_MODES:
        raise UserInputError(f"unknown class weighting '{cfg.class_weights}'")
    if cfg.schedule not in ("cosine", "plateau"):
        raise UserInputError(f"unknown schedule '{cfg.schedule}' (cosine or plateau)")
    for r in (cfg.resolution, *cfg.resolutions):
        if r < 32:
            raise UserInputError(f"resolution {r} is too small (EfficientNetV2 needs >= 32)")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise UserInputError("epochs and batch size must be at least 1")
    if not 0.0 <= cfg.erase <= 1.0:
        raise UserInputError(f"erasing probability {cfg.erase} is not in [0, 1]")
    if cfg.mixup < 0.0:
        raise UserInputError(f"mixup alpha {cfg.mixup} is negative")
    if not 0.0 <= cfg.distill <= 1.0:
        raise UserInputError(f"distillation weight {cfg.distill} is not in [0, 1]")
    try:
        parse_tta(cfg.teacher_tta)
    except ValueError as e:
        raise UserInputError(f"teacher {e}") from None
    if cfg.teacher is not None and not Path(cfg.teacher).exists():
        raise UserInputError(f"{cfg.teacher}: no such teacher model")


def _sample_weights(labels: np.ndarray, mode: str) -> np.ndarray:
    if mode == "none":
        return np.ones(len(CLASS_NAMES))
    w = class_weights(labels)
    return np.sqrt(w) if mode == "sqrt" else w


def training_targets(labels: np.ndarray, smoothing: float,
                     teacher_probs: np.ndarray | None = None, distill: float = 0.0) -> np.ndarray:
    """(N, K) float32 targets: each label smoothed, then mixed with a teacher's probabilities."""
    k = len(CLASS_NAMES)
    targets = np.eye(k, dtype=np.float32)[labels] * (1.0 - smoothing) + smoothing / k
    if teacher_probs is not None:
        if teacher_probs.shape != targets.shape:
            raise ValueError(f"teacher probabilities {teacher_probs.shape} for targets "
                             f"{targets.shape}")
        targets = (1.0 - distill) * targets + distill * teacher_probs.astype(np.float32)
    return targets.astype(np.float32)


def teacher_probabilities(cfg: TrainConfig, faces: FaceDataset,
                          echo: Callable[[str], None]) -> np.ndarray:
    """The teacher model's probabilities for every training face, under its TTA.

    Why once, before training: the teacher (an int8 TFLite export with crops TTA labels 26k
    faces in a few minutes) would otherwise cost a forward pass per training step; each
    augmented view of a face takes the teacher's label of the face itself, which the TTA
    already averages over re-framings like the augmentation's."""
    from edge_fer.evaluation import predict_dataset, require_canonical_classes
    from edge_fer.runtimes.base import load_classifier

    assert cfg.teacher is not None
    t0 = time.perf_counter()
    teacher = load_classifier(cfg.teacher, tta=cfg.teacher_tta)
    require_canonical_classes(teacher, f"{cfg.teacher}: the teacher's")
    probs = predict_dataset(teacher, faces, batch_size=64)
    agree = float((probs.argmax(1) == faces.labels).mean())
    echo(f"teacher {cfg.teacher} (tta {cfg.teacher_tta}): labelled {len(faces)} faces in "
         f"{time.perf_counter() - t0:.0f}s, agreeing with {agree:.1%} of their labels")
    return probs


def _teacher_labels(cfg: TrainConfig, faces: FaceDataset, cache: Path, resume: bool,
                    echo: Callable[[str], None]) -> np.ndarray | None:
    """The teacher's probabilities, labelled once per run: a resumed run reads them back."""
    if cfg.teacher is None:
        return None
    if resume and cache.exists():
        probs = np.load(cache)
        if probs.shape == (len(faces), len(CLASS_NAMES)):
            echo(f"teacher probabilities: {cache}")
            return probs
    probs = teacher_probabilities(cfg, faces, echo)
    np.save(cache, probs)
    return probs


def training_batches(data: FaceDataset, cfg: TrainConfig, weights: np.ndarray,
                     targets: np.ndarray) -> TrainingBatches:
    """Shuffled batches of (faces, targets, sample weights), augmented and resized per batch."""
    recipe = BatchRecipe(cfg.batch_size, _trained_sizes(cfg), PRESETS[cfg.augment], cfg.erase,
                         cfg.mixup, cfg.seed)
    return TrainingBatches(data.images, targets, weights[data.labels], recipe)


def _keras_epochs(keras: Any, batches: TrainingBatches, workers: int) -> Any:
    """`batches` as a Keras PyDataset whose epoch the training loop sets (set_epoch), so a
    resumed process goes on with the order of the epoch it resumes at."""

    class Epochs(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8)
            self.set_epoch(0)

        def set_epoch(self, epoch: int) -> None:
            self.epoch, self.order = epoch, batches.order(epoch)

        def __len__(self) -> int:
            return len(batches)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return batches.batch(self.epoch, index, self.order)

    return Epochs()


def _trained_sizes(cfg: TrainConfig) -> tuple[int, ...]:
    return cfg.resolutions or (cfg.resolution,)


def validation_sizes(cfg: TrainConfig) -> tuple[int, ...]:
    """The sizes each epoch is scored at: the trained ones and the card's own resolution."""
    return tuple(sorted({cfg.resolution, *_trained_sizes(cfg)}))


def score_sizes(model: Any, faces: FaceDataset, sizes: tuple[int, ...]) -> dict[int, Metrics]:
    """The model's metrics on `faces` at each input size (no test-time augmentation)."""
    return {r: compute_metrics(faces.labels, _predict(model, faces.images, r).argmax(1), CLASS_NAMES)
            for r in sizes}


def accuracy_table(by_size: dict[int, Metrics], split: str, faces: int,
                   data: str = "", tta: str = "none") -> AccuracyTable:
    """The card's accuracy-against-resolution table from metrics scored at each size."""
    return AccuracyTable(split, faces, tuple(
        AccuracyPoint(r, tta, m.accuracy, m.averages()["macro"]["f1"])
        for r, m in sorted(by_size.items())), data)


def _predict(model: Any, faces: np.ndarray, resolution: int, batch: int = 256) -> np.ndarray:
    prepared = prepare_batch(faces, resolution)
    out = [model.predict_on_batch(to_model_input(prepared[i:i + batch]))
           for i in range(0, len(prepared), batch)]
    return np.concatenate(out)


def _fmt_eta(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _best_so_far(state: dict[str, Any]) -> str:
    """The resume line's note on the best epoch; empty for a run with no validation, whose
    best_f1 stays at its -1 sentinel (no epoch was scored)."""
    return f" (best val macro-F1 {state['best_f1']:.4f})" if state["best_f1"] >= 0 else ""


@dataclass(frozen=True)
class _Faces:
    """The data of one run: every face loaded, its training and validation split."""

    full: FaceDataset
    train: FaceDataset
    val: FaceDataset


def train(cfg: TrainConfig, resume: bool = False,
          echo: Callable[[str], None] = print) -> Path:
    """Train (or resume) and return the path of the best model."""
    _validate(cfg)
    out = Path(cfg.out)
    state_file = out / "checkpoint" / "state.json"
    if resume and not state_file.exists():
        raise UserInputError(f"{out}: nothing to resume (no checkpoint/state.json)")
    if not resume and (out / "model.keras").exists():
        raise UserInputError(f"{out}: already holds a model; use --resume or another --out")

    keras = import_keras()
    _limit_threads(keras, cfg.threads)
    saved = load_state(state_file) if resume else None
    # Seeds the weights' initialisation and dropout; the batches carry their own seeds.
    keras.utils.set_random_seed(cfg.seed + (int(saved["epoch"]) if saved is not None else 0))
    faces = _load_faces(cfg, echo)
    batches = _training_data(cfg, faces.train, state_file.parent, resume, echo)
    dataset = _keras_epochs(keras, batches, workers=min(4, os.cpu_count() or 1))
    model, state, rewarm = _start(keras, cfg, out, saved, echo)
    best = _fit(keras, cfg, out, model, state, dataset, faces, rewarm, echo)
    if best is not None:
        echo(f"best epoch {state['best_epoch']}: val macro-F1 {state['best_f1']:.4f}, "
             f"accuracy {best.accuracy:.4f}")
    _record_run_time(out, state)
    return out / "model.keras"


def _load_faces(cfg: TrainConfig, echo: Callable[[str], None]) -> _Faces:
    t_load = time.perf_counter()
    full = load_dataset(cfg.data, training_usage(cfg.data, cfg.usage), cfg.limit, cfg.seed)
    train_set, val_set = train_validation_split(full, cfg.val_fraction, cfg.seed)
    echo(f"data: {len(train_set)} train, {len(val_set)} validation faces from {full.source} "
         f"({time.perf_counter() - t_load:.1f}s)")
    return _Faces(full, train_set, val_set)


def _limit_threads(keras: Any, threads: int | None) -> None:
    """Cap the backend's CPU threads (--threads), so training leaves cores to the machine."""
    if not threads:
        return
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)


def _training_data(cfg: TrainConfig, train_set: FaceDataset, ckpt_dir: Path,
                   resume: bool, echo: Callable[[str], None]) -> TrainingBatches:
    """The shuffled, augmented batches of (faces, targets, sample weights)."""
    sw = _sample_weights(train_set.labels, cfg.class_weights)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    soft = _teacher_labels(cfg, train_set, ckpt_dir / "teacher_probs.npy", resume, echo)
    targets = training_targets(train_set.labels, cfg.label_smoothing, soft, cfg.distill)
    return training_batches(train_set, cfg, sw, targets)


def _start(keras: Any, cfg: TrainConfig, out: Path, saved: dict[str, Any] | None,
           echo: Callable[[str], None]) -> tuple[Any, dict[str, Any], bool]:
    """(model, training state, whether the first epoch ramps the learning rate up again)."""
    from edge_fer.model import build_model

    ckpt_dir = out / "checkpoint"
    rewarm = False
    if saved is not None:
        state = saved
        saved_cfg = state["config"]
        if (saved_cfg.get("resolution") != cfg.resolution or saved_cfg.get("arch") != cfg.arch
                or saved_cfg.get("output_stride", 32) != cfg.output_stride):
            raise UserInputError(f"{out}: checkpoint is {saved_cfg.get('arch')} at "
                                 f"{saved_cfg.get('resolution')} px, output stride "
                                 f"{saved_cfg.get('output_stride', 32)}; resume with the same "
                                 "settings")
        if (ckpt_dir / "last.keras").exists():
            model = keras.models.load_model(ckpt_dir / "last.keras")
            model.jit_compile = _jit_compile(keras)  # not restored from the file
            echo(f"resuming after epoch {state['epoch']}{_best_so_far(state)}")
        else:
            # Only the best weights travelled (a run restored from a shipped model, see
            # scripts/restore_run.py), not Adam's moments: go on from the best epoch with a
            # fresh optimizer whose first epoch ramps the learning rate up again.
            if not (out / "model.keras").exists():
                raise UserInputError(f"{out}: nothing to resume (no checkpoint/last.keras "
                                     "and no model.keras)")
            model = _compile(keras, keras.models.load_model(out / "model.keras", compile=False),
                             cfg)
            state = rewind_state(state)
            _write_history(out / "history.csv", state["history"])
            rewarm = True
            echo(f"resuming after epoch {state['epoch']} from the best weights, with a fresh "
                 f"optimizer{_best_so_far(state)}")
    else:
        model = _compile(keras, build_model(cfg.arch, len(CLASS_NAMES), cfg.weights, cfg.dropout,
                                         cfg.resolution, cfg.output_stride), cfg)
        state = {"epoch": 0, "best_f1": -1.0, "best_epoch": 0, "plateau_scale": 1.0,
                 "since_best": 0, "history": [], "wall_s": 0.0}
    state["config"] = asdict(cfg)
    return model, state, rewarm


def _fit(keras: Any, cfg: TrainConfig, out: Path, model: Any, state: dict[str, Any], dataset: Any,
         faces: _Faces, rewarm: bool, echo: Callable[[str], None]) -> Metrics | None:
    """The epochs left; each saves its checkpoint, and the model when it is the best so far.

    Returns the best epoch's validation metrics (None when nothing was held out).
    """
    from edge_fer.model import save_for_inference

    ckpt_dir = out / "checkpoint"
    interactive = sys.stdout.isatty()
    best_metrics: Metrics | None = None
    for epoch in range(int(state["epoch"]), cfg.epochs):
        t0 = time.perf_counter()
        lr = learning_rate(cfg, epoch, state["plateau_scale"])
        model.optimizer.learning_rate.assign(lr)
        callbacks = [_linear_ramp(keras, lr, len(dataset))] if rewarm else []
        dataset.set_epoch(epoch)
        rewarm = False
        hist = model.fit(dataset, epochs=epoch + 1, initial_epoch=epoch,
                         verbose=1 if interactive else 0, callbacks=callbacks,
                         shuffle=False)  # the batches are shuffled already
        by_size = score_sizes(model, faces.val, validation_sizes(cfg)) if len(faces.val) else {}
        metrics = by_size.get(cfg.resolution)
        # Nothing held out (--val-fraction 0): each epoch counts as the best, so the last is kept.
        # Several sizes: the mean of their macro-F1 picks the epoch that serves all of them.
        f1 = (float(np.mean([by_size[r].averages()["macro"]["f1"] for r in _trained_sizes(cfg)]))
              if by_size else float("nan"))
        elapsed = time.perf_counter() - t0
        state["wall_s"] += elapsed
        row = {"epoch": epoch + 1, "lr": lr, "loss": float(hist.history["loss"][-1]),
               "train_acc": float(hist.history["accuracy"][-1]),
               "val_acc": metrics.accuracy if metrics else "", "val_macro_f1": f1 if metrics else "",
               "seconds": round(elapsed, 1)}
        if cfg.resolutions:
            row.update({f"val_acc_{r}": by_size[r].accuracy if by_size else ""
                        for r in validation_sizes(cfg)})
        state["history"].append(row)
        improved = metrics is None or f1 > state["best_f1"]
        if improved:
            state.update(best_f1=f1 if metrics else -1.0, best_epoch=epoch + 1, since_best=0,
                         best_plateau_scale=state["plateau_scale"])
            best_metrics = metrics
            save_for_inference(model, out / "model.keras")
            _card(cfg, faces.full, faces.train, faces.val, metrics, state,
                  by_size).save(card_path_for(out / "model.keras"))
        else:
            state["since_best"] += 1
            if cfg.schedule == "plateau" and state["since_best"] % 5 == 0:
                state["plateau_scale"] *= 0.5
        state["epoch"] = epoch + 1
        model.save(ckpt_dir / "last.keras")
        save_state(ckpt_dir / "state.json", state)
        _append_history(out / "history.csv", row)
        eta = (cfg.epochs - epoch - 1) * elapsed
        scores = (f"val_acc {metrics.accuracy:.4f}  val_f1 {f1:.4f}{' *' if improved else '  '}"
                  if metrics else "no validation")
        echo(f"epoch {epoch + 1}/{cfg.epochs}  loss {row['loss']:.4f}  acc {row['train_acc']:.4f}  "
             f"{scores}  lr {lr:.2e}  {elapsed:.0f}s  ETA {_fmt_eta(eta)}")
        if state["since_best"] >= cfg.patience:
            echo(f"early stop: no better validation macro-F1 for {cfg.patience} epochs")
            break
    return best_metrics


def _record_run_time(out: Path, state: dict[str, Any]) -> None:
    """Refresh the card's final record (wall time, epochs run) without touching the weights."""
    card_file = card_path_for(out / "model.keras")
    if card_file.exists():
        card = ModelCard.load(card_file)
        details = dict(card.details)
        details["training"] = dict(details.get("training", {}),
                                   epochs_run=state["epoch"], wall_time_s=round(state["wall_s"], 1))
        replace(card, details=details).save(card_file)


def _jit_compile(keras: Any) -> bool:
    """XLA only on JAX, which runs eagerly without it. On TensorFlow, Keras' "auto" turns XLA on
    for CPUs too, where it trained EfficientNetV2-B0 2.5x slower (30 against 76 images/s at
    64 px, batch 64, 2-core AVX2 EPYC); on PyTorch it would mean torch.compile, recompiling
    for every input size of a multi-resolution run."""
    return bool(keras.backend.backend() == "jax")


def _compile(keras: Any, model: Any, cfg: TrainConfig) -> Any:
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                  loss=keras.losses.CategoricalCrossentropy(),
                  weighted_metrics=["accuracy"], jit_compile=_jit_compile(keras))
    return model


def rewind_state(state: dict[str, Any]) -> dict[str, Any]:
    """The training state as it was right after the best epoch (whose weights are model.keras)."""
    best = int(state["best_epoch"])
    history = [row for row in state["history"] if int(row["epoch"]) <= best]
    # States written before best_plateau_scale was kept have only the latest scale.
    scale = float(state.get("best_plateau_scale", state["plateau_scale"]))
    return dict(state, epoch=best, since_best=0, history=history, plateau_scale=scale,
                wall_s=sum(float(row["seconds"]) for row in history))


def _linear_ramp(keras: Any, lr: float, steps: int) -> Any:
    """A Keras callback raising the learning rate linearly to `lr` over `steps` batches.

    A fresh Adam's first steps move every weight by about the learning rate; ramping keeps a
    trained network from being shaken out of its minimum when the optimizer state is lost.
    """

    class Ramp(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if batch < steps:
                self.model.optimizer.learning_rate.assign(lr * (batch + 1) / steps)

    return Ramp()


def _append_history(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a") as f:
        if new:
            f.write(",".join(row) + "\n")
        f.write(",".join(str(v) for v in row.values()) + "\n")


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    path.unlink(missing_ok=True)
    for row in rows:
        _append_history(path, row)


def _accelerator(backend: str) -> str | None:
    """The GPU the run trained on, where the backend says (None: the CPU)."""
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name() if torch.cuda.is_available() else None
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return gpus[0].device_kind if gpus else None
    if backend == "tensorflow":
        import tensorflow as tf

        return "GPU" if tf.config.list_physical_devices("GPU") else None
    return None


def _card(cfg: TrainConfig, full: FaceDataset, train_set: FaceDataset, val_set: FaceDataset,
          metrics: Metrics | None, state: dict[str, Any],
          by_size: dict[int, Metrics] | None = None) -> ModelCard:
    keras = import_keras()
    backend = keras.backend.backend()
    aug = PRESETS[cfg.augment]
    details = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "edge_fer_version": edge_fer.__version__,
        "keras_version": keras.__version__,
        f"{backend}_version": __import__(backend).__version__,
        "weights_init": cfg.weights,
        "data": {"source": full.source, "sha256": full.fingerprint(),
                 "train_counts": train_set.counts(), "val_counts": val_set.counts(),
                 "val_fraction": cfg.val_fraction, "limit": cfg.limit},
        "seed": cfg.seed,
        "command": train_command(cfg),
        "hyperparameters": {k: v for k, v in asdict(cfg).items() if k not in ("data", "out")},
        "augmentation": aug.to_dict() if aug else None,
        "training": {"best_epoch": state["best_epoch"], "epochs_run": state["epoch"] + 1,
                     "epochs_planned": cfg.epochs, "wall_time_s": round(state["wall_s"], 1)},
        "validation": metrics.to_dict() if metrics else None,  # None: --val-fraction 0
        "hardware": dict(machine_summary(), accelerator=_accelerator(backend)),
    }
    table = (accuracy_table(by_size, "validation", len(val_set), full.source) if by_size
             else None)
    return ModelCard(cfg.arch, cfg.resolution, CLASS_NAMES, Preprocessing(), details,
                     accuracy=table)
