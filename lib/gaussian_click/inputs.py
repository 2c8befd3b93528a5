"""The network's input: a window of the model-space image plus two Gaussian guidance channels.

A :class:`Window` is the box of the model-space volume the network sees: one axial slice
for the 2D model, a region around the clicks for the 3D one. The box is placed at the
origin of an input whose every spatial size is a multiple of 16 (four 2x2 poolings); the
rest is padding (image ``PAD_VALUE``, the model-space value of air, guidance 0).
The network's answer is cropped back from the same place (:func:`paste_from_window`).

Guidance is the paper's: unit impulses at the clicks, Gaussian-smoothed (sigma 2 px in
plane), normalised to [0, 1]; foreground in channel 0, background in channel 1
(:func:`lib.guidance.gaussian_click_map` via :func:`lib.guidance.encode_clicks`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lib.gaussian_click.network import SIZE_DIVISOR
from lib.guidance import encode_clicks, gaussian_click_map
from lib.interaction.clicks import Click

#: Model-space intensity of -200 HU and below: what padding looks like to the network.
PAD_VALUE = -1.0
#: Gaussian sigma in model voxels (X, Y, Z): the paper's 2 px in plane. 3D voxels are
#: 3 x 3 x 6 mm, so (2, 2, 1) is a round 6 mm blob; the 2D model ignores the third value.
SIGMA_VOXELS: tuple[float, float, float] = (2.0, 2.0, 1.0)
#: Smallest region of the 3D model, model voxels (192 x 192 x 192 mm at 3 x 3 x 6 mm).
ROI_3D: tuple[int, int, int] = (64, 64, 32)
#: Margin kept around the clicks in a 3D region, model voxels.
CLICK_MARGIN_3D: tuple[int, int, int] = (16, 16, 8)
#: Largest 2D window, model voxels (384 x 384 mm at 3 mm): a larger slice is cut around the clicks.
SLICE_2D: tuple[int, int] = (128, 128)


def round_up(n: int, divisor: int = SIZE_DIVISOR) -> int:
    """The smallest multiple of ``divisor`` that is >= ``n`` (and >= ``divisor``)."""
    return max(divisor, int(math.ceil(n / divisor)) * divisor)


@dataclass(frozen=True)
class Window:
    """A box of the model-space volume and the padded input size it goes into.

    Attributes:
        start: (3,) first model voxel (x, y, z) of the box.
        stop: (3,) one past the last voxel; for a 2D window ``stop[2] == start[2] + 1``.
        size: the network's spatial input size: (H, W) = (X, Y) for 2D, (X, Y, Z) for 3D;
            each a multiple of 16 and at least the box's extent.
    """

    start: tuple[int, int, int]
    stop: tuple[int, int, int]
    size: tuple[int, ...]

    @property
    def dims(self) -> int:
        """2 or 3."""
        return len(self.size)

    @property
    def box(self) -> tuple[slice, slice, slice]:
        """The box as slices into an (X, Y, Z) array."""
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop))  # type: ignore[return-value]

    @property
    def extent(self) -> tuple[int, int, int]:
        """(X, Y, Z) size of the box in voxels."""
        return tuple(b - a for a, b in zip(self.start, self.stop))  # type: ignore[return-value]

    def contains(self, click: Click) -> bool:
        """Whether ``click`` (model-space index) lies inside the box."""
        return all(a <= v < b for v, a, b in zip(click.index, self.start, self.stop))

    def local(self, clicks: Iterable[Click]) -> list[Click]:
        """The clicks inside the box, with indices relative to the box's start."""
        return [
            Click(tuple(v - a for v, a in zip(c.index, self.start)), c.positive)  # type: ignore[arg-type]
            for c in clicks
            if self.contains(c)
        ]


def centred_window(
    model_shape: Sequence[int], centre: Sequence[int], extent: Sequence[int], dims: int
) -> Window:
    """A box of ``extent`` voxels centred on ``centre``, moved to lie inside the image.

    Args:
        model_shape: (X, Y, Z) size of the model-space image.
        centre: (x, y, z) model voxel to centre on; for 2D, ``z`` is the slice.
        extent: the box size: (X, Y) for 2D, (X, Y, Z) for 3D. Larger than the image on
            an axis, the box is the whole axis (the input is padded instead).
        dims: 2 or 3.

    Returns:
        The window, with ``size`` = ``extent`` rounded up to multiples of 16.
    """
    if dims not in (2, 3) or len(extent) != dims:
        raise ValueError(f"extent must have {dims} sizes for dims={dims}, got {tuple(extent)!r}")
    start, stop = [], []
    for axis in range(dims):
        n, e = int(model_shape[axis]), int(extent[axis])
        low = min(max(int(centre[axis]) - e // 2, 0), max(n - e, 0))
        start.append(low)
        stop.append(min(low + e, n))
    if dims == 2:
        z = int(centre[2])
        if not 0 <= z < int(model_shape[2]):
            raise ValueError(f"slice {z} is outside the model-space image of {int(model_shape[2])} slices")
        start.append(z)
        stop.append(z + 1)
    size = tuple(round_up(int(e)) for e in extent)
    return Window(tuple(start), tuple(stop), size)  # type: ignore[arg-type]


def slice_window(model_shape: Sequence[int], z: int, clicks: Sequence[Click] = (),
                 most: Sequence[int] = SLICE_2D) -> Window:
    """The 2D model's window on axial slice ``z`` of the model-space image: the whole slice when
    it is at most ``most`` voxels per axis (every phantom and any field of view up to 384 mm),
    else ``most`` voxels centred on the slice's clicks, grown to hold each of them with
    ``CLICK_MARGIN_3D``'s in-plane margin: a 512 x 512 CT slice costs the window, not the slice."""
    x, y = int(model_shape[0]), int(model_shape[1])
    here = np.array([c.index for c in clicks if c.index[2] == z], dtype=int).reshape(-1, 3)
    if (x <= most[0] and y <= most[1]) or len(here) == 0:
        return centred_window(model_shape, (x // 2, y // 2, z), (x, y), dims=2)
    low, high = here.min(axis=0), here.max(axis=0)
    centre = (low + high + 1) // 2
    extent = [min(n, max(int(m), int(h - lo + 1 + 2 * g)))
              for n, m, lo, h, g in zip((x, y), most, low, high, CLICK_MARGIN_3D)]
    return centred_window(model_shape, (int(centre[0]), int(centre[1]), z), extent, dims=2)


def clicks_region(
    model_shape: Sequence[int],
    clicks: Sequence[Click],
    roi: Sequence[int] = ROI_3D,
    margin: Sequence[int] = CLICK_MARGIN_3D,
) -> Window:
    """The 3D model's region: centred on the clicks' bounding box, at least ``roi`` voxels,
    and large enough to hold every click with ``margin`` voxels around it.

    Raises:
        ValueError: no clicks.
    """
    if not clicks:
        raise ValueError("no clicks to place a region around")
    points = np.array([c.index for c in clicks])
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high + 1) // 2
    extent = [round_up(max(int(r), int(h - lo + 1 + 2 * m))) for r, lo, h, m in zip(roi, low, high, margin)]
    return centred_window(model_shape, centre, extent, dims=3)


def encode_guidance(
    clicks: Iterable[Click], size: Sequence[int], sigma: Sequence[float] = SIGMA_VOXELS
) -> np.ndarray:
    """Foreground / background Gaussian guidance of clicks on a 2D or 3D grid.

    Args:
        clicks: indices on that grid; for a 2D grid (H, W) the third index is ignored.
        size: (H, W) or (X, Y, Z).
        sigma: Gaussian sigma in voxels (X, Y, Z).

    Returns:
        (2, *size) float32: channel 0 foreground, channel 1 background, each in [0, 1].
    """
    encoder = functools.partial(gaussian_click_map, sigma=tuple(sigma))
    if len(size) == 3:
        return encode_clicks(clicks, tuple(size), encoder)
    flat = [Click((c.index[0], c.index[1], 0), c.positive) for c in clicks]
    return encode_clicks(flat, (*size, 1), encoder)[..., 0]


def crop_to_window(volume: np.ndarray, window: Window, fill: float) -> np.ndarray:
    """The box of an (X, Y, Z) volume placed at the origin of a ``window.size`` array.

    Returns:
        (*window.size) array of ``volume``'s dtype; ``fill`` outside the box.
    """
    out = np.full(window.size, fill, dtype=volume.dtype)
    part = volume[window.box]
    if window.dims == 2:
        part = part[..., 0]
    out[tuple(slice(0, n) for n in part.shape)] = part
    return out


def paste_from_window(values: np.ndarray, window: Window, model_shape: Sequence[int]) -> np.ndarray:
    """The network's (*window.size) answer back in an (X, Y, Z) model-space volume, 0 elsewhere."""
    out = np.zeros(tuple(int(n) for n in model_shape), dtype=np.float32)
    extent = window.extent
    part = values[tuple(slice(0, n) for n in extent[: window.dims])]
    out[window.box] = part[..., None] if window.dims == 2 else part
    return out


def network_input(
    image: np.ndarray, clicks: Iterable[Click], window: Window, sigma: Sequence[float] = SIGMA_VOXELS
) -> np.ndarray:
    """Image window + guidance, as the network takes it (without the batch axis).

    Args:
        image: (X, Y, Z) model-space intensities.
        clicks: model-space clicks; those outside the window are left out.
        window: the box and input size.
        sigma: Gaussian sigma in voxels (X, Y, Z).

    Returns:
        (3, *window.size) float32: image, foreground guidance, background guidance.
    """
    crop = crop_to_window(np.asarray(image, dtype=np.float32), window, PAD_VALUE)
    guidance = encode_guidance(window.local(clicks), window.size, sigma)
    return np.concatenate([crop[None], guidance]).astype(np.float32, copy=False)


__all__ = [
    "CLICK_MARGIN_3D",
    "PAD_VALUE",
    "ROI_3D",
    "SIGMA_VOXELS",
    "Window",
    "centred_window",
    "clicks_region",
    "crop_to_window",
    "encode_guidance",
    "network_input",
    "paste_from_window",
    "round_up",
    "slice_window",
]
