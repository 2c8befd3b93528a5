"""Experiment: under the ``ct`` policy, the graph cuts (proposal and click cut) see a window centred
on the clicked tissue when its HU lies outside the network's [-200, 200] window (lung, bone), in
place of the clipped network input. The network's own input is unchanged.

``patch()`` replaces ``zoom.prepare`` (keeps the RAS HU beside the prepared image),
``zoom.predict_region`` and ``zoom.recut_region`` (cut on the click window). Env ``CUT_HALF_WIDTH``
(HU, default 400).
"""
import os

import numpy as np
import torch
from monai.transforms import Orientation

import lib.universal_click.zoom as zoom
from lib.imaging.intensity import CT_WINDOW_HU
from lib.imaging.prepare import first_channel_tensor

#: The RAS HU of the case being segmented (the harness keeps one prepared image at a time), or None.
RAW: list = [None]
HALF = float(os.environ.get("CUT_HALF_WIDTH", "400"))
_prepare, _predict, _recut = zoom.prepare, zoom.predict_region, zoom.recut_region


def window_units(raw_region: np.ndarray, clicks, fallback: np.ndarray) -> np.ndarray:
    """The region in cut units ([-1, 1]) on a window around the foreground clicks' median HU, or
    ``fallback`` (the network's input) when that median lies inside the CT window."""
    values = [raw_region[c.index] for c in clicks if c.positive and all(0 <= i < n for i, n in zip(c.index, raw_region.shape))]
    if not values:
        return fallback
    centre = float(np.median(values))
    if CT_WINDOW_HU[0] <= centre <= CT_WINDOW_HU[1]:
        return fallback
    low, high = centre - HALF, centre + HALF
    return np.clip((raw_region - low) / (high - low) * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)


def prepare(image, affine, policy="auto"):
    prepared = _prepare(image, affine, policy)
    if prepared.policy == "ct":
        ras = Orientation(axcodes="RAS")(first_channel_tensor(image, affine))
        RAW[0] = ras[0].numpy().astype(np.float32)
    else:
        RAW[0] = None
    return prepared


def _raw_for(array):
    """The HU beside ``array`` (the prepared image of the current case), or None."""
    raw = RAW[0]
    return raw if raw is not None and raw.shape == array.shape else None


@torch.no_grad()
def predict_region(network, array, clicks, region, device="cpu", ras_spacing=(1.0, 1.0, 1.0)):
    raw = _raw_for(array)
    if raw is None or not zoom.takes_proposal(network):
        return _predict(network, array, clicks, region, device, ras_spacing)
    image = zoom.to_model(array, region, zoom.PAD_VALUE)
    inside = zoom.model_clicks(clicks, region)
    cut_image = window_units(zoom.to_model(raw, region, -1024.0), inside, image)
    channels = [image[None], zoom.encode_guidance(inside, region.size, zoom.SIGMA_VOXELS),
                zoom.proposal(cut_image, inside, region.spacing_mm(ras_spacing))[None]]
    inputs = torch.from_numpy(np.concatenate(channels).astype(np.float32))[None].to(device)
    network.eval()
    return torch.sigmoid(zoom.forward(network, inputs))[0, 0].cpu().numpy()


def recut_region(array, probability, clicks, region, ras_spacing, settings):
    raw = _raw_for(array)
    if raw is None:
        return _recut(array, probability, clicks, region, ras_spacing, settings)
    image = zoom.to_model(array, region, zoom.PAD_VALUE)
    cut_image = window_units(zoom.to_model(raw, region, -1024.0), zoom.model_clicks(clicks, region), image)
    box = zoom.image_box(region, array.shape)
    starts = [b.start for b in box]
    local = [zoom.Click(tuple(i - s for i, s in zip(c.index, starts)), c.positive)
             for c in zoom.model_clicks(clicks, region) if all(b.start <= i < b.stop for i, b in zip(c.index, box))]
    out = np.zeros_like(probability)
    out[box] = zoom.click_cut(zoom.cut_intensity(cut_image[box]), probability[box], local,
                              region.spacing_mm(ras_spacing), settings)
    return out


def patch() -> None:
    zoom.prepare, zoom.predict_region, zoom.recut_region = prepare, predict_region, recut_region
    import lib.universal_click.segmenter as segmenter
    segmenter.prepare = prepare
