"""The online dataset: persistent split, change detection, epoch length, model-space cases and patches."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from lib.online.dataset import OnlineDataset, assign_split, epoch_length
from lib.online.patches import annotated_tile_count, crop_patch, random_patch_corner
from lib.phantom import PhantomConfig, generate_phantom
from lib.phantom.io import save_nifti_atomic
from tests.lib.online_data import SHAPE, write_case

#: RootPainter3D: first train, second validation, then validation only when train >= 5 x validation.
PAPER_SPLITS = ["train", "val", "train", "train", "train", "train", "val",
                "train", "train", "train", "train", "train", "val"]


def _fake_pairs(folder, n):
    """n (image, annotation, full) triples; only the annotation files need to exist for refresh."""
    pairs = []
    for i in range(n):
        annotation = folder / f"annotation_{i}.nii.gz"
        annotation.write_bytes(b"")
        pairs.append((str(folder / f"image_{i}.nii.gz"), str(annotation), False))
    return pairs


def test_split_rule_sequence():
    n_train = n_val = 0
    splits = []
    for _ in PAPER_SPLITS:
        splits.append(assign_split(n_train, n_val))
        n_train, n_val = n_train + (splits[-1] == "train"), n_val + (splits[-1] == "val")
    assert splits == PAPER_SPLITS


def test_split_follows_first_seen_order_and_survives_a_restart(tmp_path):
    pairs = _fake_pairs(tmp_path, 13)
    dataset = OnlineDataset(tmp_path / "split.json")
    for n in range(1, 13, 3):  # images arrive a few at a time
        assert dataset.refresh(pairs[:n])
    assert dataset.refresh(pairs[:12])
    assert [dataset.split_of(p[0]) for p in pairs[:12]] == PAPER_SPLITS[:12]

    reloaded = OnlineDataset(tmp_path / "split.json")
    assert reloaded.refresh(pairs[12:] + pairs[:12][::-1])  # listed in another order, plus one new image
    assert [reloaded.split_of(p[0]) for p in pairs] == PAPER_SPLITS
    assert reloaded.val_images == [pairs[i][0] for i in (1, 6, 12)]
    assert len(reloaded.train_images) == 10


def test_refresh_reports_new_and_changed_annotations_only(tmp_path):
    pairs = _fake_pairs(tmp_path, 3)
    dataset = OnlineDataset(tmp_path / "split.json")
    assert dataset.refresh(pairs[:2])
    assert not dataset.refresh(pairs[:2])
    stat = os.stat(pairs[1][1])
    os.utime(pairs[1][1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert dataset.refresh(pairs[:2])  # re-saved annotation
    assert not dataset.refresh(pairs[:2])
    assert dataset.refresh(pairs)  # new image
    assert dataset.refresh([pairs[0], pairs[1], (pairs[2][0], pairs[2][1], True)])  # now a full label
    assert not dataset.refresh([pairs[0], pairs[1], (pairs[2][0], pairs[2][1], True)])


def test_epoch_length_rule():
    assert epoch_length(0, 0) == 128
    assert epoch_length(1, 0) == 64
    assert epoch_length(2, 32) == 64
    assert epoch_length(2, 33) == 66
    assert epoch_length(3, 100) == 200


def test_annotated_tiles_count_train_patch_blocks_from_the_origin():
    annotated = np.zeros((130, 64, 40), dtype=bool)  # 3 x 1 x 2 tiles of 64 x 64 x 32, last ones partial
    assert annotated_tile_count(annotated) == 0
    annotated[0, 0, 0] = annotated[63, 63, 31] = True  # both in the first tile
    assert annotated_tile_count(annotated) == 1
    annotated[64, 0, 0] = True
    annotated[129, 0, 39] = True  # the partial corner tile
    assert annotated_tile_count(annotated) == 3


def test_dataset_epoch_length_from_validation_annotation(tmp_path):
    pairs = [write_case(tmp_path, seed, full=seed == 0) for seed in range(2)]
    dataset = OnlineDataset(tmp_path / "split.json")
    assert dataset.epoch_length() == 128
    dataset.refresh(pairs[:1])
    assert dataset.epoch_length() == 128  # a training image only
    dataset.refresh(pairs)
    assert dataset.val_images == [pairs[1][0]]
    assert dataset.val_annotated_tiles() == 1  # a 32 x 32 x 16 image is one tile
    assert dataset.epoch_length() == 64


@pytest.mark.parametrize("orientation", ["RAS", "LPS"])
def test_full_label_in_model_space_is_ras_and_annotated_everywhere(tmp_path, orientation):
    image, annotation, full = write_case(tmp_path, 0, full=True, orientation=orientation)
    dataset = OnlineDataset(tmp_path / "split.json")
    dataset.refresh([(image, annotation, full)])
    case = dataset.case(image)
    label = generate_phantom(PhantomConfig(seed=0, shape=SHAPE, orientation=orientation)).label
    if orientation == "LPS":  # stored i to the left, j to posterior: flip both to reach RAS
        label = label[::-1, ::-1]
    assert case.image.shape == (1, 64, 64, 32)  # padded to a training patch
    np.testing.assert_array_equal(case.classes[:32, :32, :16], label)
    assert case.annotated[:32, :32, :16].all() and not case.annotated[32:].any()


def test_case_reloads_when_the_annotation_changes(tmp_path):
    image, annotation, full = write_case(tmp_path, 1, full=False)
    dataset = OnlineDataset(tmp_path / "split.json")
    dataset.refresh([(image, annotation, full)])
    before = dataset.case(image).annotated.sum()
    assert dataset.case(image) is dataset.case(image)  # cached
    grid = nib.load(annotation)
    painted = np.zeros(SHAPE, dtype=np.uint8)
    painted[0, 0, 0] = 3
    save_nifti_atomic(painted, grid.affine, annotation)
    stat = os.stat(annotation)
    os.utime(annotation, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert dataset.refresh([(image, annotation, full)])
    assert before > 1 and dataset.case(image).annotated.sum() == 1


def test_bad_annotation_is_rejected_with_its_path(tmp_path):
    image, annotation, _ = write_case(tmp_path, 1, full=False)
    save_nifti_atomic(np.zeros((8, 8, 8), dtype=np.uint8), nib.load(annotation).affine, annotation)
    dataset = OnlineDataset(tmp_path / "split.json")
    dataset.refresh([(image, annotation, False)])
    with pytest.raises(ValueError, match="shape"):
        dataset.case(image)


def test_patches_are_training_sized_and_hold_annotation(tmp_path):
    image, annotation, full = write_case(tmp_path, 2, full=False)
    dataset = OnlineDataset(tmp_path / "split.json")
    dataset.refresh([(image, annotation, full)])
    case = dataset.case(image)
    rng = np.random.default_rng(0)
    for _ in range(20):
        patch_image, classes, annotated = crop_patch(case, random_patch_corner(case, rng))
        assert patch_image.shape == (1, 64, 64, 32) and classes.shape == annotated.shape == (64, 64, 32)
        assert annotated.any() and classes.dtype == np.int64
