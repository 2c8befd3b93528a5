"""What every guidance encoding shares: an array transform on (image, clicks) and its dictionary wrapper.

A method file (``exp_distance.py``, ``gaussian.py``...) holds the maths as a plain
function on points, a ``ClickGuide`` subclass that says how to encode one point set
for a given image, and a ``ClickGuided`` subclass that only builds that guide.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.transforms.utils_pytorch_numpy_unification import concatenate
from monai.utils import convert_to_dst_type

from lib.guidance.encode import PointsEncoder, encode_clicks
from lib.interaction.clicks import Click, parse_clicks


def image_spacing(img: NdarrayOrTensor) -> tuple[float, float, float]:
    """Voxel size in mm along (X, Y, Z), from a MetaTensor's affine.

    Raises:
        ValueError: ``img`` is not a MetaTensor, so it carries no affine.
    """
    if not isinstance(img, MetaTensor):
        raise ValueError(
            f"spacing was not given and the image is a {type(img).__name__}, not a MetaTensor with an affine"
        )
    affine = np.asarray(img.affine, dtype=float)
    return tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))  # type: ignore[return-value]


class ClickGuide(Transform):
    """Clicks on an image -> two guidance channels (foreground 0, background 1).

    Subclasses implement :meth:`encoder_for`: how to encode one point set on this image.
    """

    def encoder_for(self, img: NdarrayOrTensor) -> PointsEncoder:
        """The encoder of one point set on ``img`` (C, X, Y, Z); some methods read its voxels or affine."""
        raise NotImplementedError

    def __call__(self, img: NdarrayOrTensor, clicks: Iterable[Click]) -> NdarrayOrTensor:
        """Encode ``clicks`` for ``img``.

        Args:
            img: (C, X, Y, Z) image the clicks were made on (numpy, tensor or MetaTensor).
            clicks: voxel indices (i, j, k) of ``img``, each positive or negative.

        Returns:
            (2, X, Y, Z) float32 of the same kind as ``img`` (a MetaTensor keeps its affine).
        """
        if len(img.shape) != 4:
            raise ValueError(f"img must be channel-first (C, X, Y, Z), got shape {tuple(img.shape)}")
        guidance = encode_clicks(clicks, tuple(img.shape[1:]), self.encoder_for(img))
        dtype = torch.float32 if isinstance(img, torch.Tensor) else np.float32
        return convert_to_dst_type(guidance, dst=img, dtype=dtype)[0]


def clicks_from_data(
    data: Mapping[Hashable, Any],
    clicks_key: str | None,
    foreground_key: str | None,
    background_key: str | None,
) -> list[Click]:
    """The clicks of a data dictionary.

    Either ``data[clicks_key]``, a list of :class:`Click`; or MONAI Label's point lists
    ``data[foreground_key]`` and ``data[background_key]`` of ``[i, j, k]``, where a missing
    key or ``None`` means no clicks of that sign.

    Raises:
        KeyError: ``clicks_key`` is not in ``data``.
        ValueError: an entry that is not a Click, or a malformed point.
    """
    if clicks_key is not None:
        clicks = list(data[clicks_key])
        for n, click in enumerate(clicks):
            if not isinstance(click, Click):
                raise ValueError(f"data['{clicks_key}'][{n}] = {click!r} is not a Click")
        return clicks
    points = {"foreground": data.get(foreground_key) if foreground_key else None}
    points["background"] = data.get(background_key) if background_key else None
    return parse_clicks(points)


class ClickGuided(MapTransform):
    """Dictionary wrapper of a :class:`ClickGuide`: reads clicks and an image, writes the guidance.

    Args:
        guide: the array transform.
        image_key: key of the (C, X, Y, Z) image the clicks index.
        clicks_key: key of a list of :class:`Click`. Give this, or ``foreground_key`` /
            ``background_key``, not both.
        foreground_key: key of foreground points ``[[i, j, k], ...]`` (MONAI Label style).
        background_key: key of background points.
        guidance_key: where the (2, X, Y, Z) guidance goes (ignored with ``concat_to_image``).
        concat_to_image: append the two guidance channels to ``data[image_key]`` instead,
            making it (C + 2, X, Y, Z).

    Raises:
        ValueError: both or neither click sources given, or a non-ClickGuide ``guide``.
    """

    def __init__(
        self,
        guide: ClickGuide,
        image_key: str = "image",
        clicks_key: str | None = "clicks",
        foreground_key: str | None = None,
        background_key: str | None = None,
        guidance_key: str = "guidance",
        concat_to_image: bool = False,
    ) -> None:
        super().__init__(keys=image_key)
        if not isinstance(guide, ClickGuide):
            raise ValueError(f"guide must be a ClickGuide, got {guide!r}")
        if clicks_key is not None and (foreground_key or background_key):
            raise ValueError(
                f"give clicks_key ({clicks_key!r}) or foreground_key/background_key "
                f"({foreground_key!r}, {background_key!r}), not both"
            )
        if clicks_key is None and not (foreground_key or background_key):
            raise ValueError("give clicks_key, or foreground_key and/or background_key: got none")
        self.guide = guide
        self.image_key = image_key
        self.clicks_key = clicks_key
        self.foreground_key = foreground_key
        self.background_key = background_key
        self.guidance_key = guidance_key
        self.concat_to_image = concat_to_image

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        img = d[self.image_key]
        clicks = clicks_from_data(d, self.clicks_key, self.foreground_key, self.background_key)
        guidance = self.guide(img, clicks)
        if self.concat_to_image:
            # numpy and torch both promote an integer image to float32 here
            d[self.image_key] = concatenate([img, guidance], axis=0)
        else:
            d[self.guidance_key] = guidance
        return d


def check_units(units: str, spacing: Sequence[float] | None) -> str:
    """``units`` is ``"voxel"`` or ``"mm"``; ValueError otherwise."""
    if units not in ("voxel", "mm"):
        raise ValueError(f"units must be 'voxel' or 'mm', got {units!r}")
    if units == "voxel" and spacing is not None:
        raise ValueError(f"spacing {spacing!r} was given with units='voxel'; give units='mm' to use it")
    return units
