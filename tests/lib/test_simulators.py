"""Click simulators on tiny hand-made volumes; arrays are (X, Y, Z)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt
from skimage.morphology import skeletonize

from lib.interaction.clicks import Click
from lib.simulators import (
    DinTrainingSampler,
    GaussianClickSimulator,
    apply_edit,
    border_distance_click,
    din_training_clicks,
    exp_chamfer_click,
    largest_error_region_click,
    worst_slice,
    worst_slices,
)
from lib.simulators.border_distance import error_depth
from lib.simulators.din_training import clicks_upper_bound, small_objects
from lib.simulators.gaussian_click import exp_weights


def empty(shape: tuple[int, int, int] = (6, 7, 8)) -> np.ndarray:
    return np.zeros(shape, dtype=bool)


def cube(shape: tuple[int, int, int], lo: int, hi: int) -> np.ndarray:
    mask = empty(shape)
    mask[lo:hi, lo:hi, lo:hi] = True
    return mask


# --- Gaussian click (exp of chamfer depth) ---------------------------------------------


def test_gaussian_single_missed_voxel_is_clicked_positive_at_its_xyz_index() -> None:
    truth = empty()
    truth[1, 2, 3] = True  # distinct indices per axis: catches any axis swap
    click = exp_chamfer_click(empty(), truth, np.random.default_rng(0))
    assert click == Click((1, 2, 3), True)
    assert all(isinstance(v, int) for v in click.index)


def test_gaussian_only_false_foreground_gives_a_negative_click_in_it() -> None:
    pred = empty()
    pred[4, 0:2, 5] = True
    click = exp_chamfer_click(pred, empty(), np.random.default_rng(1))
    assert click is not None and not click.positive and pred[click.index]


def test_gaussian_sign_follows_the_larger_error_area_ties_go_positive() -> None:
    truth, pred = empty(), empty()
    truth[0, 0:4, 0] = True  # 4 missed
    pred[5, 0:6, 7] = True  # 6 false
    assert not exp_chamfer_click(pred, truth, np.random.default_rng(0)).positive
    pred[5, 0:2, 7] = False  # 4 false = 4 missed
    click = exp_chamfer_click(pred, truth, np.random.default_rng(0))
    assert click.positive and truth[click.index]


def test_gaussian_no_error_gives_none() -> None:
    truth = cube((5, 5, 5), 1, 4)
    assert exp_chamfer_click(truth.copy(), truth, np.random.default_rng(0)) is None


def test_gaussian_first_click_against_zeros_lands_inside_truth() -> None:
    truth = cube((8, 8, 8), 2, 6)
    for seed in range(5):
        click = exp_chamfer_click(np.zeros_like(truth), truth, np.random.default_rng(seed))
        assert click.positive and truth[click.index]


def test_gaussian_per_slice_depth_favours_the_centre_by_exp_depth_minus_one() -> None:
    # A 5 x 5 square on one slice: in-slice chessboard depths 1 (16 voxels), 2 (8), 3 (centre).
    truth = empty((7, 7, 3))
    truth[1:6, 1:6, 1] = True
    total = 16 * (math.e - 1) + 8 * (math.e**2 - 1) + (math.e**3 - 1)
    expected_centre = (math.e**3 - 1) / total  # 0.257
    rng = np.random.default_rng(42)
    sim = GaussianClickSimulator(slice_axis=2)
    draws = [sim(np.zeros_like(truth), truth, rng).index for _ in range(800)]
    share = sum(d == (3, 3, 1) for d in draws) / len(draws)
    assert abs(share - expected_centre) < 0.04


def test_gaussian_3d_depth_of_a_one_slice_plate_is_flat() -> None:
    # In 3D every voxel of a one-voxel-thick plate touches the border: uniform weights.
    truth = empty((7, 7, 3))
    truth[1:6, 1:6, 1] = True
    rng = np.random.default_rng(42)
    draws = [exp_chamfer_click(np.zeros_like(truth), truth, rng).index for _ in range(800)]
    share = sum(d == (3, 3, 1) for d in draws) / len(draws)
    assert share < 0.1  # 1/25 = 0.04 expected, vs 0.257 per slice


def test_exp_weights_do_not_overflow_and_keep_ratios() -> None:
    weights = exp_weights(np.array([1.0, 2.0, 800.0]))
    assert np.isfinite(weights).all() and weights[2] > 0
    small = exp_weights(np.array([1.0, 2.0]))
    assert small[1] / small[0] == pytest.approx((math.e**2 - 1) / (math.e - 1))


def test_gaussian_is_replayable_with_a_seed() -> None:
    truth = cube((9, 9, 9), 1, 8)
    a = [exp_chamfer_click(empty((9, 9, 9)), truth, np.random.default_rng(7)) for _ in range(3)]
    assert len(set(a)) == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"slice_axis": 3}, "slice_axis"), ({"metric": "euclidean"}, "metric")],
)
def test_gaussian_bad_options_raise(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        GaussianClickSimulator(**kwargs)
    with pytest.raises(ValueError, match=name):
        exp_chamfer_click(empty(), empty(), np.random.default_rng(0), **kwargs)


def test_simulators_refuse_bad_masks_and_rng() -> None:
    truth = empty()
    with pytest.raises(ValueError, match="pred"):
        exp_chamfer_click(np.zeros((6, 7)), truth, np.random.default_rng(0))
    with pytest.raises(ValueError, match="truth"):
        border_distance_click(truth, np.full(truth.shape, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="shape"):
        largest_error_region_click(empty((6, 7, 9)), truth)
    with pytest.raises(ValueError, match="rng"):
        exp_chamfer_click(truth, truth, 0)  # type: ignore[arg-type]


# --- border distance (DeepGrow / 2S-ICR) -----------------------------------------------


def test_border_distance_picks_the_deepest_voxel_most_often() -> None:
    # 3 x 3 x 3 missed cube: 26 border voxels at depth 1, the centre at depth 2 -> p = 2/28.
    truth = cube((5, 5, 5), 1, 4)
    rng = np.random.default_rng(3)
    draws = [border_distance_click(np.zeros_like(truth), truth, rng) for _ in range(1000)]
    assert all(c.positive for c in draws)
    counts: dict[tuple[int, int, int], int] = {}
    for c in draws:
        counts[c.index] = counts.get(c.index, 0) + 1
    assert max(counts, key=counts.get) == (2, 2, 2)
    assert abs(counts[(2, 2, 2)] / len(draws) - 2 / 28) < 0.02


def test_border_distance_sign_is_the_truth_and_none_without_error() -> None:
    pred = empty()
    pred[0, 0, 0] = True
    assert border_distance_click(pred, empty(), np.random.default_rng(0)) == Click((0, 0, 0), False)
    assert border_distance_click(pred, pred.copy(), np.random.default_rng(0)) is None


def test_border_distance_missed_and_false_are_separate_regions() -> None:
    # Missed (x 0..2) next to false (x 3..5): the shared face is a border of each region.
    truth, pred = empty((6, 1, 1)), empty((6, 1, 1))
    truth[0:3] = True
    pred[3:6] = True
    rng = np.random.default_rng(0)
    draws = [border_distance_click(pred, truth, rng) for _ in range(300)]
    assert {c.index[0] for c in draws} == set(range(6))
    assert all(c.positive == (c.index[0] < 3) for c in draws)


def test_error_depth_keeps_missed_and_false_apart() -> None:
    # A missed plane (x = 4) sandwiched between false slabs (x 1..3 and 5..7): as one joint
    # region its centre would be 3 deep; as its own region every voxel is on a border.
    truth, pred = empty((9, 7, 7)), empty((9, 7, 7))
    truth[4, 1:6, 1:6] = True
    pred[1:8, 1:6, 1:6] = True
    pred[4] = False
    depth = error_depth(pred, truth)
    assert depth[4, 3, 3] == 1.0 and depth[2, 3, 3] == 2.0 and depth[0, 0, 0] == 0.0
    assert error_depth(pred, truth, spacing=(1.0, 1.0, 0.5))[4, 3, 3] == 1.0
    assert error_depth(pred, truth, spacing=(3.0, 1.0, 1.0))[2, 3, 3] == 3.0  # y and z now nearer


def test_border_distance_is_replayable_and_spacing_is_checked() -> None:
    truth = cube((7, 7, 7), 1, 6)
    a = border_distance_click(np.zeros_like(truth), truth, np.random.default_rng(11), spacing=(1, 1, 3))
    b = border_distance_click(np.zeros_like(truth), truth, np.random.default_rng(11), spacing=(1, 1, 3))
    assert a == b
    with pytest.raises(ValueError, match="spacing"):
        border_distance_click(np.zeros_like(truth), truth, np.random.default_rng(0), spacing=(1, 0, 1))


# --- DIN evaluation (centre of the largest error region) -------------------------------


def test_din_evaluation_clicks_the_centre_of_a_cube_error() -> None:
    truth = cube((9, 9, 9), 2, 7)  # centre (4, 4, 4)
    assert largest_error_region_click(np.zeros_like(truth), truth) == Click((4, 4, 4), True)
    pred = truth.copy()
    pred[0:3, 0:3, 0:3] = True  # false foreground: 27 voxels less the 1 shared with truth
    assert largest_error_region_click(pred, truth) == Click((1, 1, 1), False)


def test_din_evaluation_chooses_the_largest_region() -> None:
    truth, pred = empty((12, 12, 12)), empty((12, 12, 12))
    truth[0:2, 0:2, 0:2] = True  # missed, 8 voxels
    pred[6:9, 6:9, 6:9] = True  # false, 27 voxels: larger
    assert largest_error_region_click(pred, truth) == Click((7, 7, 7), False)


def test_din_evaluation_ring_error_goes_to_the_nearest_skeleton_point() -> None:
    # One-voxel-thick square ring on slice 1, x and y in 2..8: centroid (5, 5) is the hole.
    ring = empty((11, 11, 3))
    ring[2:9, 2, 1] = ring[2:9, 8, 1] = ring[2, 2:9, 1] = ring[8, 2:9, 1] = True
    # Four midpoints tie at 3 voxels; the first in C order wins.
    assert largest_error_region_click(np.zeros_like(ring), ring) == Click((2, 5, 1), True)
    # Y voxels half as wide: the midpoints along Y are 1.5 mm from the centroid, nearest.
    assert largest_error_region_click(np.zeros_like(ring), ring, spacing=(1, 0.5, 1)) == Click((5, 2, 1), True)


def test_din_evaluation_u_shaped_error_click_is_on_its_skeleton() -> None:
    u = empty((12, 12, 3))
    u[2:10, 2:4, 1] = u[2:10, 8:10, 1] = u[8:10, 2:10, 1] = True
    centroid = np.argwhere(u).mean(axis=0)
    assert not u[tuple(np.floor(centroid + 0.5).astype(int))]  # the centroid is in the gap
    click = largest_error_region_click(np.zeros_like(u), u)
    skeleton = skeletonize(np.pad(u, 1))[1:-1, 1:-1, 1:-1].astype(bool)
    assert click.positive and u[click.index] and skeleton[click.index]
    nearest = min(np.linalg.norm(p - centroid) for p in np.argwhere(skeleton))
    assert np.linalg.norm(np.array(click.index) - centroid) == pytest.approx(nearest)


def test_din_evaluation_is_deterministic_and_checks_connectivity() -> None:
    truth = cube((8, 8, 8), 1, 5)
    assert largest_error_region_click(empty((8, 8, 8)), truth) == largest_error_region_click(empty((8, 8, 8)), truth)
    assert largest_error_region_click(truth, truth) is None
    with pytest.raises(ValueError, match="connectivity"):
        largest_error_region_click(empty((8, 8, 8)), truth, connectivity=8)


# --- DIN training sampler ---------------------------------------------------------------


def din_truth() -> np.ndarray:
    truth = empty((32, 32, 5))
    truth[8:24, 10:26, 1:4] = True  # 16 x 16 px on 3 slices
    return truth


def inplane(mask: np.ndarray) -> np.ndarray:
    """Per-slice distance to the mask, for checking only."""
    out = np.full(mask.shape, np.inf)
    for k in range(mask.shape[2]):
        if mask[:, :, k].any():
            out[:, :, k] = distance_transform_edt(~mask[:, :, k])
    return out


def test_din_training_counts_margin_band_and_spacing() -> None:
    truth = din_truth()
    depth, gap = inplane(~truth), inplane(truth)
    bound = clicks_upper_bound(5)
    assert bound == 11
    n_positive, n_negative = [], []
    for seed in range(12):
        clicks = din_training_clicks(truth, np.random.default_rng(seed), negatives="random" if seed % 2 else "spread")
        positives = [c.index for c in clicks if c.positive]
        negatives = [c.index for c in clicks if not c.positive]
        assert 1 <= len(positives) <= bound and 0 <= len(negatives) <= bound
        assert all(truth[p] and depth[p] >= 3 for p in positives)
        assert all(not truth[n] and 3 <= gap[n] < 40 for n in negatives)
        for a, b in itertools.combinations([c.index for c in clicks], 2):
            d = np.abs(np.subtract(a, b))
            assert d[0] >= 10 or d[1] >= 10 or d[2] >= 1, (a, b)
        n_positive.append(len(positives))
        n_negative.append(len(negatives))
    assert max(n_positive) > 1 and max(n_negative) > 1  # the counts do vary


def test_din_training_small_object_ignores_the_margin() -> None:
    truth = empty((20, 20, 3))
    truth[9:12, 9:12, 1] = True  # 3 x 3 px: every voxel within the margin
    for seed in range(5):
        clicks = din_training_clicks(truth, np.random.default_rng(seed))
        positives = [c for c in clicks if c.positive]
        assert len(positives) == 1 and truth[positives[0].index]  # one fits in a 10 px box


def test_din_training_margin_is_lifted_only_for_the_small_object() -> None:
    truth = empty((32, 32, 5))
    truth[4:20, 8:24, 1:4] = True  # 16 x 16 px: keeps the margin
    thin = empty((32, 32, 5))
    thin[28:31, :, :] = True  # 3 px along X, another object: small
    truth |= thin
    assert np.array_equal(small_objects(truth, 6), thin)
    depth = inplane(~truth)
    in_thin = 0
    for seed in range(6):
        for c in din_training_clicks(truth, np.random.default_rng(seed)):
            if c.positive and thin[c.index]:
                in_thin += 1
            elif c.positive:
                assert depth[c.index] >= 3
    assert in_thin > 0


def test_din_training_band_width_limits_negatives() -> None:
    truth = din_truth()
    gap = inplane(truth)
    for seed in range(5):
        clicks = din_training_clicks(truth, np.random.default_rng(seed), band_width=5.0, negatives="spread")
        assert all(gap[c.index] < 5 for c in clicks if not c.positive)


def test_din_training_is_replayable_and_empty_truth_gives_nothing() -> None:
    sampler = DinTrainingSampler()
    truth = din_truth()
    assert sampler(truth, np.random.default_rng(5)) == sampler(truth, np.random.default_rng(5))
    assert sampler(np.zeros_like(truth), np.random.default_rng(5)) == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": 0}, "n"),
        ({"margin": -1.0}, "margin"),
        ({"band_width": 2.0}, "band_width"),
        ({"small_object": -1}, "small_object"),
        ({"min_separation": (10, 10)}, "min_separation"),
        ({"min_separation": (10, 10, 0)}, "min_separation"),
        ({"negatives": "even"}, "negatives"),
    ],
)
def test_din_training_bad_parameters_raise(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        DinTrainingSampler(**kwargs)
    with pytest.raises(ValueError, match=name):
        din_training_clicks(din_truth(), np.random.default_rng(0), **kwargs)


# --- slice editor ------------------------------------------------------------------------


def slab_truth() -> np.ndarray:
    truth = empty((16, 16, 6))
    truth[4:12, 4:12, 1:5] = True
    return truth


def test_slice_editor_picks_the_corrupted_slice_and_edits_with_the_truth() -> None:
    truth = slab_truth()
    pred = truth.copy()
    pred[4:6, :, 3] = False  # slice 3 loses 2 columns along X: 2 px off
    pred[:, 4:5, 2] = False  # slice 2 loses 1 row along Y: 1 px off
    edit = worst_slice(pred, truth)
    assert (edit.axis, edit.index, edit.hausdorff_mm) == (2, 3, 2.0)
    assert np.array_equal(edit.mask, truth[:, :, 3])
    assert np.array_equal(apply_edit(pred, edit)[:, :, 3], truth[:, :, 3])


def test_slice_editor_measures_in_mm() -> None:
    truth = slab_truth()
    pred = truth.copy()
    pred[4:6, :, 3] = False  # 2 px along X
    pred[:, 4:7, 2] = False  # 3 px along Y
    assert worst_slice(pred, truth).index == 2
    edit = worst_slice(pred, truth, spacing=(2.0, 1.0, 5.0))  # X voxels twice as wide: 4 mm > 3 mm
    assert (edit.index, edit.hausdorff_mm) == (3, 4.0)


def test_slice_editor_empty_versus_full_slice_is_the_worst() -> None:
    truth = slab_truth()
    pred = truth.copy()
    pred[4:12, 4:12, 1] = False  # slice 1 missed entirely
    pred[4:8, :, 3] = False  # slice 3 half wrong
    edit = worst_slice(pred, truth)
    assert edit.index == 1 and edit.hausdorff_mm == math.inf


def test_worst_slices_edits_in_turn_and_stops_when_right() -> None:
    truth = slab_truth()
    pred = truth.copy()
    pred[4:8, :, 3] = False  # 4 px
    pred[4:6, :, 1] = False  # 2 px
    edits = worst_slices(pred, truth, k=5)
    assert [e.index for e in edits] == [3, 1]
    assert worst_slices(pred, truth, k=1)[0].index == 3
    assert worst_slice(truth, truth) is None


def test_slice_editor_other_axis_and_bad_arguments() -> None:
    truth = slab_truth()
    pred = truth.copy()
    pred[7, 4:12, 1:5] = False  # X slice 7 emptied
    assert worst_slice(pred, truth, axis=0).index == 7
    with pytest.raises(ValueError, match="axis"):
        worst_slice(pred, truth, axis=3)
    with pytest.raises(ValueError, match="k"):
        worst_slices(pred, truth, k=-1)
    with pytest.raises(ValueError, match="spacing"):
        worst_slice(pred, truth, spacing=(1, 1))
