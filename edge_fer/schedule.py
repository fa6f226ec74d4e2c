"""Per-face classification schedule: which tracked face is classified this frame, in which
framing of the model's TTA, and how its results are averaged (the framing window, then the
exponential smoothing over frames).

The tracker says who a face is (its id); this module says what to do with it. A mode's framings
are spread over a face's frames (edge_fer.tta): each frame classifies one framing of a face and
its mirror, cycling through them (the face itself first), and a face's probabilities are the
mean of its last `window` results, then smoothed. A face's first frame therefore gets exactly
flip's result, and a face held still for `window` frames exactly the mode's all-at-once one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from edge_fer.tta import framings, images_per_frame, parse_tta


@dataclass(frozen=True)
class ScheduleConfig:
    """`tta`: the model's mode (its framings set the averaging window). A face seen again is
    classified every `classify_every` frames (a new face at once); in between its probabilities
    stand. `alpha` is the newest result's weight in the smoothing; `smoothing=False` (or alpha
    1) reports each frame's own window mean."""

    tta: str = "none"
    classify_every: int = 1
    smoothing: bool = True
    alpha: float = 0.5

    def __post_init__(self) -> None:
        parse_tta(self.tta)
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"smoothing alpha must be in (0, 1], got {self.alpha}")
        if self.classify_every < 1:
            raise ValueError(f"classify_every must be >= 1, got {self.classify_every}")

    @property
    def window(self) -> int:
        """How many of a face's last results its probabilities average (the mode's framings)."""
        return framings(self.tta)

    @property
    def images_per_face(self) -> int:
        """The images one classified face sends the runtime a frame: the batch a static-batch
        runtime should be compiled for (a single face in front of the camera)."""
        return images_per_frame(self.tta)


@dataclass
class _Face:
    probs: np.ndarray  # smoothed
    recent: list[np.ndarray]  # its last results, newest last (at most `window`)
    since_classified: int = 0  # frames since it last took a result
    classified: int = 1  # results so far (a face is born classified)


class FaceSchedule:
    """Per-face state keyed by track id: `plan` a frame, classify the faces it names, then
    `record` the results. `retain` forgets the faces whose tracks have ended."""

    def __init__(self, config: ScheduleConfig | None = None) -> None:
        self.config = config or ScheduleConfig()
        self._faces: dict[int, _Face] = {}

    def reset(self) -> None:
        """Forget every face (the tracker's ids go on, so none is mistaken for another)."""
        self._faces = {}

    def retain(self, ids: Collection[int]) -> None:
        """Keep only the faces whose ids are still tracked."""
        self._faces = {i: f for i, f in self._faces.items() if i in ids}

    def plan(self, ids: Sequence[int]) -> list[int | None]:
        """For each of this frame's faces: the framing to classify it in (0: the face itself),
        or None when it is not due. Due are new faces and known ones whose last result is
        `classify_every` frames old (all of them at 1)."""
        every, window = self.config.classify_every, self.config.window
        out: list[int | None] = []
        for i in ids:
            face = self._faces.get(i)
            if face is None:
                out.append(0)
            elif face.since_classified + 1 >= every:
                out.append(face.classified % window)
            else:
                out.append(None)
        return out

    def record(self, ids: Sequence[int],
               rows: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        """Each face's probabilities after this frame's results (one (K,) row per face, None
        for a face not classified this frame, which keeps its probabilities)."""
        if len(ids) != len(rows):
            raise ValueError(f"{len(ids)} faces but {len(rows)} probability rows")
        cfg = self.config
        alpha = cfg.alpha if cfg.smoothing else 1.0
        out = []
        for i, row in zip(ids, rows):
            face = self._faces.get(i)
            if face is None:
                if row is None:
                    raise ValueError(f"face {i} is new and needs its probabilities")
                raw = np.asarray(row, dtype=np.float32).copy()
                face = self._faces[i] = _Face(raw.copy(), [raw])
            elif row is None:
                face.since_classified += 1
            else:
                face.recent = [*face.recent, np.asarray(row, dtype=np.float32)][-cfg.window:]
                raw = np.mean(face.recent, axis=0, dtype=np.float32)
                face.probs = alpha * raw + (1.0 - alpha) * face.probs
                face.since_classified = 0
                face.classified += 1
            out.append(face.probs.copy())
        return out
