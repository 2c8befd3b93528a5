"""Inference of the universal click model: a region around the clicks at the image's own voxel
size, growing and zooming out while the answer touches the region's border (AutoZoom).

The image is first put in RAS order (MONAI ``Orientation``: axes permuted and flipped, never
resampled) and normalised once by its intensity policy (:mod:`lib.imaging.intensity`), so
model voxels are the image's own voxels (never finer than ``MIN_SPACING_MM``). A
:class:`Region` is a box of that RAS grid seen through a ``zoom`` per axis: ``size`` model
voxels of ``zoom`` RAS voxels each (trilinear resampling when zoom > 1). The first region is
``ROI`` voxels around the clicks (larger when the clicks need it); when the answer touches a
side of the region that is not the image's edge, the region grows by ``ZOOM_FACTOR`` along
that axis up to ``MAX_ROI`` voxels, then the voxels coarsen by ``ZOOM_FACTOR`` instead
(nnInteractive's AutoZoom, Isensee et al. 2025), at most ``MAX_ZOOM_STEPS`` times. The answer
of the last pass (optionally cut again with the clicks as hard seeds, :func:`recut_region`) is
returned on the input grid (0 outside its region).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import Orientation

from lib.gaussian_click.inputs import SIGMA_VOXELS, encode_guidance
from lib.imaging.boxes import EMPTY_BOX, Box
from lib.imaging.crop import cut
from lib.imaging.intensity import Policy, choose_policy, normalise
from lib.imaging.prepare import PreparedImage, first_channel_tensor
from lib.interaction.clicks import Click
from lib.precision import forward
from lib.universal_click.click_cut import ClickCut, click_cut
from lib.universal_click.network import takes_proposal
from lib.universal_click.proposal import cut_intensity, proposal
from lib.universal_click.space import CLICK_MARGIN, MAX_ROI, MAX_ZOOM_STEPS, MIN_SPACING_MM, ROI, ZOOM_FACTOR

PAD_VALUE = -1.0
SIZE_DIVISOR = 16


@dataclass(frozen=True)
class Region:
    """A box of the RAS grid seen at ``size`` model voxels.

    Attributes:
        start: (3,) first RAS voxel of the box (may be negative: padded).
        size: (3,) model voxels (multiples of 16).
        zoom: (3,) RAS voxels per model voxel (>= 1).
    """

    start: tuple[int, int, int]
    size: tuple[int, int, int]
    zoom: tuple[float, float, float]

    @property
    def extent(self) -> tuple[int, int, int]:
        """(3,) RAS voxels the box covers."""
        return tuple(int(math.ceil(n * z)) for n, z in zip(self.size, self.zoom))  # type: ignore[return-value]

    def spacing_mm(self, ras_spacing: Sequence[float]) -> tuple[float, float, float]:
        """Model voxel size (X, Y, Z) mm."""
        return tuple(float(s * e / n) for s, e, n in zip(ras_spacing, self.extent, self.size))  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class PreparedUniversal:
    """An image in RAS order and model units, with how it maps back.

    Attributes:
        prepared: the RAS image (1, X', Y', Z') in model units, with input affine and shape
            (:class:`lib.imaging.prepare.PreparedImage`, dims 3).
        policy: the intensity policy used.
        spacing: RAS voxel size (X', Y', Z') mm.
    """

    prepared: PreparedImage
    policy: Policy
    spacing: tuple[float, float, float]

    @property
    def array(self) -> np.ndarray:
        return self.prepared.image[0].numpy()


def prepare(image: np.ndarray, affine: np.ndarray, policy: str = "auto") -> PreparedUniversal:
    """An in-memory (C, X, Y, Z) image (channel 0 used) with its (4, 4) voxel -> RAS mm affine.

    Raises:
        ValueError: not 4D, or an unknown policy.
    """
    tensor = first_channel_tensor(image, affine)
    chosen = choose_policy(tensor[0].numpy(), policy)
    ras = Orientation(axcodes="RAS")(tensor)
    values = torch.from_numpy(normalise(ras[0].numpy(), chosen)[None])
    ras_image = ras.clone()
    ras_image.array = values  # keep the RAS affine and metadata
    prepared = PreparedImage(ras_image.float(), np.asarray(affine, dtype=np.float64),
                             tuple(int(n) for n in np.asarray(image).shape[1:]), 3)  # type: ignore[arg-type]
    spacing = tuple(float(v) for v in np.linalg.norm(np.asarray(ras_image.affine)[:3, :3], axis=0))
    return PreparedUniversal(prepared, chosen, spacing)  # type: ignore[arg-type]


def _round_up(n: float) -> int:
    return max(SIZE_DIVISOR, int(math.ceil(n / SIZE_DIVISOR)) * SIZE_DIVISOR)


def fit_region(shape: Sequence[int], spacing: Sequence[float], low: np.ndarray, high: np.ndarray,
               size: Sequence[int] | None = None, zoom: Sequence[float] | None = None) -> Region:
    """A region holding RAS voxels ``low`` .. ``high`` (inclusive) with the click margin.

    Args:
        shape: RAS grid size.
        spacing: RAS voxel size mm.
        low, high: (3,) the box to hold.
        size: at least these model voxels (default ``ROI``).
        zoom: at least this zoom (default: 1, or what ``MIN_SPACING_MM`` asks).
    """
    size = list(size or ROI)
    zoom = [max(1.0, MIN_SPACING_MM / float(s)) for s in spacing] if zoom is None else list(zoom)
    out_size, out_zoom, start = [], [], []
    for a in range(3):
        need = (float(high[a] - low[a] + 1)) / zoom[a] + 2 * CLICK_MARGIN[a]
        n = _round_up(max(size[a], need))
        z = zoom[a]
        if n > MAX_ROI[a]:
            z = zoom[a] * need / MAX_ROI[a]
            n = MAX_ROI[a]
        n = min(n, _round_up(shape[a] / z))  # never much larger than the image
        extent = int(math.ceil(n * z))
        centre = (float(low[a]) + float(high[a]) + 1) / 2
        first = int(round(centre - extent / 2))
        first = min(max(first, 0), max(int(shape[a]) - extent, 0)) if extent <= shape[a] else first
        out_size.append(int(n))
        out_zoom.append(float(z))
        start.append(first)
    return Region(tuple(start), tuple(out_size), tuple(out_zoom))  # type: ignore[arg-type]


def to_model(volume: np.ndarray, region: Region, fill: float) -> np.ndarray:
    """The region of an (X', Y', Z') RAS volume at model resolution (``region.size``)."""
    crop = cut(np.asarray(volume, dtype=np.float32), region.start, region.extent, fill)
    if crop.shape == region.size:
        return crop
    tensor = torch.from_numpy(crop)[None, None]
    return F.interpolate(tensor, size=region.size, mode="trilinear", align_corners=False)[0, 0].numpy()


def from_model(values: np.ndarray, region: Region, shape: Sequence[int]) -> np.ndarray:
    """Model-resolution values of a region back on the (X', Y', Z') RAS grid, 0 outside it."""
    extent = region.extent
    if tuple(values.shape) != tuple(extent):
        tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
        values = F.interpolate(tensor, size=extent, mode="trilinear", align_corners=False)[0, 0].numpy()
    out = np.zeros(tuple(int(n) for n in shape), dtype=np.float32)
    src, dst = [], []
    for s, e, n in zip(region.start, extent, shape):
        a, b = max(s, 0), min(s + e, n)
        dst.append(slice(a, max(a, b)))
        src.append(slice(a - s, a - s + max(0, b - a)))
    out[tuple(dst)] = values[tuple(src)]
    return out


def model_clicks(clicks: Sequence[Click], region: Region) -> list[Click]:
    """RAS-grid clicks as model-voxel clicks of a region (those inside it)."""
    out = []
    for c in clicks:
        p = [int(math.floor((v - s) / z)) for v, s, z in zip(c.index, region.start, region.zoom)]
        if all(0 <= q < n for q, n in zip(p, region.size)):
            out.append(Click(tuple(p), c.positive))  # type: ignore[arg-type]
    return out


def touching_axes(mask: np.ndarray, region: Region, shape: Sequence[int]) -> list[int]:
    """Axes on which a model-resolution answer touches a region side that is not the image's edge."""
    axes = []
    extent = region.extent
    for a in range(3):
        first = np.take(mask, 0, axis=a).any() and region.start[a] > 0
        last = np.take(mask, mask.shape[a] - 1, axis=a).any() and region.start[a] + extent[a] < shape[a]
        if first or last:
            axes.append(a)
    return axes


def image_box(region: Region, shape: Sequence[int]) -> tuple[slice, slice, slice]:
    """Slices of a region's model voxels whose centres lie inside the (X', Y', Z') RAS image ``shape``
    (the rest is padding); empty slices when none do."""
    box = []
    for start, n, z, size in zip(region.start, region.size, region.zoom, shape):
        centres = start + (np.arange(n) + 0.5) * z
        inside = np.nonzero((centres >= 0) & (centres < size))[0]
        box.append(slice(int(inside[0]), int(inside[-1]) + 1) if inside.size else slice(0, 0))
    return tuple(box)  # type: ignore[return-value]


@torch.no_grad()
def predict_region(network: torch.nn.Module, array: np.ndarray, clicks: Sequence[Click], region: Region,
                   device: str | torch.device = "cpu", ras_spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Foreground probability (``region.size``) of one pass.

    ``ras_spacing``: the RAS grid's voxel size mm; gives the proposal's model voxel size (used only
    by a network that takes the proposal, :func:`takes_proposal`).
    """
    image = to_model(array, region, PAD_VALUE)
    inside = model_clicks(clicks, region)
    channels = [image[None], encode_guidance(inside, region.size, SIGMA_VOXELS)]
    if takes_proposal(network):
        channels.append(proposal(image, inside, region.spacing_mm(ras_spacing))[None])
    inputs = torch.from_numpy(np.concatenate(channels).astype(np.float32))[None].to(device)
    if network.training:  # walking every module costs 1-2 ms a request
        network.eval()
    return torch.sigmoid(forward(network, inputs))[0, 0].cpu().numpy()


def recut_region(array: np.ndarray, probability: np.ndarray, clicks: Sequence[Click], region: Region,
                 ras_spacing: Sequence[float], settings: ClickCut) -> np.ndarray:
    """A pass's answer (``region.size``) cut again with every click as a hard seed
    (:func:`lib.universal_click.click_cut.click_cut`), on the part of the region the RAS image
    ``array`` covers (:func:`image_box`: the padding is never the cut's background seed), 0 elsewhere.

    Args:
        array: (X', Y', Z') RAS image, model units.
        probability: the network's answer on the region.
        clicks: RAS-grid clicks.
        region: the pass's region.
        ras_spacing: the RAS grid's voxel size mm.
        settings: the cut's settings.
    """
    image = to_model(array, region, PAD_VALUE)
    box = image_box(region, array.shape)
    starts = [b.start for b in box]

    def local(points: Sequence[Click]) -> list[Click]:
        return [Click(tuple(i - s for i, s in zip(c.index, starts)), c.positive)  # type: ignore[misc]
                for c in model_clicks(points, region) if all(b.start <= i < b.stop for i, b in zip(c.index, box))]

    out = np.zeros_like(probability)
    out[box] = click_cut(cut_intensity(image[box]), probability[box], local(clicks), region.spacing_mm(ras_spacing),
                         settings)
    return out


@dataclass(frozen=True)
class Answer:
    """One answer: probability on the input grid, the region of its last pass, the passes made, and
    ``box``, the box of the input grid outside which ``probability`` is 0."""

    probability: np.ndarray
    region: Region
    passes: int
    box: Box = EMPTY_BOX


def segment(network: torch.nn.Module, prepared: PreparedUniversal, clicks: Sequence[Click],
            device: str | torch.device = "cpu", max_zoom_steps: int = MAX_ZOOM_STEPS,
            recut: ClickCut | None = None) -> Answer:
    """Segment with clicks on the INPUT grid (indices i, j, k), AutoZoom included (module doc).

    ``recut``: the last pass's answer is cut again with the clicks as hard seeds (:func:`recut_region`;
    AutoZoom decides on the network's answers).

    Raises:
        ValueError: no clicks, or a click outside the image.
    """
    ras_clicks = prepared.prepared.clicks_to_model(clicks)
    shape = prepared.prepared.spatial_shape
    if not any(c.positive for c in ras_clicks):
        empty = Region((0, 0, 0), ROI, (1.0, 1.0, 1.0))
        return Answer(np.zeros(prepared.prepared.input_shape, np.float32), empty, 0)
    points = np.array([c.index for c in ras_clicks])
    region = fit_region(shape, prepared.spacing, points.min(axis=0), points.max(axis=0))
    probability = predict_region(network, prepared.array, ras_clicks, region, device, prepared.spacing)
    passes = 1
    for _ in range(max_zoom_steps):
        mask = probability > 0.5
        axes = touching_axes(mask, region, shape)
        if not axes:
            break
        ras = from_model(probability, region, shape) > 0.5
        found = np.argwhere(ras)
        low = np.minimum(points.min(axis=0), found.min(axis=0)) if found.size else points.min(axis=0)
        high = np.maximum(points.max(axis=0), found.max(axis=0)) if found.size else points.max(axis=0)
        size = [min(int(n * ZOOM_FACTOR), MAX_ROI[a]) if a in axes else n for a, n in enumerate(region.size)]
        zoom = [z * ZOOM_FACTOR if (a in axes and region.size[a] >= MAX_ROI[a]) else z
                for a, z in enumerate(region.zoom)]
        grown = fit_region(shape, prepared.spacing, low, high, size, zoom)
        if grown == region:
            break
        region = grown
        probability = predict_region(network, prepared.array, ras_clicks, region, device, prepared.spacing)
        passes += 1
    if recut is not None:
        probability = recut_region(prepared.array, probability, ras_clicks, region, prepared.spacing, recut)
    ras_probability = from_model(probability, region, shape)
    box = tuple(slice(max(s, 0), min(s + e, n)) for s, e, n in zip(region.start, region.extent, shape))
    input_box = prepared.prepared.input_region(box)
    answer = prepared.prepared.to_input_grid(ras_probability, input_box)
    return Answer(answer, region, passes, input_box)


def resolution_ceiling_mask(truth_ras: np.ndarray, region: Region) -> np.ndarray:
    """A RAS-grid truth passed through a region's resampling and back (> 0.5): what the model's grid can say."""
    model = to_model(truth_ras.astype(np.float32), region, 0.0)
    return from_model(model, region, truth_ras.shape) > 0.5


__all__ = ["Answer", "PreparedUniversal", "Region", "fit_region", "image_box", "from_model", "model_clicks",
           "predict_region", "prepare", "recut_region", "resolution_ceiling_mask", "segment", "to_model", "touching_axes"]
