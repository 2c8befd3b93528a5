"""The DeepEdit-style reference (lib.deepedit): MONAI's DeepEdit transforms as used, the network's
warm start, the harness segmenter and the training loop's click simulation, on tiny volumes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from lib.deepedit.guidance import click_step, guidance_channels, guidance_from_clicks, initial_guidance
from lib.deepedit.network import deepedit_unet, load_deepedit, warm_start_from_automatic
from lib.deepedit.segmenter import DeepEditSegmenter, deepedit_probability
from lib.deepedit.train import simulate_guidance, validate
from lib.interaction.clicks import Click
from lib.segmentation.network import segmentation_network
from lib.two_stage.engine import gtv_probability
from tests.lib.test_two_stage_engine import tiny_case

logging.getLogger("monai.apps.deepedit.transforms").setLevel(logging.WARNING)
SHAPE = (16, 16, 8)


def block_label() -> np.ndarray:
    """(1, X, Y, Z) {0, 1}: a 6 x 6 x 4 block off the centre."""
    label = np.zeros((1, *SHAPE), np.float32)
    label[0, 3:9, 4:10, 2:6] = 1.0
    return label


def test_guidance_channels_put_positive_clicks_first_and_negative_second():
    image = np.random.default_rng(0).normal(size=(2, *SHAPE)).astype(np.float32)
    clicks = [Click((5, 6, 3), True), Click((12, 12, 6), False)]
    out = guidance_channels(image, guidance_from_clicks(clicks), image_channels=2)
    assert out.shape == (4, *SHAPE)
    np.testing.assert_array_equal(out[:2], image)
    assert np.unravel_index(out[2].argmax(), SHAPE) == (5, 6, 3) and out[2].max() == pytest.approx(1.0)
    assert np.unravel_index(out[3].argmax(), SHAPE) == (12, 12, 6)
    assert out[2, 12, 12, 6] < 0.01  # the negative click is not in the positive map
    empty = guidance_channels(image, guidance_from_clicks([]), image_channels=2)
    assert not empty[2:].any()
    with pytest.raises(ValueError, match="labels"):
        guidance_channels(image, {"gtv": []}, image_channels=2)


def test_initial_seeds_lie_in_the_label_and_in_the_background():
    label = block_label()
    for seed in range(5):
        guidance = initial_guidance(label, seed)
        (_, *gtv), = guidance["gtv"]
        assert label[(0, *gtv)] == 1.0
        assert all(label[(0, *p[1:])] == 0.0 for p in guidance["background"])
        assert guidance["background"], "the background seed (MONAI's distance -1 in a slice without GTV) is kept"


def test_a_click_step_on_an_empty_prediction_clicks_inside_the_missed_label():
    label = block_label()
    guidance = click_step(label, np.zeros_like(label), {"gtv": [], "background": []}, seed=0)
    assert guidance["gtv"] and not guidance["background"]
    assert all(label[(0, *p[1:])] == 1.0 for p in guidance["gtv"])


def test_the_warm_start_is_the_automatic_model_whatever_pet_and_clicks():
    torch.manual_seed(0)
    automatic = segmentation_network("unet").eval()
    network = deepedit_unet(2)
    assert warm_start_from_automatic(network, automatic)  # some parameters were adapted
    network.eval()
    x = torch.randn(1, 4, *SHAPE)
    with torch.no_grad():
        expected = automatic(x[:, :1])
        np.testing.assert_allclose(network(x).numpy(), expected.numpy(), atol=1e-4)
        x[:, 1:] = torch.randn(1, 3, *SHAPE)
        np.testing.assert_allclose(network(x).numpy(), expected.numpy(), atol=1e-4)


def test_the_segmenter_answers_on_the_case_grid_and_follows_the_clicks(tmp_path):
    class ClickFollower(torch.nn.Module):
        """GTV logit = 20 (positive map - negative map) - 5; heart -10."""

        def forward(self, x):
            g = 20 * (x[:, 2:3] - x[:, 3:4]) - 5
            return torch.cat([torch.zeros_like(g), g, torch.full_like(g, -10.0)], dim=1)

    case = tiny_case("LPS", pet=True)
    segmenter = DeepEditSegmenter(ClickFollower(), "follower", image_channels=2)
    assert not (segmenter.segment(case, [], None) > 0.5).any()
    centre = tuple(int(v) for v in np.argwhere(case.truth).mean(axis=0))
    answer = segmenter.segment(case, [Click(centre, True)], None)
    assert answer.shape == case.truth.shape and answer[centre] > 0.5
    assert 0.0 <= answer.min() and answer.max() <= 1.0
    with pytest.raises(ValueError):
        segmenter.segment(case, [Click((99, 0, 0), True)], None)
    with pytest.raises(ValueError, match="do not exist"):
        load_deepedit(tmp_path / "missing.pt")


def test_probability_is_stage_1_s_gtv_probability_of_the_softmax():
    torch.manual_seed(1)
    network = deepedit_unet(2).eval()
    window = (64, 64, 32)  # exactly one inference window: no padding, no blending
    image = torch.randn(2, *window)
    p = deepedit_probability(network, image, [Click((4, 4, 4), True)])
    assert p.shape == window and float(p.min()) >= 0.0 and float(p.max()) <= 1.0
    inputs = torch.from_numpy(guidance_channels(image.numpy(), guidance_from_clicks([Click((4, 4, 4), True)]), 2))
    with torch.no_grad():
        direct = gtv_probability(torch.softmax(network(inputs[None])[0], dim=0))
    np.testing.assert_allclose(p.numpy(), direct.numpy(), atol=1e-4)


def test_simulated_training_guidance_has_clicks_for_every_sample():
    torch.manual_seed(0)
    network = deepedit_unet(2)
    images = torch.randn(2, 2, *SHAPE)
    labels = torch.from_numpy(np.stack([block_label(), block_label()]))
    guidance, made = simulate_guidance(network, images, labels, np.random.default_rng(0), interactions=3)
    assert len(guidance) == 2 and 1 <= made <= 3
    assert all(g["gtv"] or g["background"] for g in guidance)
    assert network.training  # handed back in training mode


def test_validation_scores_a_perfect_clicker_at_one():
    class Oracle(torch.nn.Module):
        """GTV where PET (channel 1, z-scored) is high: the tiny case's tumour."""

        def forward(self, x):
            g = 10 * (x[:, 1:2] - 0.5)
            return torch.cat([torch.zeros_like(g), g, torch.full_like(g, -10.0)], dim=1)

    result = validate(Oracle(), [tiny_case(pet=True)], clicks=2)
    assert result["dsc_at_clicks"]["0"] > 0.9 and result["cases"] == 1
