"""MONAI's DeepEdit transforms as this project uses them: clicks -> guidance -> guidance channels.

Labels are ``LABEL_NAMES`` = ``{"gtv": 1, "background": 0}`` (in this order: the guidance
channels are the positive (GTV) clicks, then the negative (background) ones). Everything is
numpy, (C, X, Y, Z) images and (1, X, Y, Z) labels in model space; a guidance point is
``[d, x, y, z]`` as MONAI writes it (``d`` is not a coordinate; only the last three entries are).

- :func:`initial_guidance`: DeepEdit's first clicks drawn from the label
  (``FindAllValidSlicesMissingLabelsd`` + ``AddInitialSeedPointMissingLabelsd``);
- :func:`click_step`: one simulated interaction (``FindDiscrepancyRegionsDeepEditd`` +
  ``AddRandomGuidanceDeepEditd``) from a predicted label;
- :func:`guidance_channels`: ``AddGuidanceSignalDeepEditd`` (Gaussian, min-max to [0, 1]);
- :func:`guidance_from_clicks`: a user's (the harness's) model-space clicks as guidance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from monai.apps.deepedit.transforms import (
    AddGuidanceSignalDeepEditd,
    AddInitialSeedPointMissingLabelsd,
    AddRandomGuidanceDeepEditd,
    FindAllValidSlicesMissingLabelsd,
    FindDiscrepancyRegionsDeepEditd,
)

from lib.interaction.clicks import Click

LABEL_NAMES: dict[str, int] = {"gtv": 1, "background": 0}
GUIDANCE_CHANNELS = len(LABEL_NAMES)
#: Gaussian sigma of a click, model voxels (3 x 3 x 6 mm; MONAI's default is 3).
GUIDANCE_SIGMA = 2

Guidance = dict[str, list[list[int]]]


def _points(value: object) -> list[list[int]]:
    """MONAI keeps guidance as lists, arrays or JSON strings; a point with a negative coordinate is 'none'.

    The first entry (MONAI's debug distance) is set to 0: MONAI writes -1 there for a seed drawn
    in a slice without any other label (the background seed of a slice without GTV), and its
    own filters would then drop a valid click.
    """
    value = json.loads(value) if isinstance(value, str) else value
    value = value.tolist() if isinstance(value, np.ndarray) else value
    return [[0, *map(int, p[1:])] for p in value if min(p[1:]) >= 0]  # type: ignore[union-attr]


def guidance_from_clicks(clicks: Sequence[Click]) -> Guidance:
    """Model-space clicks -> ``{"gtv": positive points, "background": negative points}``."""
    return {
        "gtv": [[0, *map(int, c.index)] for c in clicks if c.positive],
        "background": [[0, *map(int, c.index)] for c in clicks if not c.positive],
    }


def guidance_channels(image: np.ndarray, guidance: Guidance, image_channels: int,
                      sigma: float = GUIDANCE_SIGMA) -> np.ndarray:
    """(image_channels + 2, X, Y, Z) float32: the image's first channels + one map per label of ``guidance``.

    Channels already past ``image_channels`` (an earlier guidance) are replaced.
    """
    if set(guidance) != set(LABEL_NAMES):
        raise ValueError(f"guidance must have the labels {list(LABEL_NAMES)}, got {list(guidance)}")
    ordered = {name: _points(guidance[name]) for name in LABEL_NAMES}
    add = AddGuidanceSignalDeepEditd(keys="image", guidance="guidance", sigma=sigma,  # type: ignore[arg-type]
                                     number_intensity_ch=image_channels)
    out = add({"image": np.asarray(image, dtype=np.float32), "guidance": ordered})["image"]
    return np.asarray(out, dtype=np.float32)


def initial_guidance(label: np.ndarray, seed: int) -> Guidance:
    """DeepEdit's initial clicks from a (1, X, Y, Z) {0, 1} label: a slice with the label, a point
    per connected region (up to 5) deep inside it, for the GTV and for the background."""
    find = FindAllValidSlicesMissingLabelsd(keys="label", sids="sids")
    seed_points = AddInitialSeedPointMissingLabelsd(keys="label", guidance="guidance", sids="sids")
    seed_points.set_random_state(seed=seed)
    d = seed_points(find({"label": np.asarray(label, dtype=np.float32), "label_names": dict(LABEL_NAMES)}))
    return {name: _points(d["guidance"][name]) for name in LABEL_NAMES}


def click_step(label: np.ndarray, prediction: np.ndarray, guidance: Guidance, seed: int) -> Guidance:
    """One DeepEdit interaction: clicks in the error regions of ``prediction`` added to ``guidance``.

    Args:
        label: (1, X, Y, Z) {0, 1} truth.
        prediction: (1, X, Y, Z) {0, 1} predicted label.
        guidance: the clicks so far.
        seed: the transform's random state (MONAI also draws from Python's ``random``).

    Returns:
        The new guidance (MONAI's rule may drop all clicks of one label; see its source).
    """
    find = FindDiscrepancyRegionsDeepEditd(keys="label", pred="pred", discrepancy="discrepancy")
    add = AddRandomGuidanceDeepEditd(keys="NA", guidance="guidance", discrepancy="discrepancy",
                                     probability="probability")
    add.set_random_state(seed=seed)
    d = {"label": np.asarray(label, dtype=np.float32), "pred": np.asarray(prediction, dtype=np.float32),
         "label_names": dict(LABEL_NAMES), "guidance": {k: list(v) for k, v in guidance.items()},
         "probability": 1.0}  # whether to click at all is the caller's draw (MONAI's would reuse stale state)
    d = add(find(d))
    return {name: _points(d["guidance"].get(name, [])) for name in LABEL_NAMES}


__all__ = [
    "GUIDANCE_CHANNELS",
    "GUIDANCE_SIGMA",
    "LABEL_NAMES",
    "click_step",
    "guidance_channels",
    "guidance_from_clicks",
    "initial_guidance",
]
