"""DIN's guide settings: sigma axis order, gamma, request overrides, EDT / GDT options."""

from __future__ import annotations

import numpy as np
import pytest

from lib.din.guides import DISTANCE_SCALE, GuideSettings, guide_maps
from lib.interaction.clicks import Click

IMAGE = np.zeros((1, 21, 21, 9), np.float32)
CLICK = Click((10, 10, 4), True)


def test_default_sigma_is_the_papers_1_5_5_with_z_getting_1():
    settings = GuideSettings()
    assert settings.sigma == (5.0, 5.0, 1.0)
    maps = guide_maps(IMAGE, [CLICK], settings)
    assert maps.shape == (2, 21, 21, 9) and not maps[1].any()
    assert maps[0, 10, 10, 4] == pytest.approx(1.0)
    assert maps[0, 10, 10, 5] == pytest.approx(np.exp(-0.5), rel=1e-5)  # Z: sigma 1
    assert maps[0, 11, 10, 4] == pytest.approx(np.exp(-1 / 50), rel=1e-5)  # X: sigma 5


def test_gamma_and_sigma_from_a_request_change_the_map():
    wider = GuideSettings().with_request(sigma=[6, 6, 1.5], gamma=2)
    maps = guide_maps(IMAGE, [Click((10, 10, 4), False)], wider)
    assert maps[1, 10, 10, 4] == pytest.approx(2.0)
    assert maps[1, 10, 10, 5] == pytest.approx(2 * np.exp(-1 / (2 * 1.5**2)), rel=1e-5)
    assert GuideSettings().with_request() == GuideSettings()


@pytest.mark.parametrize("sigma, gamma, words", [
    ([1, 2], None, "sigma"), ("wide", None, "sigma"), ([1, -1, 1], None, "sigma"), (None, 0, "gamma"),
    (None, "big", "gamma"), (1e9, None, "at most 64 model voxels"), ([5, 5, 65], None, "at most 64"),
    (None, 1e9, "gamma must be at most 10"),
])
def test_bad_request_values_are_named(sigma, gamma, words):
    with pytest.raises(ValueError, match=words):
        GuideSettings().with_request(sigma=sigma, gamma=gamma)


def test_edt_grows_with_distance_and_refuses_exp_params():
    settings = GuideSettings("edt")
    maps = guide_maps(IMAGE, [CLICK], settings)
    assert maps[0, 10, 10, 4] == 0.0
    assert maps[0, 0, 10, 4] == pytest.approx(10 / DISTANCE_SCALE)
    with pytest.raises(ValueError, match="only apply to the ExpDT"):
        settings.with_request(sigma=3)
    with pytest.raises(ValueError, match="guide must be one of"):
        GuideSettings("disk")


def test_gdt_pays_for_crossing_an_edge():
    image = IMAGE.copy()
    image[0, 15:] = 1.0
    maps = guide_maps(image, [CLICK], GuideSettings("gdt"))
    edt = guide_maps(image, [CLICK], GuideSettings("edt"))
    assert maps[0, 20, 10, 4] > edt[0, 20, 10, 4] + 1 / DISTANCE_SCALE
    assert maps[0, 5, 10, 4] == pytest.approx(edt[0, 5, 10, 4], rel=0.1)
