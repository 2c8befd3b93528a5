"""The slice-suggestion evaluation's slice pickers: most wrong voxels, spread over the extent, the oracle's best."""

from __future__ import annotations

import numpy as np

from lib.active_learning.evaluate_slices import (
    best_candidate,
    most_wrong_slices,
    relative_position,
    spread_slices,
    suggest,
)


def test_most_wrong_slices_count_gtv_errors_along_the_axis_and_skip_excluded():
    truth = np.zeros((4, 4, 6), np.uint8)
    truth[:, :, 1:5] = 1
    label = truth.copy()
    label[:, :, 2] = 0          # 16 GTV voxels missed on slice 2
    label[0, 0, 4] = 0          # 1 on slice 4
    label[:2, :, 5] = 1         # 8 false positives on slice 5
    label[1, 1, 3] = 2          # heart for GTV: a GTV error too
    assert most_wrong_slices(label, truth, 2, 3) == [2, 5, 3]
    assert most_wrong_slices(label, truth, 2, 5, exclude=[2]) == [5, 3, 4]
    assert most_wrong_slices(label, truth, 0, 1) == [0]  # along axis 0: row 0 holds the most
    assert most_wrong_slices(truth, truth, 2, 3) == []


def test_spread_slices_cover_the_extent_without_its_ends():
    assert spread_slices([10, 11, 12, 13, 14, 15, 16, 17, 18], 4) == [11, 13, 15, 17]
    assert spread_slices([3, 4, 5], 1) == [4]
    assert spread_slices([], 3) == [] and spread_slices([1, 2], 0) == []


def test_best_candidate_is_the_highest_dsc_ties_to_the_lower_slice():
    dsc = {4: 0.8, 7: 0.9, 2: 0.9, 9: 0.1}
    best, tried = best_candidate([9, 7, 4, 2, 7], dsc.get)
    assert best == 2 and tried == {2: 0.9, 4: 0.8, 7: 0.9, 9: 0.1}
    assert best_candidate([], dsc.get) == (None, {})


def test_relative_position_is_one_in_the_middle_zero_at_the_ends_negative_outside():
    assert relative_position(15, [10, 20]) == 1.0
    assert relative_position(10, [10, 20]) == 0.0 and relative_position(20, [10, 20]) == 0.0
    assert relative_position(25, [10, 20]) == -0.0 - 1.0  # outside the extent: a false-positive slice
    assert relative_position(5, None) is None and relative_position(5, [5, 5]) is None


def test_the_evaluation_suggests_what_the_server_ranks_first_the_flank_not_the_most_uncertain_slice():
    label = np.zeros((6, 6, 7), np.uint8)  # GTV areas along axis 2: 0, 4, 25, 25, 25, 0, 0
    label[1:3, 1:3, 1] = 1
    label[0:5, 0:5, 2:5] = 1
    p_gtv = (label == 1).astype(np.float32)
    p_gtv[0:5, 0:5, 3] = 0.5  # the most expected wrong voxels: 12.5 on slice 3, none elsewhere
    probabilities = np.stack([1 - p_gtv, p_gtv, np.zeros_like(p_gtv)])
    assert suggest(probabilities, label, 2, []) == 1  # area change 12.5 where the GTV grows from 4 to 25
    assert suggest(probabilities, label, 2, [1, 4, 5]) == 2  # area change 10.5
    assert suggest(probabilities, label, 2, [1, 2, 4, 5]) == 3  # then the most uncertain slice
