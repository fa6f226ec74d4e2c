"""The training batches: augmentation, erasing, mixup and sizes, in NumPy (no framework)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_fer.augment import PRESETS, Augmentation, augment_faces, erase_batch, mixup_batch
from edge_fer.batches import BatchRecipe, TrainingBatches
from edge_fer.classes import CLASS_NAMES
from edge_fer.preprocess import prepare_batch


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_augmentation_changes_each_image_differently() -> None:
    face = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (48, 1))[None]
    out = augment_faces(np.repeat(face, 4, axis=0), PRESETS["paper"], 48,
                        np.random.default_rng(0))
    assert out.shape == (4, 48, 48) and out.dtype == np.float32
    assert not np.allclose(out[0], face[0])
    assert not np.allclose(out[0], out[1])
    assert out.min() >= 0 and out.max() <= 255


@pytest.mark.parametrize("size", [48, 64, 96, 160])
def test_without_augmentation_a_batch_is_the_face_resized_as_inference_resizes_it(
        size: int) -> None:
    faces = _faces(6)
    out = augment_faces(faces, None, size, np.random.default_rng(0))
    expected = prepare_batch(faces, size).astype(np.float32)
    assert out.shape == expected.shape
    # cv2's warp places samples in 1/32 pixel steps, its resize exactly: the two differ by at
    # most a 32nd of the steepest step between neighbouring pixels, plus rounding.
    steepest = max(np.abs(np.diff(faces.astype(int), axis=a)).max() for a in (1, 2))
    assert np.abs(out - expected).max() <= steepest / 32 + 1
    assert np.abs(out - expected).mean() < 2  # a half-pixel shift would give tens of levels


def test_flips_alone_mirror_about_half_of_the_faces() -> None:
    faces = _faces(200)
    out = augment_faces(faces, Augmentation(0.0, 0.0, 0.0, 0.0, True), 48,
                        np.random.default_rng(1))
    same = np.array([np.array_equal(o, f) for o, f in zip(out, faces.astype(np.float32))])
    mirrored = np.array([np.array_equal(o, f[:, ::-1])
                         for o, f in zip(out, faces.astype(np.float32))])
    assert (same ^ mirrored).all()  # each face is itself or its mirror image, exactly
    assert 70 < mirrored.sum() < 130


def test_erasing_covers_one_rectangle_of_each_chosen_face() -> None:
    batch = np.full((16, 48, 48), 100.0, np.float32)
    out = erase_batch(batch, 1.0, np.random.default_rng(0))
    for image in out:
        changed = image != 100.0
        rows, cols = np.nonzero(changed)
        box = changed[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert box.mean() > 0.97  # one rectangle of noise (a noise pixel may draw 100 itself)
        assert 0.01 <= changed.mean() <= 0.26
        assert image.min() >= 0 and image.max() <= 255
    assert np.array_equal(erase_batch(batch, 0.0, np.random.default_rng(0)), batch)
    assert (batch == 100.0).all()  # the input is left as it was


def test_mixup_blends_each_face_with_its_target_and_weight_alike() -> None:
    n = 32
    # Face i is the constant image i with the one-hot target i: a mixed face's value must be
    # the mean of the indices under its mixed target, and its weight the same mix.
    images = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32)
    targets = np.eye(n, dtype=np.float32)
    weights = np.linspace(1.0, 2.0, n).astype(np.float32)
    mixed, mixed_targets, mixed_weights = mixup_batch(images, targets, weights, 0.4,
                                                      np.random.default_rng(0))
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(mixed[:, 0, 0], mixed_targets @ np.arange(n), rtol=1e-5)
    np.testing.assert_allclose(mixed_weights, mixed_targets @ weights, rtol=1e-5)
    assert (np.diag(mixed_targets) >= 0.5 - 1e-6).all()  # each face stays mostly itself
    assert (np.diag(mixed_targets) < 1.0 - 1e-3).sum() > n // 2  # and most are really mixed


def _batches(n: int = 64, **recipe: object) -> TrainingBatches:
    faces = _faces(n)
    targets = np.random.default_rng(1).dirichlet(np.ones(len(CLASS_NAMES)), n)
    settings: dict[str, object] = {"batch_size": 16, "sizes": (48,), "augment": None}
    settings.update(recipe)
    return TrainingBatches(faces, targets, np.ones(n), BatchRecipe(**settings))  # type: ignore[arg-type]


def test_each_face_keeps_its_own_target_through_the_shuffle() -> None:
    batches = _batches(40)
    seen = 0
    for index in range(len(batches)):
        images, targets, _ = batches.batch(epoch=3, index=index)
        for image, target in zip(images, targets):
            # 48 px in, 48 px out, no augmentation: the face itself (one grey channel of three).
            i = int(np.argmin(np.abs(batches.faces.astype(np.float32) - image[..., 0])
                              .reshape(len(batches.faces), -1).sum(axis=1)))
            np.testing.assert_array_equal(target, batches.targets[i])
            np.testing.assert_array_equal(image[..., 0], image[..., 2])
            seen += 1
    assert seen == 40


def test_a_batch_depends_only_on_seed_epoch_and_index() -> None:
    """So a resumed process draws what an unbroken run would, and does not replay epoch 0."""
    a, b = _batches(augment=PRESETS["light"]), _batches(augment=PRESETS["light"])
    np.testing.assert_array_equal(a.batch(5, 2)[0], b.batch(5, 2)[0])
    assert not np.array_equal(a.batch(0, 0)[0], a.batch(5, 0)[0])
    assert not np.array_equal(a.order(0), a.order(1))
    other_seed = _batches(augment=PRESETS["light"], seed=1)
    assert not np.array_equal(a.batch(5, 2)[0], other_seed.batch(5, 2)[0])


def test_the_batches_apply_erasing_and_mixup() -> None:
    batches = _batches(40, batch_size=40, erase=1.0, mixup=0.4)
    batches.targets[:] = np.eye(len(CLASS_NAMES), dtype=np.float32)[np.arange(40) % 7]
    images, targets, _ = batches.batch(0, 0)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-5)
    assert ((targets > 0.01) & (targets < 0.99)).any(axis=1).sum() > 10  # blended targets
    # No batch image is any face as it came (erased and blended).
    distance = np.abs(images[:, None, ..., 0] - batches.faces[None].astype(np.float32))
    assert distance.reshape(40, 40, -1).max(axis=2).min() > 0


def test_multi_resolution_batches_each_take_one_of_the_sizes() -> None:
    batches = _batches(200, batch_size=8, sizes=(40, 56, 72), augment=PRESETS["light"])
    shapes = {batches.batch(0, i)[0].shape[1:] for i in range(len(batches))}
    assert shapes == {(40, 40, 3), (56, 56, 3), (72, 72, 3)}  # 25 batches: every size drawn


def test_the_first_two_batches_of_an_epoch_never_share_a_size() -> None:
    """Keras on TensorFlow fixes a fit call's input shape from its first two batches."""
    batches = _batches(40, batch_size=8, sizes=(40, 56))
    firsts = [(batches.batch(e, 0)[0].shape[1], batches.batch(e, 1)[0].shape[1]) for e in range(20)]
    assert all(a != b for a, b in firsts)
    assert {a for a, _ in firsts} == {40, 56}  # batch 0 still draws either size
    single = _batches(40, batch_size=8, sizes=(48,))
    assert single.batch(3, 1)[0].shape[1] == 48
    # A size listed twice weights it; batch 1 still takes another size.
    weighted = _batches(40, batch_size=8, sizes=(40, 56, 72, 72))
    firsts = [(weighted.batch(e, 0)[0].shape[1], weighted.batch(e, 1)[0].shape[1])
              for e in range(40)]
    assert all(a != b for a, b in firsts)
    assert {a for a, _ in firsts} == {40, 56, 72}
    assert _batches(40, batch_size=8, sizes=(48, 48)).batch(3, 1)[0].shape[1] == 48


def test_mismatched_faces_and_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="40 faces, 39 targets"):
        TrainingBatches(_faces(40), np.zeros((39, 7)), np.ones(40),
                        BatchRecipe(8, (48,), None))
