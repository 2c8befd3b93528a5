"""The universal click model's infer task: ``universal_click`` (any structure, any contrast).

A 3D DeepGrow task like ``gaussian_click_3d`` (same request format, same local correction with
an uploaded previous label; the answer is the evaluation harness's
:func:`lib.universal_click.segmenter.answer_clicks`, click cut included, computed in its box by
:func:`~lib.universal_click.segmenter.answer_clicks_in_box`), but the image is prepared by :mod:`lib.universal_click.zoom`:
RAS order at its own voxel size, normalised by an intensity policy chosen per request
(param ``"intensity_policy"``: ``"auto"`` (default; HU-looking images get ``"ct"``),
``"ct"`` or ``"percentile"``), and segmented in a region around the clicks that grows and
zooms out while the answer touches its border. ``/info`` lists the policies and the
held-out structures (from ``weights.pt``'s metadata) in the task's config.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.transforms import LoadImage

from infers.answer import answer_in_box, network_time
from infers.gaussian_click import GaussianClick
from infers.request_files import cached_image
from lib.evaluation.protocol import spacing_of
from lib.imaging.intensity import CHOICES, DESCRIPTIONS
from lib.universal_click.segmenter import answer_clicks_in_box, correction_settings, recut_settings
from lib.universal_click.zoom import PreparedUniversal, prepare


def load_prepared(path: str, policy: str) -> PreparedUniversal:
    """An image file (any reader MONAI has) prepared for the universal model."""
    image = LoadImage(image_only=True, ensure_channel_first=True)(path)
    if image.ndim != 4:
        raise ValueError(f"image must be 3D, got shape {tuple(image.shape)}")
    return prepare(np.asarray(image, dtype=np.float32), np.asarray(image.affine, dtype=np.float64), policy)


class UniversalClick(GaussianClick):
    """Segment whatever is clicked (see the module doc).

    Args:
        path: weights files, the last existing one is served.
        meta: what ``weights.pt`` records beside the state dict (shown in ``/info``).
        network, cache, use_cache: as :class:`infers.gaussian_click.GaussianClick`.
    """

    def __init__(self, path, meta: dict | None = None, network: torch.nn.Module | None = None,
                 cache=None, use_cache: bool = True):
        super().__init__(path, 3, network, cache, use_cache,
                         description="Universal click model (3D): click any structure in CT, MRI or any contrast")
        meta = dict(meta or {})
        self._config.update({
            "intensity_policy": "auto",
            "intensity_policies": {"choices": list(CHOICES), **DESCRIPTIONS},
            "held_out_structures": meta.get("held_out", []),
            "model": meta.get("model", "plain"),
            "input_channels": int(meta.get("input_channels", 3)),
            "proposal": meta.get("proposal"),
        })

    def _prepared(self, data: dict[str, Any]):
        policy = str(data.get("intensity_policy", "auto"))
        if policy not in CHOICES:
            raise ValueError(f"intensity_policy must be one of {list(CHOICES)}, got {policy!r}")
        universal = cached_image(self.cache, data, ("universal_click", policy), lambda p: load_prepared(p, policy))
        data["universal"] = universal
        return universal.prepared

    def run_inferer(self, data: dict[str, Any], convert_to_batch=True, device="cuda") -> dict[str, Any]:
        network = self._get_network(device, data)
        universal: PreparedUniversal = data.pop("universal")
        prepared = data.pop("prepared")
        previous = data.pop("previous", None)
        with network_time(data, [network]):
            probability, box, _ = answer_clicks_in_box(network, universal, data["clicks"], previous,
                                                       spacing_of(prepared.input_affine), device,
                                                       correction_settings(network), recut_settings(network))
        data["intensity_policy_used"] = universal.policy
        return answer_in_box(data, probability, box, prepared)
