"""Which slices the user redrew, across the axis of the view they drew in, for every orientation.

Slice views are given by their SliceToRAS matrices as Slicer sets them (red axial, yellow
sagittal, green coronal) or rotated (a reformatted view); the slice drawn in a view is a
slice across the nearest IJK axis of the volume's grid (from the real headers in conftest).
"""

from __future__ import annotations

import numpy as np
import pytest

from SlicePropagationLib import EditHistory, best_view, changed_classes, changed_slices, likely_axis, slice_centre_ras, view_axis
from SlicePropagationLib.geometry import nearest_ijk_axis, numpy_axis, slice_of_point
from tests.slicer_module.conftest import AFFINES, SHAPE_IJK

#: Slicer's default SliceToRAS (rotation part) of its three slice views.
RED = np.array([[-1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
YELLOW = np.array([[0, 0, 1.0], [-1, 0, 0], [0, 1, 0]])
GREEN = np.array([[-1.0, 0, 0], [0, 0, 1], [0, 1, 0]])


def slice_to_ras(rotation, offset=(0.0, 0.0, 0.0)) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, offset
    return matrix


def about_right_axis(degrees: float) -> np.ndarray:
    """Rotation about R (x): what reformatting the red view by tilting it does."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


#: orientation -> IJK axis cut by the red, yellow and green views.
EXPECTED = {
    "RAS": (2, 0, 1), "LPS": (2, 0, 1), "oblique": (2, 0, 1), "anisotropic": (2, 0, 1), "sagittal": (1, 2, 0),
}


@pytest.mark.parametrize("orientation", sorted(AFFINES))
def test_each_view_cuts_across_the_expected_ijk_axis(orientation):
    affine = AFFINES[orientation]
    axes = [view_axis(slice_to_ras(r), affine) for r in (RED, YELLOW, GREEN)]
    assert tuple(a for a, _ in axes) == EXPECTED[orientation]
    aligned = orientation in ("RAS", "LPS", "sagittal")
    assert all((angle < 1e-6) == aligned for _, angle in axes)


@pytest.mark.parametrize("degrees, axis", [(25.0, 2), (-40.0, 2), (70.0, 1), (-65.0, 1)])
def test_a_reformatted_view_maps_to_the_nearest_ijk_axis(degrees, axis):
    tilted = slice_to_ras(about_right_axis(degrees) @ RED)
    found, angle = view_axis(tilted, AFFINES["RAS"])
    assert found == axis and angle == pytest.approx(min(abs(degrees), 90 - abs(degrees)), abs=1e-6)


def test_the_slice_view_that_shows_an_axis_best_is_chosen():
    views = {"Red": slice_to_ras(RED), "Yellow": slice_to_ras(YELLOW), "Green": slice_to_ras(GREEN)}
    assert [best_view(views, AFFINES["RAS"], a) for a in (0, 1, 2)] == ["Yellow", "Green", "Red"]
    assert [best_view(views, AFFINES["sagittal"], a) for a in (0, 1, 2)] == ["Green", "Red", "Yellow"]
    with pytest.raises(ValueError, match="no slice view"):
        best_view({}, AFFINES["RAS"], 0)
    with pytest.raises(ValueError, match="zero vector"):
        nearest_ijk_axis((0, 0, 0), AFFINES["RAS"])


@pytest.mark.parametrize("orientation", sorted(AFFINES))
@pytest.mark.parametrize("view", ["red", "yellow", "green"])
def test_a_slice_redrawn_in_a_view_is_found_across_that_views_axis(orientation, view):
    """The user redraws one slice in a view; the diff names exactly that slice, across that axis."""
    affine = AFFINES[orientation]
    rotation = {"red": RED, "yellow": YELLOW, "green": GREEN}[view]
    axis, _ = view_axis(slice_to_ras(rotation), affine)
    reference = np.zeros(SHAPE_IJK[::-1], np.uint8)  # (K, J, I) as Slicer holds it
    reference[2:7, 4:11, 3:9] = 1
    current = reference.copy()
    index = [slice(None)] * 3
    s = SHAPE_IJK[axis] // 2
    index[numpy_axis(axis)] = s
    plane = current[tuple(index)]
    plane[...] = 0
    plane[1:3, 1:4] = 1  # the slice redrawn: a different, smaller shape
    assert changed_slices(current, reference, axis) == [s]
    assert likely_axis(current, reference) == axis
    assert len(changed_slices(current, reference, (axis + 1) % 3)) > 1


def test_nothing_changed_means_no_axis_and_no_slices():
    label = np.ones((3, 4, 5), np.uint8)
    assert likely_axis(label, label) is None and changed_slices(label, label, 0) == []
    with pytest.raises(ValueError, match="differs from the reference"):
        changed_slices(label, label[:2], 0)


@pytest.mark.parametrize("orientation", sorted(AFFINES))
def test_moving_a_view_to_a_slice_lands_on_that_slice(orientation):
    affine = AFFINES[orientation]
    for axis in (0, 1, 2):
        point = slice_centre_ras(affine, SHAPE_IJK, axis, 3)
        assert slice_of_point(point, affine, axis) == 3
    with pytest.raises(ValueError, match="outside the volume"):
        slice_centre_ras(affine, SHAPE_IJK, 2, SHAPE_IJK[2])


def test_the_redrawn_classes_are_those_drawn_over_or_erased():
    reference = np.zeros((4, 5, 6), np.uint8)
    reference[1, 1:3, 1:3] = 1
    reference[2, 3:5, 3:5] = 2
    current = reference.copy()
    assert changed_classes(current, reference) == []
    current[1, 1:3, 1:3] = 0  # the GTV erased
    current[3, 0, 0] = 2  # the heart drawn
    assert changed_classes(current, reference) == [1, 2]
    with pytest.raises(ValueError, match="differs from the reference"):
        changed_classes(current[:2], reference)


def test_the_history_keeps_every_slice_in_drawing_order_and_restarts_on_another_axis():
    history, restarted = EditHistory().extended(2, [7])
    history, _ = history.extended(2, [3, 7], [2])
    assert (history.axis, history.slices, history.classes, restarted) == (2, [7, 3], [2], False)
    other, restarted = history.extended(0, [5], [1])
    assert (other.axis, other.slices, other.classes, restarted) == (0, [5], [1], True)
    assert history.slices == [7, 3]  # the earlier history is not changed in place
    with pytest.raises(ValueError, match="axis must be 0, 1 or 2"):
        history.extended(3, [1])
