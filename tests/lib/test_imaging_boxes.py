"""Box helpers: a crop's box back in the grid, and values cut to where they reach a floor."""

import numpy as np

from lib.imaging.boxes import EMPTY_BOX, cut_to_floor, shift_box, within


def test_a_box_shifted_back_from_its_crop_is_where_it_was():
    outer = (slice(10, 40), slice(5, 25), slice(2, 9))
    inner = (slice(12, 20), slice(5, 7), slice(4, 9))
    assert shift_box(within(inner, outer), [b.start for b in outer]) == inner


def test_values_are_cut_to_the_box_of_those_at_or_above_the_floor():
    box = (slice(10, 20), slice(0, 8), slice(3, 7))
    values = np.zeros((10, 8, 4), np.float32)
    values[2:5, 1, 0:2] = 0.3
    values[6, 7, 3] = 0.15
    cut, where = cut_to_floor(values, box, 0.15)
    assert where == (slice(12, 17), slice(1, 8), slice(3, 7))
    np.testing.assert_array_equal(cut, values[2:7, 1:8, 0:4])
    nothing, none = cut_to_floor(values, box, 0.5)
    assert nothing.size == 0 and none == EMPTY_BOX
