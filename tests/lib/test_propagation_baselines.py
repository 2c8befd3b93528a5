"""Paste and contour-interpolation baselines of slice-edit propagation."""

from __future__ import annotations

import numpy as np

from lib.propagation.baselines import interpolate_edits, paste_edits


def squares(shape=(20, 20, 12)):
    drawn = np.zeros(shape, bool)
    drawn[5:9, 5:9, 2] = True  # 4 x 4 on slice 2
    drawn[5:13, 5:13, 8] = True  # 8 x 8 on slice 8
    return drawn


def test_paste_replaces_only_the_edited_slices():
    prediction = np.zeros((20, 20, 12), bool)
    prediction[0:3, 0:3, :] = True
    out = paste_edits(prediction, squares(), 2, [2, 8])
    assert out[..., 2].sum() == 16 and out[..., 8].sum() == 64
    assert out[..., 5].sum() == 9  # untouched slice keeps the prediction


def test_interpolation_grows_between_the_drawn_slices_and_keeps_them():
    prediction = np.zeros((20, 20, 12), bool)
    prediction[..., 11] = True  # outside the span: kept
    drawn = squares()
    out = interpolate_edits(prediction, drawn, 2, [2, 8])
    areas = [int(out[..., z].sum()) for z in range(2, 9)]
    assert areas[0] == 16 and areas[-1] == 64
    assert all(a <= b for a, b in zip(areas, areas[1:])) and 16 < areas[3] < 64
    assert out[..., 11].all()


def test_an_empty_edited_slice_is_not_interpolated_from():
    prediction = np.zeros((20, 20, 12), bool)
    prediction[5:9, 5:9, 3:8] = True
    drawn = squares()
    drawn[..., 2] = False  # the user erased slice 2
    out = interpolate_edits(prediction, drawn, 2, [2, 8])
    np.testing.assert_array_equal(out, paste_edits(prediction, drawn, 2, [2, 8]))


def test_interpolation_along_another_axis():
    drawn = np.zeros((12, 20, 20), bool)
    drawn[2, 5:9, 5:9] = True
    drawn[8, 5:13, 5:13] = True
    out = interpolate_edits(np.zeros_like(drawn), drawn, 0, [2, 8])
    assert 16 < out[5].sum() < 64
