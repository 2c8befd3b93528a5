"""The click cut of the universal proposal model (lib.universal_click.click_cut): later clicks
overrule a hesitant network, a confident network keeps what the clicks do not contradict, the
padding of a region is never a seed, and the harness and the infer task share the step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.interaction.clicks import Click
from lib.universal_click.click_cut import PROPOSAL_RECUT, ClickCut, click_cut
from lib.universal_click.network import proposal_network
from lib.universal_click.segmenter import answer_clicks, recut_settings
from lib.universal_click.zoom import Region, image_box, prepare, recut_region

SPACING = (2.0, 2.0, 4.0)
SHAPE = (32, 32, 16)


def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, Y, Z) intensity in [0, 1] (background 0.45, the object 0.8), the object's truth and a
    neighbour box of background (where the network leaks)."""
    truth = np.zeros(SHAPE, bool)
    truth[6:16, 8:20, 4:12] = True
    leak = np.zeros(SHAPE, bool)
    leak[16:26, 8:20, 4:12] = True
    intensity = np.full(SHAPE, 0.45)
    intensity[truth] = 0.8
    return intensity, truth, leak


def test_a_background_click_removes_a_leak_the_network_hesitates_on():
    intensity, truth, leak = scene()
    network = np.where(truth, 0.95, np.where(leak, 0.7, 0.02)).astype(np.float32)
    clicks = [Click((10, 14, 8), True), Click((22, 14, 8), False)]
    answer = click_cut(intensity, network, clicks, SPACING, PROPOSAL_RECUT) > 0.5
    assert not (answer & leak).any()
    assert (answer & truth).sum() / truth.sum() > 0.95
    # without the cut the network's answer (probability > 0.5) keeps the whole leak but the clicked voxel
    assert ((network > 0.5) & leak).sum() == leak.sum()


def test_a_confident_network_keeps_what_the_clicks_do_not_contradict():
    """At weight 2. The served weight (0.5, chosen on validation phantoms on 2026-12-04) trusts the
    cut more and gives the plain cut's answer on this scene."""
    intensity, truth, _ = scene()
    intensity[12:16] = 0.45  # part of the object looks like the background: only the network knows it
    network = np.where(truth, 0.99, 0.01).astype(np.float32)
    clicks = [Click((8, 14, 8), True), Click((2, 2, 2), False)]
    kept = click_cut(intensity, network, clicks, SPACING, ClickCut(weight=2.0)) > 0.5
    plain = click_cut(intensity, network, clicks, SPACING, ClickCut(weight=0.0)) > 0.5  # the graph cut alone
    assert (kept & truth).sum() > (plain & truth).sum()
    assert (kept & truth).sum() / truth.sum() > 0.95


def test_one_click_is_the_networks_answer_and_settings_are_checked():
    intensity, truth, _ = scene()
    network = np.where(truth, 0.9, 0.1).astype(np.float32)
    assert np.array_equal(click_cut(intensity, network, [Click((10, 14, 8), True)], SPACING, PROPOSAL_RECUT), network)
    with pytest.raises(ValueError, match="weight"):
        ClickCut(weight=-1.0)
    with pytest.raises(ValueError, match="first_clicks"):
        ClickCut(first_clicks=-1)
    with pytest.raises(ValueError, match="background_decay"):
        ClickCut(background_decay=1.5)


def test_background_clicks_hand_the_answer_over_to_the_clicks_own_cut():
    """The confident network of the test above, with background clicks: each beyond the first halves
    its weight (as served), so after enough of them the answer is the plain cut's, and after one it is not."""
    intensity, truth, _ = scene()
    intensity[12:16] = 0.45
    network = np.where(truth, 0.99, 0.01).astype(np.float32)
    foreground = [Click((8, 14, 8), True)]
    few = foreground + [Click((2, 2, 2), False)]
    many = foreground + [Click((2, 2, k), False) for k in range(2, 14, 2)] + [Click((29, 29, 2), False)]
    decaying = ClickCut(weight=2.0, background_decay=0.5, free_background_clicks=1)
    assert decaying.network_weight(few) == 2.0 and decaying.network_weight(many) == 2.0 / 2 ** 6
    plain_many = click_cut(intensity, network, many, SPACING, ClickCut(weight=0.0)) > 0.5
    kept_few = click_cut(intensity, network, few, SPACING, ClickCut(weight=2.0)) > 0.5
    assert np.array_equal(click_cut(intensity, network, few, SPACING, decaying) > 0.5, kept_few)
    assert (kept_few & truth).sum() > (plain_many & truth).sum()
    decayed = click_cut(intensity, network, many, SPACING, decaying) > 0.5
    assert (decayed & truth).sum() < (kept_few & truth).sum()
    assert np.mean(decayed != plain_many) < 0.01
    assert PROPOSAL_RECUT.background_decay < 1.0 and PROPOSAL_RECUT.free_background_clicks == 1
    with pytest.raises(ValueError, match="free_background_clicks"):
        ClickCut(free_background_clicks=-1)


def test_the_padding_of_a_region_is_no_seed():
    region = Region((-8, 0, 0), (32, 32, 16), (1.0, 1.0, 1.0))
    assert image_box(region, (20, 40, 16)) == (slice(8, 28), slice(0, 32), slice(0, 16))
    # an object reaching the image's edge at x = 0: the region's padded border is outside the cut
    array = np.full((20, 40, 16), -0.6, np.float32)
    array[0:6, 10:20, 4:12] = 0.6
    probability = np.zeros(region.size, np.float32)
    probability[8:14, 10:20, 4:12] = 0.9
    clicks = [Click((2, 14, 8), True), Click((15, 30, 8), False)]
    answer = recut_region(array, probability, clicks, region, (2.0, 2.0, 4.0), PROPOSAL_RECUT)
    assert not answer[:8].any() and not answer[28:].any()
    assert answer[8:14, 10:20, 4:12].mean() > 0.95  # the object touches the image box's border and is kept


class Stubborn(torch.nn.Module):
    """A 4-channel stand-in that answers the same blob whatever the clicks (a network deaf to clicks)."""

    def __init__(self, blob: np.ndarray) -> None:
        super().__init__()
        self.conv_0 = torch.nn.Module()
        self.conv_0.conv_0 = torch.nn.Module()
        self.conv_0.conv_0.conv = torch.nn.Conv3d(4, 1, 1)
        self.blob = torch.from_numpy(blob.astype(np.float32))

    def forward(self, x):
        return (2.0 * self.blob - 1.0)[None, None].expand(x.shape[0], 1, *x.shape[2:]) * 1.0


def test_later_clicks_change_the_answer_of_a_network_deaf_to_them():
    """The harness's and the infer task's step (answer_clicks): with the proposal model's cut a
    background click removes the wrong part a click-deaf network keeps; without it, it cannot."""
    shape = (32, 32, 16)
    intensity, truth, leak = scene()
    image = (intensity * 800.0 - 400.0).astype(np.float32)[None]  # HU-like: [-240, 240]
    image[0, :, :, :2] = -1000.0  # some air: the CT policy
    affine = np.diag([2.0, 2.0, 4.0, 1.0])
    prepared = prepare(image, affine, "ct")
    network = Stubborn(truth | leak)
    assert recut_settings(proposal_network()) == PROPOSAL_RECUT
    assert recut_settings(torch.nn.Identity()) is None
    first = [Click((10, 14, 8), True)]
    previous, _ = answer_clicks(network, prepared, first, None, SPACING, correction={}, recut=PROPOSAL_RECUT)
    clicks = first + [Click((22, 14, 8), False)]
    settings = {"confidence": 0.1, "shell_mm": None, "margin_mm": 24.0}
    with_cut, _ = answer_clicks(network, prepared, clicks, previous, SPACING, correction=settings, recut=PROPOSAL_RECUT)
    without, _ = answer_clicks(network, prepared, clicks, previous, SPACING, correction=settings, recut=None)
    assert ((without > 0.5) & leak).sum() >= leak.sum() - 1  # only the clicked voxel goes
    assert ((with_cut > 0.5) & leak).sum() < 0.2 * leak.sum()
    assert ((with_cut > 0.5) & truth).sum() > 0.9 * truth.sum()
    assert with_cut.shape == shape
