"""The training batches of `edge-fer train`: shuffled, augmented, resized faces in NumPy.

Every batch is a pure function of (seed, epoch, batch index): a resumed run, a run with
several loader threads and a rerun all draw the same faces, sizes and augmentations, and a
resumed process does not replay the first epoch's order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_fer.augment import Augmentation, augment_faces, erase_batch, mixup_batch


@dataclass(frozen=True)
class BatchRecipe:
    """What each batch gets: its size (one of `sizes`, drawn per batch) and augmentations."""

    batch_size: int
    sizes: tuple[int, ...]
    augment: Augmentation | None
    erase: float = 0.0
    mixup: float = 0.0
    seed: int = 0


class TrainingBatches:
    """Batches of (faces (B, r, r, 3) float32 0..255, targets (B, K), sample weights (B,))."""

    def __init__(self, faces: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                 recipe: BatchRecipe) -> None:
        if not len(faces) == len(targets) == len(weights):
            raise ValueError(f"{len(faces)} faces, {len(targets)} targets, {len(weights)} weights")
        self.faces = faces
        self.targets = targets.astype(np.float32)
        self.weights = weights.astype(np.float32)
        self.recipe = recipe

    def __len__(self) -> int:
        return -(-len(self.faces) // self.recipe.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.recipe.seed, epoch]).permutation(len(self.faces))

    def batch(self, epoch: int, index: int,
              order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = self.recipe
        picked = (self.order(epoch) if order is None else order)[
            index * r.batch_size:(index + 1) * r.batch_size]
        rng = np.random.default_rng([r.seed, epoch, index, 1])
        size = r.sizes[self._size_index(epoch, index, int(rng.integers(len(r.sizes))))]
        images = augment_faces(self.faces[picked], r.augment, size, rng)
        targets, weights = self.targets[picked], self.weights[picked]
        if r.erase > 0:
            images = erase_batch(images, r.erase, rng)
        if r.mixup > 0:
            images, targets, weights = mixup_batch(images, targets, weights, r.mixup, rng)
        return np.repeat(images[..., None], 3, axis=-1), targets, weights

    def _size_index(self, epoch: int, index: int, drawn: int) -> int:
        """Which of the sizes the batch takes: as drawn, except that batch 1 never repeats batch
        0's size (a size listed twice, to weight it, included).

        Keras on TensorFlow fixes the input shape of a fit call from its first two batches:
        two of one size would pin it, and the first batch of another size ends training."""
        sizes, n = self.recipe.sizes, len(self.recipe.sizes)
        if index != 1 or len(set(sizes)) == 1:
            return drawn
        first = int(np.random.default_rng([self.recipe.seed, epoch, 0, 1]).integers(n))
        if sizes[drawn] != sizes[first]:
            return drawn
        return next(i for i in ((first + k) % n for k in range(1, n)) if sizes[i] != sizes[first])
