"""Metrics on tiny hand-made volumes; arrays are (X, Y, Z), spacing mm in (X, Y, Z)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lib.metrics import (
    all_metrics,
    arvd,
    assd_mm,
    dice,
    hd95_mm,
    image_diagonal_mm,
    sensitivity,
    specificity,
    surface_dice,
    voe,
    voxels_changed,
)

SHAPE = (10, 8, 6)  # 480 voxels


def box(x: tuple[int, int], y: tuple[int, int], z: tuple[int, int], shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[x[0] : x[1], y[0] : y[1], z[0] : z[1]] = True
    return mask


def test_overlap_of_two_known_boxes_by_hand() -> None:
    pred = box((0, 4), (0, 4), (0, 4))  # 64 voxels
    truth = box((0, 4), (0, 4), (0, 2))  # 32 voxels, all inside pred
    assert dice(pred, truth) == pytest.approx(2 * 32 / (64 + 32))  # 2/3
    assert voe(pred, truth) == pytest.approx(1 - 32 / 64)
    assert arvd(pred, truth) == pytest.approx(abs(64 - 32) / 32)  # 1.0
    assert sensitivity(pred, truth) == pytest.approx(1.0)
    assert specificity(pred, truth) == pytest.approx((480 - 32 - 32) / (480 - 32))
    # and the other way round: arvd and sensitivity are not symmetric
    assert arvd(truth, pred) == pytest.approx(0.5)
    assert sensitivity(truth, pred) == pytest.approx(0.5)


def test_dice_of_half_overlapping_cubes() -> None:
    a = box((0, 4), (0, 4), (0, 4))
    b = box((2, 6), (0, 4), (0, 4))  # shares 2 x 4 x 4 = 32 of 64
    assert dice(a, b) == pytest.approx(0.5)
    assert voe(a, b) == pytest.approx(1 - 32 / 96)
    assert dice(a.astype(np.uint8), b.astype(np.float32)) == pytest.approx(0.5)  # {0, 1} numbers accepted


def test_surface_distances_of_shifted_slabs_with_anisotropic_spacing() -> None:
    # Two 2-voxel-thick slabs 3 voxels apart along X; every voxel is a surface voxel.
    # From each slab, half its voxels are 2 voxels from the other's nearest face, half 3.
    a = box((0, 2), (2, 6), (1, 5))
    b = box((3, 5), (2, 6), (1, 5))
    spacing = (2.0, 1.0, 3.0)  # X voxels 2 mm wide: distances 4 mm and 6 mm
    assert hd95_mm(a, b, spacing) == pytest.approx(6.0)
    assert assd_mm(a, b, spacing) == pytest.approx(5.0)
    assert surface_dice(a, b, spacing, tolerance_mm=5.0) == pytest.approx(0.5)
    assert surface_dice(a, b, spacing, tolerance_mm=6.0) == pytest.approx(1.0)
    assert hd95_mm(a, b, (1.0, 1.0, 1.0)) == pytest.approx(3.0)  # the spacing is really used
    assert hd95_mm(a, b, (1.0, 2.0, 3.0)) == pytest.approx(3.0)  # and along the right axis


def test_hd95_of_cubes_shifted_along_z_in_mm() -> None:
    # One-voxel-thick plates two slices apart: every surface distance is 2 x 2.5 mm.
    a = box((2, 7), (2, 6), (1, 2))
    b = box((2, 7), (2, 6), (3, 4))
    assert hd95_mm(a, b, (0.8, 0.8, 2.5)) == pytest.approx(5.0)
    assert assd_mm(a, b, (0.8, 0.8, 2.5)) == pytest.approx(5.0)


def test_hd95_ignores_one_outlier_that_the_mean_still_sees() -> None:
    truth = box((0, 4), (0, 4), (0, 4))  # 56 surface voxels
    pred = truth.copy()
    pred[9, 7, 5] = True  # 57 pred surface voxels; the outlier is |(6, 4, 2)| from corner (3, 3, 3)
    outlier = math.sqrt(6**2 + 4**2 + 2**2)
    assert hd95_mm(pred, truth, (1, 1, 1)) == pytest.approx(0.0)  # 1 of 57 is under 5 %
    assert assd_mm(pred, truth, (1, 1, 1)) == pytest.approx(outlier / (57 + 56))


def test_identical_masks_are_perfect() -> None:
    a = box((1, 5), (1, 5), (1, 4))
    metrics = all_metrics(a, a.copy(), (1.0, 1.0, 2.0))
    assert metrics == {
        "dice": 1.0,
        "voe": 0.0,
        "arvd": 0.0,
        "sensitivity": 1.0,
        "specificity": 1.0,
        "hd95_mm": 0.0,
        "assd_mm": 0.0,
        "surface_dice": 1.0,
    }
    assert all(type(v) is float for v in metrics.values())


def test_both_empty_is_perfect_and_json_safe() -> None:
    empty = np.zeros(SHAPE, dtype=bool)
    metrics = all_metrics(empty, empty, (1.0, 1.0, 1.0))
    assert metrics["dice"] == 1.0 and metrics["hd95_mm"] == 0.0 and metrics["assd_mm"] == 0.0
    assert metrics["surface_dice"] == 1.0 and metrics["voe"] == 0.0 and metrics["arvd"] == 0.0
    json.dumps(metrics, allow_nan=False)


def test_empty_prediction_scores_the_image_diagonal() -> None:
    truth = box((1, 3), (1, 3), (1, 3))
    spacing = (1.0, 2.0, 3.0)
    diagonal = math.sqrt(10**2 + 16**2 + 18**2)  # field of view 10 x 16 x 18 mm
    assert image_diagonal_mm(SHAPE, spacing) == pytest.approx(diagonal)
    metrics = all_metrics(np.zeros(SHAPE, dtype=bool), truth, spacing)
    assert metrics["dice"] == 0.0 and metrics["surface_dice"] == 0.0 and metrics["sensitivity"] == 0.0
    assert metrics["hd95_mm"] == pytest.approx(diagonal) and metrics["assd_mm"] == pytest.approx(diagonal)
    assert metrics["voe"] == 1.0 and metrics["arvd"] == 1.0
    json.dumps(metrics, allow_nan=False)


def test_empty_truth_makes_arvd_undefined() -> None:
    pred = box((1, 3), (1, 3), (1, 3))
    empty = np.zeros(SHAPE, dtype=bool)
    assert math.isnan(arvd(pred, empty))
    assert dice(pred, empty) == 0.0
    assert hd95_mm(pred, empty, (1, 1, 1)) == pytest.approx(image_diagonal_mm(SHAPE, (1, 1, 1)))
    assert sensitivity(pred, empty) == 1.0


def test_specificity_when_truth_fills_the_image() -> None:
    full = np.ones((3, 3, 3), dtype=bool)
    assert specificity(np.zeros_like(full), full) == 1.0


def test_voxels_changed_counts_differences() -> None:
    before = box((0, 2), (0, 2), (0, 2))  # 8 voxels
    after = box((1, 3), (0, 2), (0, 2))  # moved one along X: 4 leave, 4 arrive
    assert voxels_changed(before, after) == 8
    assert voxels_changed(before, before) == 0


@pytest.mark.parametrize(
    ("pred", "truth", "spacing", "name"),
    [
        (np.zeros((4, 4)), np.zeros((4, 4, 4)), (1, 1, 1), "pred"),
        (np.zeros((4, 4, 4)), np.full((4, 4, 4), 0.5), (1, 1, 1), "truth"),
        (np.zeros((4, 4, 4)), np.zeros((4, 4, 5)), (1, 1, 1), "shape"),
        (np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), (1, 1), "spacing"),
        (np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), (1, -1, 1), "spacing"),
        (np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), (1, float("nan"), 1), "spacing"),
    ],
)
def test_bad_arguments_raise(pred: np.ndarray, truth: np.ndarray, spacing: tuple, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        all_metrics(pred, truth, spacing)


def test_bad_tolerance_and_before_after_names() -> None:
    a = box((1, 3), (1, 3), (1, 3))
    with pytest.raises(ValueError, match="tolerance_mm"):
        surface_dice(a, a, (1, 1, 1), tolerance_mm=-1.0)
    with pytest.raises(ValueError, match="after"):
        voxels_changed(a, np.zeros((2, 2, 2), dtype=bool)[..., 0])
