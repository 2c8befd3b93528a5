"""Segment with DIN: a prepared image + clicks (+ optional boxes) -> probability on the input grid.

- Whole-volume mode: the network sees the whole model-space image (padded at the far end of
  each axis to multiples of :data:`lib.din.network.SIZE_DIVISOR` with air), every click guides it.
- Click-window mode (``window_margin``, what the infer task serves): the network sees a window
  around the clicks (:func:`click_window`, a fixed size whatever the study's size) and the
  answer is 0 outside it; the cost of a click is bounded by the structure, not the study.
- Box mode (the paper's "DINs-box"): the user gives one or more bounding boxes; each box of
  model space is segmented on its own, with the clicks inside it, and the answer is 0
  outside every box (overlaps take the larger probability). The network sees the box with
  context around it, at least :data:`BOX_CONTEXT` voxels (:func:`context_window`). Boxes are ``[[i0, j0, k0],
  [i1, j1, k1]]``, two opposite corners in voxel indices of the INPUT image, both inclusive.

Guides are computed on the grid the network sees (the padded volume or box), so ExpDT is
the same wherever it is computed and EDT / GDT depend on that grid's size, as in the paper.
With no click at all the answer is 0 everywhere (nothing was asked for).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lib.din.guides import GuideSettings, guide_maps
from lib.din.network import SIZE_DIVISOR, checkpoint_settings, load_network
from lib.din.preprocess import PAD_VALUE, PreparedImage, model_space
from lib.imaging.boxes import EMPTY_BOX, Box, clip_box, full_box, is_empty, paste, within
from lib.interaction.clicks import Click
from lib.interaction.coordinates import map_points
from lib.precision import forward
from lib.session_cache import SessionCache, file_key, session_key, shared_cache

#: Smallest region the network sees in box mode, model voxels (X, Y, Z): the training patch.
BOX_CONTEXT: tuple[int, int, int] = (48, 48, 16)
#: Margin around the clicks' bounding box of the click window, model voxels (X, Y, Z): 72 x 72 x
#: 48 mm in CT's 3 x 3 x 6 mm space (58 x 58 x 60 mm in STIR's), more than a GTV reaches past a
#: click inside it; one click gives a 64 x 64 x 18-voxel window (the training patch is 48 x 48 x 16).
CLICK_WINDOW_MARGIN: tuple[int, int, int] = (24, 24, 8)


def padded_size(shape: Sequence[int], divisor: Sequence[int] = SIZE_DIVISOR) -> tuple[int, int, int]:
    """Each of (X, Y, Z) rounded up to a multiple of its divisor."""
    return tuple(max(d, int(math.ceil(n / d)) * d) for n, d in zip(shape, divisor))  # type: ignore[return-value]


def parse_boxes(
    value: object, input_shape: Sequence[int] | None
) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """Request boxes ``[[[i0, j0, k0], [i1, j1, k1]], ...]`` as (low, high) inclusive corners.

    Args:
        value: the request's ``boxes``: a list of boxes, each two opposite corners; None or []
            means no box (whole-volume mode).
        input_shape: (X, Y, Z) size of the input image; corners must lie inside it. None
            checks the form only (before the image is loaded).

    Returns:
        One (low, high) pair per box, low <= high per axis.

    Raises:
        ValueError: a malformed box or a corner outside the image, named with its index.
    """
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"boxes must be a list of [[i0, j0, k0], [i1, j1, k1]], got {value!r}")
    boxes = []
    for n, box in enumerate(value):
        ok = isinstance(box, Sequence) and not isinstance(box, (str, bytes)) and len(box) == 2 and all(
            isinstance(c, Sequence) and not isinstance(c, (str, bytes)) and len(c) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in c)
            for c in box
        )
        if not ok:
            raise ValueError(f"boxes[{n}] = {box!r} is not two corners [[i0, j0, k0], [i1, j1, k1]]")
        a, b = (np.rint(np.asarray(c, dtype=float)).astype(int) for c in box)
        low, high = np.minimum(a, b), np.maximum(a, b)
        if input_shape is not None and ((low < 0).any() or (high >= np.asarray(input_shape)).any()):
            raise ValueError(
                f"boxes[{n}] = {box!r} is outside the image of size {[int(v) for v in input_shape]} "
                "(corners are inclusive voxel indices)"
            )
        boxes.append((tuple(int(v) for v in low), tuple(int(v) for v in high)))
    return boxes  # type: ignore[return-value]


def box_to_model(prepared: PreparedImage, low: Sequence[int], high: Sequence[int]) -> Box:
    """The model-space box covering an input-space box (all of its voxels, each half a voxel wide)."""
    corners = np.array(np.meshgrid(*zip(np.asarray(low) - 0.5, np.asarray(high) + 0.5), indexing="ij")).reshape(3, -1).T
    inside = map_points(corners, prepared.input_affine, prepared.image.affine, round=False)
    shape = np.asarray(prepared.spatial_shape)
    first = np.clip(np.floor(inside.min(axis=0) + 0.5).astype(int), 0, shape - 1)
    last = np.clip(np.ceil(inside.max(axis=0) - 0.5).astype(int), 0, shape - 1)
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(first, np.maximum(first, last)))  # type: ignore[return-value]


def context_window(box: Box, spatial_shape: Sequence[int], minimum: Sequence[int] = BOX_CONTEXT) -> Box:
    """The box the network sees for a user's box: the box itself, grown about its centre to at
    least ``minimum`` model voxels per axis (the training patch size), moved to lie in the image.

    A box drawn tight around a small tumour would otherwise give the network a few voxels with
    nothing around them, unlike anything it was trained on; the answer is still kept inside
    the user's box only.
    """
    window = []
    for b, n, m in zip(box, spatial_shape, minimum):
        size = min(max(b.stop - b.start, int(m)), int(n))
        low = min(max((b.start + b.stop - size) // 2, 0), int(n) - size)
        window.append(slice(low, low + size))
    return tuple(window)  # type: ignore[return-value]


def click_window(
    spatial_shape: Sequence[int],
    clicks: Sequence[Click],
    margin: Sequence[int] = CLICK_WINDOW_MARGIN,
    minimum: Sequence[int] = BOX_CONTEXT,
    divisor: Sequence[int] = SIZE_DIVISOR,
) -> Box:
    """The model-space window the network sees without a box: the clicks' bounding box grown by
    ``margin`` voxels each side, at least ``minimum``, rounded up to multiples of ``divisor``
    (no air padding inside the body), at most the image, moved to lie inside it.

    Args:
        spatial_shape: (X, Y, Z) of the model-space image.
        clicks: model-space clicks inside the image; not empty.
    """
    if not clicks:
        raise ValueError("no clicks to place a window around")
    points = np.array([c.index for c in clicks])
    low, high = points.min(axis=0), points.max(axis=0) + 1
    window = []
    for lo, hi, n, m, least, d in zip(low, high, spatial_shape, margin, minimum, divisor):
        size = min(int(math.ceil(max(int(hi - lo) + 2 * int(m), int(least)) / d)) * int(d), int(n))
        start = min(max((int(lo) + int(hi) - size) // 2, 0), int(n) - size)
        window.append(slice(start, start + size))
    return tuple(window)  # type: ignore[return-value]


@torch.no_grad()
def predict_volume(
    network: torch.nn.Module,
    image: np.ndarray,
    clicks: Sequence[Click],
    settings: GuideSettings,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Foreground probability of one model-space volume.

    Args:
        network: a DIN network (eval mode is set here).
        image: (X, Y, Z) model-space intensities.
        clicks: voxel indices on ``image``'s grid; those outside are left out.
        settings: the guide encoding the network was trained with (sigma / gamma may differ).
        device: where the network runs.

    Returns:
        (X, Y, Z) float32 softmax probability of the foreground class.
    """
    image = np.asarray(image, dtype=np.float32)
    size = padded_size(image.shape)
    padded = np.full((1, *size), PAD_VALUE, dtype=np.float32)
    padded[(0, *(slice(0, n) for n in image.shape))] = image
    inside = [c for c in clicks if all(0 <= v < n for v, n in zip(c.index, image.shape))]
    guides = guide_maps(padded, inside, settings)
    inputs = torch.from_numpy(np.concatenate([padded, guides])[None]).to(device)
    if network.training:  # walking every module costs 1-2 ms a request
        network.eval()
    probability = torch.softmax(forward(network, inputs), dim=1)[0, 1]
    return probability[tuple(slice(0, n) for n in image.shape)].float().cpu().numpy()


#: No answer: an empty box (``paste`` gives a volume of zeros).
_EMPTY: tuple[np.ndarray, Box] = (np.zeros((0, 0, 0), dtype=np.float32), EMPTY_BOX)


def segment_prepared(
    network: torch.nn.Module,
    prepared: PreparedImage,
    clicks: Sequence[Click],
    settings: GuideSettings,
    boxes: Sequence[tuple[Sequence[int], Sequence[int]]] = (),
    device: str | torch.device = "cpu",
    label_only: bool = False,
    window_margin: Sequence[int] | None = None,
) -> np.ndarray:
    """(X, Y, Z) float32 probability on the input grid, 0 outside the answer's box:
    :func:`segment_prepared_box` pasted into the whole grid (same arguments)."""
    values, box = segment_prepared_box(network, prepared, clicks, settings, boxes, device, label_only, window_margin)
    return paste(values, box, prepared.input_shape)


def segment_prepared_box(
    network: torch.nn.Module,
    prepared: PreparedImage,
    clicks: Sequence[Click],
    settings: GuideSettings,
    boxes: Sequence[tuple[Sequence[int], Sequence[int]]] = (),
    device: str | torch.device = "cpu",
    label_only: bool = False,
    window_margin: Sequence[int] | None = None,
) -> tuple[np.ndarray, Box]:
    """Segment a prepared image with clicks (and boxes) on one box of its input grid.

    Args:
        network: the DIN network.
        prepared: the image in model space.
        clicks: voxel indices (i, j, k) of the INPUT image, foreground and background.
        settings: guide encoding (kind, sigma in model voxels (X, Y, Z), gamma).
        boxes: (low, high) inclusive input-space corners (:func:`parse_boxes`); empty: whole volume.
        device: where the network runs.
        label_only: the caller only thresholds at 0.5 (the infer task): resample the answer
            only inside the bounding box of the model voxels above 0.5 (plus one voxel) and
            give 0 elsewhere, where bilinear interpolation could not exceed 0.5 anyway. The
            label ``> 0.5`` is the same; the probabilities below 0.5 are not.
        window_margin: without boxes, segment only :func:`click_window` with this margin
            (model voxels X, Y, Z; e.g. :data:`CLICK_WINDOW_MARGIN`); None: the whole volume.

    Returns:
        (float32 probability on a box of the input grid, the box); 0 outside it and, in box mode,
        outside the boxes (the box is the click window in click-window mode, the part above 0.5
        with ``label_only``).

    Raises:
        ValueError: a click outside the image (named).
    """
    if not list(clicks):
        return _EMPTY
    model_clicks = prepared.clicks_to_model(clicks)
    volume = prepared.image[0].numpy()
    inside = [c for c in model_clicks if all(0 <= v < n for v, n in zip(c.index, prepared.spatial_shape))]
    if not boxes and (window_margin is None or not inside):
        model_space = predict_volume(network, volume, model_clicks, settings, device)
        return _to_input(prepared, model_space, None, label_only)
    if not boxes:
        window = click_window(prepared.spatial_shape, inside, window_margin)
        start = [w.start for w in window]
        local = [Click(tuple(v - s for v, s in zip(c.index, start)), c.positive) for c in inside]  # type: ignore[misc]
        model_space = np.zeros(prepared.spatial_shape, dtype=np.float32)
        model_space[window] = predict_volume(network, volume[window], local, settings, device)
        covered = np.zeros(prepared.spatial_shape, dtype=bool)
        covered[window] = True
        return _to_input(prepared, model_space, covered, label_only, window)
    model_space = np.zeros(prepared.spatial_shape, dtype=np.float32)
    covered = np.zeros(prepared.spatial_shape, dtype=bool)
    for low, high in boxes:
        box = box_to_model(prepared, low, high)
        window = context_window(box, prepared.spatial_shape)
        start = [w.start for w in window]
        inside_box = [c for c in model_clicks if all(b.start <= v < b.stop for v, b in zip(c.index, box))]
        local = [Click(tuple(v - s for v, s in zip(c.index, start)), c.positive) for c in inside_box]  # type: ignore[misc]
        answer = predict_volume(network, volume[window], local, settings, device)
        in_window = tuple(slice(b.start - w.start, b.stop - w.start) for b, w in zip(box, window))
        np.maximum(model_space[box], answer[in_window], out=model_space[box])
        covered[box] = True
    values, region = _to_input(prepared, model_space, covered, label_only)
    inside = np.zeros(values.shape, dtype=bool)
    for low, high in boxes:
        part = clip_box(low, [b + 1 for b in high], prepared.input_shape)
        overlap = clip_box([max(p.start, r.start) for p, r in zip(part, region)],
                           [min(p.stop, r.stop) for p, r in zip(part, region)], prepared.input_shape)
        if not is_empty(overlap):
            inside[within(overlap, region)] = True
    return np.where(inside, values, 0.0).astype(np.float32), region


def _to_input(
    prepared: PreparedImage, model_space: np.ndarray, covered: np.ndarray | None, label_only: bool,
    window: Box | None = None,
) -> tuple[np.ndarray, Box]:
    """A model-space answer on a box of the input grid, computed only where it can matter.

    Args:
        prepared: the image.
        model_space: (X', Y', Z') probabilities on the model grid.
        covered: (X', Y', Z') bool where the network answered (box mode), or None (everywhere).
        label_only: restrict to the voxels above 0.5 (see :func:`segment_prepared`).
        window: a box of the model grid outside which ``model_space`` is 0 and ``covered``
            False (the click window): only it is searched. None: the whole grid.

    Returns:
        (float32 values on the box, the box of the input grid); 0 outside the box.
    """
    if covered is None and not label_only:
        whole = full_box(prepared.input_shape)
        return prepared.to_input_box(model_space, whole), whole
    window = window or full_box(prepared.spatial_shape)
    where = model_space[window] > 0.5 if label_only else covered[window]
    points = np.argwhere(where) + np.array([w.start for w in window])
    if len(points) == 0:
        return _EMPTY
    # one model voxel more per side: interpolation reaches up to one model voxel from a value above 0.5
    grow = 1 if label_only else 0
    low = np.maximum(points.min(axis=0) - grow, 0)
    high = np.minimum(points.max(axis=0) + 1 + grow, np.asarray(prepared.spatial_shape))
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
    region = prepared.input_region(box)  # type: ignore[arg-type]
    return prepared.to_input_box(model_space, region), region


class DinSegmenter:
    """A DIN model with its guide settings and a cache of prepared images.

    Args:
        network: the network.
        settings: the guide encoding it was trained with.
        cache: where prepared images are kept; default the process-wide :func:`shared_cache`.
        use_cache: False loads and pre-processes the image on every call (the plain way).
        device: where the network runs.
        modality: the model space the network was trained in (``"ct"`` or ``"mri_stir"``).
    """

    def __init__(
        self,
        network: torch.nn.Module,
        settings: GuideSettings | None = None,
        cache: SessionCache | None = None,
        use_cache: bool = True,
        device: str | torch.device = "cpu",
        modality: str = "ct",
    ) -> None:
        self.network = network.to(device).eval()
        self.settings = settings or GuideSettings()
        self.space = model_space(modality)
        self.cache = cache if cache is not None else shared_cache()
        self.use_cache = use_cache
        self.device = device

    @classmethod
    def from_weights(cls, weights: str | Path, **options: object) -> DinSegmenter:
        """A segmenter with the network, guide settings and model space of a ``weights.pt``."""
        device = options.get("device", "cpu")
        options.setdefault("modality", modality_of(weights))
        return cls(load_network(weights, device), settings_of(weights), **options)  # type: ignore[arg-type]

    def prepare(self, source: str | Path | PreparedImage, session_id: str | None = None) -> PreparedImage:
        """The image in model space: from the cache when the same file (or session) was seen."""
        if isinstance(source, PreparedImage):
            return source
        if not self.use_cache:
            return self.space.prepare_file(source)
        tag = self.space.cache_tag
        key = session_key(session_id, tag) if session_id else file_key(source, tag)
        return self.cache.get_or_load(key, lambda: self.space.prepare_file(source))

    def segment(
        self,
        source: str | Path | PreparedImage,
        clicks: Sequence[Click],
        boxes: Sequence[tuple[Sequence[int], Sequence[int]]] = (),
        sigma: object = None,
        gamma: object = None,
    ) -> np.ndarray:
        """(X, Y, Z) float32 foreground probability on the input grid (see the module doc)."""
        settings = self.settings.with_request(sigma, gamma)
        return segment_prepared(self.network, self.prepare(source), clicks, settings, boxes, self.device)


def settings_of(weights: str | Path) -> GuideSettings:
    """The guide settings saved in a ``weights.pt`` (ExpDT defaults when absent)."""
    saved = checkpoint_settings(weights)
    return GuideSettings(
        str(saved.get("guide", "exp")), tuple(saved.get("sigma", GuideSettings().sigma)), float(saved.get("gamma", 1.0))
    )


def modality_of(weights: str | Path, default: str = "ct") -> str:
    """The model space a ``weights.pt`` was trained in; ``default`` when it does not say (the CT
    models trained before STIR, and the server's own checkpoints, which hold weights only)."""
    modality = str(checkpoint_settings(weights).get("modality", default))
    model_space(modality)  # an unknown one fails here, named
    return modality


__all__ = [
    "CLICK_WINDOW_MARGIN",
    "DinSegmenter",
    "click_window",
    "box_to_model",
    "context_window",
    "modality_of",
    "padded_size",
    "parse_boxes",
    "predict_volume",
    "segment_prepared",
    "segment_prepared_box",
    "settings_of",
]
