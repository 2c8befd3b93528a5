"""The graph-cut proposal channel of the universal click model: the cut itself, the fourth
input channel through training, warm start and inference (real networks, tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.gaussian_click.click_loop import dice_after_clicks, network_inputs, train_step
from lib.gaussian_click.network import FIRST_CONV, gaussian_click_net, input_channels, load_network
from lib.gaussian_click.train import dice_loss
from lib.interaction.clicks import Click
from lib.synth.samples import SampleGenerator
from lib.universal_click.proposal import PROPOSAL_CHANNELS, PROPOSAL_CUT, border_background, cut_intensity, proposal
from lib.universal_click.train import proposal_condition, resume, warm_start
from lib.universal_click.network import load_universal, proposal_network, takes_proposal
from lib.universal_click.zoom import Region, predict_region


def blob_image(shape=(32, 32, 16)) -> tuple[np.ndarray, np.ndarray]:
    """Model-unit image (-0.6 background, +0.6 inside a box) and the box's truth."""
    truth = np.zeros(shape, bool)
    truth[10:22, 8:20, 5:11] = True
    rng = np.random.default_rng(0)
    image = np.where(truth, 0.6, -0.6).astype(np.float32) + rng.normal(0, 0.05, shape).astype(np.float32)
    return image, truth


def test_proposal_finds_the_clicked_blob_in_any_contrast_and_nothing_without_a_click():
    image, truth = blob_image()
    centre = Click((16, 14, 8), True)
    for contrast in (image, -image):  # bright or dark object: the cut learns from its seeds
        answer = proposal(contrast, [centre], (2.0, 2.0, 4.0))
        assert answer.dtype == np.float32 and set(np.unique(answer)) <= {0.0, 1.0}
        overlap = 2 * (answer.astype(bool) & truth).sum() / (answer.sum() + truth.sum())
        assert overlap > 0.9
    assert not proposal(image, [Click((2, 2, 2), False)], (2.0, 2.0, 4.0)).any()


def test_a_structure_larger_than_the_region_is_not_cut_off_by_its_own_border():
    """An organ crossing the whole region (a lung, a liver at 1 mm): the border inside it looks like
    the clicked seeds, so it is no background seed there; with the baseline's border-everywhere
    seeds the cut shrinks to the click's own seeds. (The click-distance prior still bounds how far
    one click reaches: more clicks, or AutoZoom, take it further.)"""
    shape = (32, 32, 16)
    truth = np.zeros(shape, bool)
    truth[:, 6:26, :] = True  # from one x side of the region to the other, every z
    rng = np.random.default_rng(0)
    image = np.where(truth, -0.9, 0.1).astype(np.float32) + rng.normal(0, 0.03, shape).astype(np.float32)
    spacing = (3.0, 3.0, 6.0)
    one = [Click((16, 16, 8), True)]
    baseline = PROPOSAL_CUT.cut(cut_intensity(image), one, spacing).astype(bool)
    assert baseline.sum() < 0.01 * truth.sum()
    answer = proposal(image, one, spacing).astype(bool)
    assert answer.sum() > 0.1 * truth.sum() and not (answer & ~truth).any()
    three = [Click((4, 16, 8), True), Click((16, 16, 8), True), Click((28, 16, 8), True)]
    answer = proposal(image, three, spacing).astype(bool)
    assert answer.sum() > 0.5 * truth.sum() and not (answer & ~truth).any()
    seeds = np.zeros(shape, bool)
    seeds[15:18, 15:18, 8] = True
    background = border_background(cut_intensity(image), seeds)
    assert background.any() and not (background & truth).any()  # the border outside it stays background


def test_condition_adds_the_proposal_as_a_fourth_input_channel():
    image, truth = blob_image()
    images = torch.from_numpy(image[None, None])
    condition = proposal_condition(images, [(2.0, 2.0, 4.0)])
    clicks = [[Click((16, 14, 8), True)]]
    inputs = network_inputs(images, clicks, (2.0, 2.0, 1.0), condition)
    assert inputs.shape == (1, PROPOSAL_CHANNELS, 32, 32, 16)
    assert torch.equal(inputs[0, 3], torch.from_numpy(proposal(image, clicks[0], (2.0, 2.0, 4.0))))
    assert network_inputs(images, clicks, (2.0, 2.0, 1.0)).shape[1] == 3  # the paper's inputs unchanged


def test_a_four_channel_network_trains_and_validates_with_the_proposal():
    torch.manual_seed(0)
    image, truth = blob_image()
    network = gaussian_click_net(3, features=(2, 2, 2, 2, 2, 2), in_channels=PROPOSAL_CHANNELS)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    images = torch.from_numpy(image[None, None])
    labels = torch.from_numpy(truth[None, None].astype(np.float32))
    condition = proposal_condition(images, [(2.0, 2.0, 4.0)])
    loss, clicks = train_step(network, optimizer, dice_loss(), images, labels, 2, np.random.default_rng(0),
                              condition=condition)
    assert np.isfinite(loss) and clicks[0]
    scores = dice_after_clicks(network, images, truth[None], (1,), np.random.default_rng(1), condition=condition)
    assert scores[1].shape == (1,)


def test_warm_start_keeps_the_old_channels_and_loading_reads_the_channel_count(tmp_path):
    old = gaussian_click_net(3, features=(2, 2, 2, 2, 2, 2))
    path = tmp_path / "old.pt"
    torch.save({"model": old.state_dict()}, path)
    new = gaussian_click_net(3, features=(2, 2, 2, 2, 2, 2), in_channels=PROPOSAL_CHANNELS)
    fresh = new.state_dict()[FIRST_CONV][:, 3].clone()
    warm_start(new, path)
    weight = new.state_dict()[FIRST_CONV]
    assert torch.equal(weight[:, :3], old.state_dict()[FIRST_CONV])
    assert torch.equal(weight[:, 3], fresh)
    assert input_channels(new.state_dict()) == PROPOSAL_CHANNELS and input_channels(old.state_dict()) == 3
    assert takes_proposal(new) and not takes_proposal(old)


class ProposalEcho(torch.nn.Module):
    """Logit from the fourth channel only: answers the proposal back (a 4-channel stand-in)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_0 = torch.nn.Module()
        self.conv_0.conv_0 = torch.nn.Module()
        self.conv_0.conv_0.conv = torch.nn.Conv3d(PROPOSAL_CHANNELS, 1, 1)

    def forward(self, x):
        return 20.0 * (x[:, 3:4] - 0.5)


def test_inference_passes_the_regions_proposal_to_a_network_that_takes_it():
    image, truth = blob_image()
    region = Region((0, 0, 0), (32, 32, 16), (1.0, 1.0, 1.0))
    answer = predict_region(ProposalEcho(), image, [Click((16, 14, 8), True)], region, ras_spacing=(2.0, 2.0, 4.0))
    overlap = 2 * ((answer > 0.5) & truth).sum() / ((answer > 0.5).sum() + truth.sum())
    assert overlap > 0.9


def test_samples_carry_their_voxel_size():
    generator = SampleGenerator((32, 32, 16), ["heart", "lung"], np.random.default_rng(0), ct_studies=1,
                                stir_studies=0)
    for _ in range(3):
        image, truth, source, spacing = generator.draw()
        assert len(spacing) == 3 and all(0.5 <= s <= 25.0 for s in spacing)
        assert spacing[0] == spacing[1]


def test_load_network_builds_the_channels_the_weights_have(tmp_path):
    network = gaussian_click_net(3, in_channels=PROPOSAL_CHANNELS)
    path = tmp_path / "w.pt"
    torch.save({"model": network.state_dict()}, path)
    assert takes_proposal(load_network(path, 3))


def test_an_untrained_proposal_model_answers_the_graph_cut_and_round_trips(tmp_path):
    image, truth = blob_image()
    region = Region((0, 0, 0), (32, 32, 16), (1.0, 1.0, 1.0))
    network = proposal_network()
    clicks = [Click((16, 14, 8), True)]
    answer = predict_region(network, image, clicks, region, ras_spacing=(2.0, 2.0, 4.0))
    cut = proposal(image, clicks, (2.0, 2.0, 4.0))
    assert np.array_equal(answer > 0.5, cut > 0.5)
    assert np.allclose(answer[cut > 0.5], 1 / (1 + np.exp(-3.0)), atol=1e-5)
    path = tmp_path / "p.pt"
    torch.save({"model": network.state_dict()}, path)
    loaded = load_universal(path)
    assert takes_proposal(loaded)
    assert np.allclose(predict_region(loaded, image, clicks, region, ras_spacing=(2.0, 2.0, 4.0)), answer)


def test_the_proposal_model_has_its_own_local_correction_settings():
    from lib.universal_click.segmenter import correction_settings
    from lib.universal_click.space import PROPOSAL_CORRECTION

    assert correction_settings(proposal_network()) == PROPOSAL_CORRECTION
    assert correction_settings(gaussian_click_net(3, features=(2, 2, 2, 2, 2, 2))) == {}


def test_resume_loads_a_whole_network_of_the_same_kind_and_refuses_the_other(tmp_path):
    saved = proposal_network()
    with torch.no_grad():
        saved.scale.fill_(0.37)  # differs from a fresh network's
    path = tmp_path / "proposal.pt"
    torch.save({"model": saved.state_dict()}, path)
    fresh = proposal_network()
    resume(fresh, path)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), saved.state_dict().values()))
    plain = tmp_path / "plain.pt"
    torch.save({"model": gaussian_click_net(3).state_dict()}, plain)
    with pytest.raises(SystemExit, match="not a proposal model"):
        resume(proposal_network(), plain)
    with pytest.raises(SystemExit, match="is a proposal model"):
        resume(gaussian_click_net(3), path)
