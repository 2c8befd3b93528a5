"""Segment with clicks: image (file or prepared) + clicks -> probability on the input grid.

- 2D model: segments ONE axial slice of the model space (on a slice wider than 384 mm, a
  384 mm window of it around that slice's clicks: :func:`slice_window`). Which one: the slice of the
  ``anchor`` click when the caller knows which click is the newest (the evaluation harness
  does); otherwise the slice holding the most clicks, ties going to the slice whose click
  comes latest in the list (foreground clicks first, then background, as requests list
  them). Only the clicks on that slice guide the network. Every other slice of the answer
  is 0: the stock Slicer SmartEdit panel clears the clicked slice and ADDS the returned
  label (it also sends only that slice's clicks), so an answer elsewhere would paint other
  slices. A caller that wants the previous answer kept elsewhere merges it (see
  :mod:`lib.gaussian_click.segmenter`).
- 3D model: segments a region around all the clicks (:func:`clicks_region`); 0 outside it.

With no foreground click among the clicks used, the answer is all 0 (the paper's first
click is always a foreground click; a background click alone asks for nothing).
Loaded, pre-processed images are kept in a :class:`lib.session_cache.SessionCache`, so a
second click on the same image costs one network pass, no decoding or resampling.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lib.gaussian_click.inputs import (
    SIGMA_VOXELS,
    Window,
    clicks_region,
    network_input,
    paste_from_window,
    slice_window,
)
from lib.gaussian_click.network import load_network
from lib.imaging.boxes import EMPTY_BOX, Box, mask_box, paste, shift_box
from lib.imaging.prepare import PreparedImage, prepare_file
from lib.interaction.clicks import Click
from lib.precision import forward
from lib.session_cache import SessionCache, file_key, session_key, shared_cache

#: The probability the served answer is thresholded at: voxels that cannot reach it are not resampled.
FLOOR = 0.5


def choose_slice(clicks: Sequence[Click], anchor: Click | None = None) -> int:
    """The model-space slice (z) the 2D model segments.

    Args:
        clicks: model-space clicks, in request order; not empty.
        anchor: the newest click (model space) if known: its slice wins.

    Returns:
        ``anchor``'s z; else the z with the most clicks, ties to the one clicked latest in the list.
    """
    if anchor is not None:
        return int(anchor.index[2])
    if not clicks:
        raise ValueError("no clicks to choose a slice from")
    counts = Counter(c.index[2] for c in clicks)
    latest = {c.index[2]: n for n, c in enumerate(clicks)}
    return int(max(counts, key=lambda z: (counts[z], latest[z])))


def answer_window(prepared: PreparedImage, clicks: Sequence[Click], anchor: Click | None = None) -> Window:
    """The window the model will see for these model-space clicks."""
    if prepared.dims == 2:
        return slice_window(prepared.spatial_shape, choose_slice(clicks, anchor), clicks)
    return clicks_region(prepared.spatial_shape, clicks)


@torch.no_grad()
def predict_window(network: torch.nn.Module, inputs: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """Foreground probability of one network input.

    Args:
        network: a Gaussian-click network (eval mode is set here).
        inputs: (3, *size) from :func:`lib.gaussian_click.inputs.network_input`.

    Returns:
        (*size) float32 sigmoid probability.
    """
    if network.training:  # walking every module costs 1-2 ms a request
        network.eval()
    batch = torch.from_numpy(inputs[None]).to(device)
    return torch.sigmoid(forward(network, batch))[0, 0].cpu().numpy()


def segment_prepared(
    network: torch.nn.Module,
    prepared: PreparedImage,
    clicks: Sequence[Click],
    anchor: Click | None = None,
    device: str | torch.device = "cpu",
    sigma: Sequence[float] = SIGMA_VOXELS,
    floor: float = FLOOR,
) -> np.ndarray:
    """(X, Y, Z) float32 probability on the input grid, 0 outside the segmented window and where
    it cannot reach ``floor``: :func:`segment_prepared_box` pasted into the whole grid (same arguments)."""
    values, box = segment_prepared_box(network, prepared, clicks, anchor, device, sigma, floor)
    return paste(values, box, prepared.input_shape)


def segment_prepared_box(
    network: torch.nn.Module,
    prepared: PreparedImage,
    clicks: Sequence[Click],
    anchor: Click | None = None,
    device: str | torch.device = "cpu",
    sigma: Sequence[float] = SIGMA_VOXELS,
    floor: float = FLOOR,
) -> tuple[np.ndarray, Box]:
    """Segment a prepared image with clicks on one box of its input grid.

    Args:
        network: the 2D or 3D network matching ``prepared.dims``.
        prepared: the image in model space.
        clicks: voxel indices (i, j, k) of the INPUT image, in request order; not empty.
        anchor: the newest click (input indices), for the 2D slice choice; None: see module doc.
        device: where the network runs.
        sigma: Gaussian sigma in model voxels (X, Y, Z).
        floor: the lowest probability the caller reads (a threshold): the box is cut to the input
            voxels whose resampled probability can reach it (:meth:`PreparedImage.reach_region` of
            the model voxels at or above it), so a small structure in a large study costs its own
            box, not the window's (a 2D window spans the whole slice). The box lies inside the
            window's and every voxel at or above ``floor`` keeps its value; those below it
            outside the box read 0.

    Returns:
        (float32 probability on the box, the box): outside the box the answer is 0 or below
        ``floor`` (an empty box with no foreground click among those used, or none reaching ``floor``).

    Raises:
        ValueError: no clicks, or a click outside the image (named).
    """
    model_clicks = prepared.clicks_to_model(clicks)
    model_anchor = prepared.clicks_to_model([anchor])[0] if anchor is not None else None
    window = answer_window(prepared, model_clicks, model_anchor)
    used = window.local(model_clicks)
    if not any(c.positive for c in used):
        return np.zeros((0, 0, 0), dtype=np.float32), EMPTY_BOX
    inputs = network_input(prepared.image[0].numpy(), model_clicks, window, sigma)
    probability = predict_window(network, inputs, device)
    model_space = paste_from_window(probability, window, prepared.spatial_shape)
    reached = mask_box(model_space[window.box] >= floor)
    if reached is None:
        return np.zeros((0, 0, 0), dtype=np.float32), EMPTY_BOX
    box = prepared.reach_region(shift_box(reached, window.start), window.box)
    return prepared.to_input_box(model_space, box), box


class ClickSegmenter:
    """A Gaussian-click model with a cache of prepared images.

    Args:
        network: the network (2D or 3D, matching ``dims``).
        dims: 2 or 3.
        cache: where prepared images are kept; default the process-wide :func:`shared_cache`.
        use_cache: False loads and pre-processes the image on every call (the plain way).
        device: where the network runs.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        dims: int = 2,
        cache: SessionCache | None = None,
        use_cache: bool = True,
        device: str | torch.device = "cpu",
    ) -> None:
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims!r}")
        self.network = network.to(device).eval()
        self.dims = dims
        self.cache = cache if cache is not None else shared_cache()
        self.use_cache = use_cache
        self.device = device

    @classmethod
    def from_weights(cls, weights: str | Path, dims: int = 2, **options: object) -> ClickSegmenter:
        """A segmenter with the network of a ``weights.pt`` file (``{"model": state_dict}``)."""
        device = options.get("device", "cpu")
        return cls(load_network(weights, dims, device), dims, **options)  # type: ignore[arg-type]

    @property
    def tag(self) -> str:
        """The cache tag of this model space."""
        return f"gaussian_click_{self.dims}d"

    def prepare(self, source: str | Path | PreparedImage, session_id: str | None = None) -> PreparedImage:
        """The image in model space: from the cache when the same file (or session) was seen.

        Args:
            source: an image path, or an already prepared image (returned as is).
            session_id: a MONAI Label session id to key the cache by instead of the file.
        """
        if isinstance(source, PreparedImage):
            if source.dims != self.dims:
                raise ValueError(f"the image was prepared for a {source.dims}D model, this one is {self.dims}D")
            return source
        if not self.use_cache:
            return prepare_file(source, self.dims)
        key = session_key(session_id, self.tag) if session_id else file_key(source, self.tag)
        return self.cache.get_or_load(key, lambda: prepare_file(source, self.dims))

    def segment(
        self, source: str | Path | PreparedImage, clicks: Sequence[Click], anchor: Click | None = None
    ) -> np.ndarray:
        """(X, Y, Z) float32 foreground probability on the input grid (see the module doc)."""
        return segment_prepared(self.network, self.prepare(source), clicks, anchor, self.device)


__all__ = ["FLOOR", "ClickSegmenter", "answer_window", "choose_slice", "predict_window", "segment_prepared",
           "segment_prepared_box"]
