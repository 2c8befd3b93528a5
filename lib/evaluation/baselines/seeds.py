"""What the classical baselines share: intensities scaled to [0, 1] and seeds from clicks.

A click is one voxel; a seed of a graph method should be a few, so each click becomes a
small ball (radius in mm, so anisotropic voxels give a flat ball). Where a foreground and a
background ball overlap, neither claims the voxel, except each click's own voxel, which
always keeps the sign of its latest click.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lib.interaction.clicks import Click

#: CT window of the 2S-ICR paper, HU; mapped to [0, 1].
CT_WINDOW_HU: tuple[float, float] = (-200.0, 200.0)
#: Seed ball radius around each click, mm.
SEED_RADIUS_MM = 3.0


def normalised_ct(image: np.ndarray, window: tuple[float, float] = CT_WINDOW_HU) -> np.ndarray:
    """Channel 0 of ``image`` windowed to ``window`` HU and scaled to [0, 1].

    Args:
        image: (C, X, Y, Z) float, channel 0 CT in HU.
        window: (low, high) HU.

    Returns:
        (X, Y, Z) float64 in [0, 1].
    """
    low, high = window
    if not high > low:
        raise ValueError(f"window must be (low, high) with high > low, got {window}")
    return np.clip((np.asarray(image[0], dtype=np.float64) - low) / (high - low), 0.0, 1.0)


def ball_offsets(radius_mm: float, spacing: Sequence[float]) -> np.ndarray:
    """Integer (i, j, k) offsets of the voxels within ``radius_mm`` of a centre voxel.

    Returns:
        (N, 3) int array, N >= 1 (the centre is always included).
    """
    reach = np.floor(radius_mm / np.asarray(spacing, dtype=float)).astype(int)
    grid = np.stack(np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij"), axis=-1).reshape(-1, 3)
    inside = ((grid * np.asarray(spacing, dtype=float)) ** 2).sum(axis=1) <= radius_mm**2 + 1e-9
    return grid[inside]


def ball_mask(
    points: Sequence[tuple[int, int, int]], shape: Sequence[int], spacing: Sequence[float], radius_mm: float
) -> np.ndarray:
    """(X, Y, Z) bool: the union of balls of ``radius_mm`` around ``points`` (clipped to the array)."""
    mask = np.zeros(tuple(shape), dtype=bool)
    if len(points) == 0:
        return mask
    voxels = (np.asarray(points, dtype=int)[:, None, :] + ball_offsets(radius_mm, spacing)[None]).reshape(-1, 3)
    voxels = voxels[((voxels >= 0) & (voxels < np.asarray(shape))).all(axis=1)]
    mask[tuple(voxels.T)] = True
    return mask


def border_mask(shape: Sequence[int]) -> np.ndarray:
    """(X, Y, Z) bool: the voxels on the faces of the array (the ROI border)."""
    mask = np.ones(tuple(shape), dtype=bool)
    mask[1:-1, 1:-1, 1:-1] = False
    return mask


def click_seeds(
    clicks: Sequence[Click],
    shape: Sequence[int],
    spacing: Sequence[float],
    radius_mm: float = SEED_RADIUS_MM,
    border_background: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background seed masks from clicks.

    Args:
        clicks: the clicks, voxel indices (i, j, k).
        shape: (X, Y, Z) size in voxels.
        spacing: voxel size in mm along (X, Y, Z).
        radius_mm: each click seeds a ball of this radius.
        border_background: also seed the array border as background (outside the foreground
            balls). Meant for a region of interest cropped around the structure with a margin,
            whose border is background by construction; it gives a single foreground click a
            contrast, and it is kept when background clicks come (dropping it then lets the
            answer leak to the whole ROI at the first background click).

    Returns:
        (foreground, background): (X, Y, Z) bool, disjoint.
    """
    fg = ball_mask([c.index for c in clicks if c.positive], shape, spacing, radius_mm)
    bg = ball_mask([c.index for c in clicks if not c.positive], shape, spacing, radius_mm)
    if border_background:
        bg |= border_mask(shape) & ~fg
    both = fg & bg
    fg, bg = fg & ~both, bg & ~both
    for click in clicks:  # later clicks win on their own voxel
        fg[click.index], bg[click.index] = click.positive, not click.positive
    return fg, bg
