"""encode_clicks and the dictionary wrappers shared by every guidance method."""

import functools

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from lib.guidance import DiskGuided, encode_clicks, exp_distance_map
from lib.interaction.clicks import Click


def test_foreground_is_channel_zero_background_channel_one():
    clicks = [Click((0, 0, 0), False), Click((3, 3, 3), True)]
    g = encode_clicks(clicks, (4, 4, 4), functools.partial(exp_distance_map, sigma=1.0))
    assert g.shape == (2, 4, 4, 4) and g.dtype == np.float32
    assert g[0, 3, 3, 3] == pytest.approx(1.0) and g[0, 0, 0, 0] < 1e-3
    assert g[1, 0, 0, 0] == pytest.approx(1.0) and g[1, 3, 3, 3] < 1e-3


def test_only_foreground_clicks_leave_background_empty():
    g = encode_clicks([Click((1, 1, 1), True)], (3, 3, 3), functools.partial(exp_distance_map, sigma=1.0))
    assert g[0].any() and not g[1].any()


def test_wrapper_keeps_metatensor_and_concatenates():
    img = MetaTensor(torch.ones(1, 4, 4, 4, dtype=torch.int16), affine=torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0])))
    out = DiskGuided(radius=0, concat_to_image=True)({"image": img, "clicks": [Click((1, 2, 3), True)]})
    image = out["image"]
    assert isinstance(image, MetaTensor) and image.shape == (3, 4, 4, 4) and image.is_floating_point()
    assert torch.equal(image.affine, img.affine)
    assert image[1, 1, 2, 3] == 1 and image[1].sum() == 1 and image[2].sum() == 0


def test_wrapper_argument_and_data_errors():
    with pytest.raises(ValueError, match="not both"):
        DiskGuided(clicks_key="clicks", foreground_key="foreground")
    with pytest.raises(ValueError, match="none"):
        DiskGuided(clicks_key=None)
    with pytest.raises(ValueError, match="not a Click"):
        DiskGuided()({"image": np.zeros((1, 3, 3, 3)), "clicks": [[1, 1, 1]]})
    with pytest.raises(ValueError, match="outside"):
        DiskGuided(clicks_key=None, background_key="background")(
            {"image": np.zeros((1, 3, 3, 3)), "background": [[3, 1, 1]]}
        )
    with pytest.raises(ValueError, match="channel-first"):
        DiskGuided()({"image": np.zeros((3, 3, 3)), "clicks": []})
