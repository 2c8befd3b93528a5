"""DeepGrow-style points and disks."""

import numpy as np
import pytest

from lib.guidance import DiskGuide, disk_map


def test_radius_zero_is_a_single_voxel():
    m = disk_map([(2, 3, 1)], (5, 5, 5), radius=0)
    assert m.sum() == 1 and m[2, 3, 1] == 1 and m.dtype == np.float32


@pytest.mark.parametrize(("radius", "count"), [(1, 7), (1.5, 19), (2, 33)])
def test_ball_voxel_counts(radius, count):
    # voxels with squared offset <= r^2: 1 + 6 (r=1); + 12 edges (sqrt 2); r=2 adds 8 corners (sqrt 3) and 6 at 2
    assert disk_map([(4, 4, 4)], (9, 9, 9), radius=radius).sum() == count


def test_flat_disk_in_the_click_slice():
    m = disk_map([(4, 4, 2)], (9, 9, 5), radius=(2, 2, 0))
    assert m[:, :, 2].sum() == 13 and m.sum() == 13
    assert m[6, 4, 2] == 1 and m[6, 5, 2] == 0


def test_ball_is_clipped_at_the_border_and_union_of_clicks():
    assert disk_map([(0, 0, 0)], (5, 5, 5), radius=1).sum() == 4
    assert disk_map([(1, 1, 1), (3, 3, 3)], (5, 5, 5), radius=1).sum() == 14
    assert not disk_map([], (5, 5, 5), radius=3).any()


def test_negative_radius_raises():
    with pytest.raises(ValueError, match="radius"):
        DiskGuide(radius=(1, -1, 1))
