"""The separable resampler gives MONAI's ``SpatialResample`` values (bilinear, border padding) on
RAS, LPS, anisotropic, oblique and cropped-box geometries; a matrix that mixes axes has no per-axis form."""

from __future__ import annotations

import numpy as np
import pytest

from lib.imaging.prepare import prepare_array
from lib.imaging.resample import axis_map


def affine(orientation: str, spacing, angle_deg: float = 0.0) -> np.ndarray:
    a = np.diag([*spacing, 1.0]).astype(float)
    if orientation == "LPS":
        a[:3, :3] = np.diag([-1.0, -1.0, 1.0]) @ a[:3, :3]
    if angle_deg:
        t = np.deg2rad(angle_deg)
        rotation = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
        a[:3, :3] = rotation @ a[:3, :3]
    a[:3, 3] = [-40.0, 25.0, -12.0]
    return a


@pytest.mark.parametrize("orientation, spacing", [("RAS", (1.5, 1.5, 3.0)), ("LPS", (0.9, 0.9, 5.0)),
                                                  ("RAS", (3.0, 3.0, 6.0)), ("LPS", (2.2, 1.7, 2.5))])
def test_fast_path_equals_monai_on_axis_aligned_grids(orientation, spacing):
    rng = np.random.default_rng(0)
    image = rng.normal(0, 100, size=(1, 37, 29, 17)).astype(np.float32)
    prepared = prepare_array(image, affine(orientation, spacing), 3)
    model = rng.random(prepared.spatial_shape).astype(np.float32)
    assert axis_map(np.linalg.inv(np.asarray(prepared.image.affine)) @ prepared.input_affine) is not None
    for region in (None, (slice(3, 30), slice(0, 11), slice(5, 17))):
        fast = prepared.to_input_grid(model, region)
        slow = prepared.to_input_grid(model, region, fast=False)
        assert np.abs(fast - slow).max() < 1e-4


def test_oblique_images_keep_parallel_grids_and_the_same_values():
    rng = np.random.default_rng(1)
    image = rng.normal(0, 100, size=(1, 21, 19, 9)).astype(np.float32)
    prepared = prepare_array(image, affine("RAS", (1.5, 1.5, 3.0), angle_deg=20.0), 3)
    # Spacing keeps the rotation: model and input axes stay parallel, so the separable path applies
    assert axis_map(np.linalg.inv(np.asarray(prepared.image.affine)) @ prepared.input_affine) is not None
    model = rng.random(prepared.spatial_shape).astype(np.float32)
    assert np.abs(prepared.to_input_grid(model) - prepared.to_input_grid(model, fast=False)).max() < 1e-4


def test_axis_map_reads_permutations_flips_and_refuses_mixing():
    m = np.array([[0, 0, 2.0, 1.0], [-1.0, 0, 0, 5.0], [0, 0.5, 0, -2.0], [0, 0, 0, 1]])
    mapping = axis_map(m)
    assert mapping.source_axis == (1, 2, 0) and mapping.scale == (-1.0, 0.5, 2.0)
    assert mapping.offset == (5.0, -2.0, 1.0)
    m[0, 1] = 0.3
    assert axis_map(m) is None
