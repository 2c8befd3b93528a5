"""2S-ICR refinement training: a step at every interaction, mask dropout, and the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lib.phantom import PhantomConfig, generate_phantom
from lib.phantom.io import save_phantom
from lib.segmentation.network import segmentation_unet
from lib.two_stage.loop import dice_bce_loss, refinement_iteration
from lib.two_stage.network import load_refinement, refinement_unet
from lib.two_stage.train import cosine_lr, file_cases, fit_refinement, write_reports
from lib.two_stage.transforms import MaskDropout
from tests.lib.test_two_stage_engine import RecordingRefiner, tiny_case


class CountingAdamW(torch.optim.AdamW):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def sample():
    case = tiny_case()
    image = torch.from_numpy(case.image[:, :, :, :8].copy())
    truth = torch.from_numpy(case.truth[:, :, :8].copy())
    return image, truth, torch.zeros(truth.shape)


def test_one_optimiser_step_per_simulated_interaction():
    torch.manual_seed(0)
    network = refinement_unet(1, (2, 4, 8, 8, 8))
    optimizer = CountingAdamW(network.parameters(), lr=1e-3)
    image, truth, first = sample()
    before = [p.detach().clone() for p in network.parameters()]
    result = refinement_iteration(network, optimizer, dice_bce_loss(), image, truth, first,
                                  np.random.default_rng(0), MaskDropout(0.2), (3.0, 3.0, 6.0), interactions=4)
    assert result["steps"] == optimizer.steps == len(result["losses"]) == len(result["clicks"]) == 4
    assert result["clicks"][0].positive  # stage 1 found nothing: the first error is missed tumour
    assert any(not torch.equal(a, b) for a, b in zip(before, network.parameters()))


def test_the_first_previous_mask_is_stage_1_and_mask_dropout_blanks_it():
    image, truth, _ = sample()
    first = truth.float() * 0.9
    first[0:2] = 0.8  # stage 1 with a false positive slab, so there is something to click
    for p, expect_half in ((0.0, False), (1.0, True)):
        net = RecordingRefiner()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
        refinement_iteration(net, optimizer, dice_bce_loss(), image, truth, first, np.random.default_rng(1),
                             MaskDropout(p), (3.0, 3.0, 6.0), interactions=2)
        previous = net.inputs[0][0, 1]
        if expect_half:
            assert all(bool(torch.all(x[0, 1] == 0.5)) for x in net.inputs)
        else:
            torch.testing.assert_close(previous, first)


def test_cosine_learning_rate_decays_to_zero():
    assert cosine_lr(1e-3, 0.0) == pytest.approx(1e-3)
    assert cosine_lr(1e-3, 0.5) == pytest.approx(5e-4)
    assert cosine_lr(1e-3, 1.0) == pytest.approx(0.0, abs=1e-12) == cosine_lr(1e-3, 2.0)


@pytest.mark.slow
def test_fit_refinement_writes_weights_metrics_and_card(tmp_path):
    items = []
    for n, seed in enumerate((100, 101, 800)):
        phantom = generate_phantom(PhantomConfig(seed=seed, shape=(32, 32, 16), orientation=("RAS", "LPS")[n % 2]))
        image, label = tmp_path / f"c{seed}.nii.gz", tmp_path / "labels" / f"c{seed}.nii.gz"
        save_phantom(phantom, image, label)
        items.append({"image": str(image), "label": str(label)})
    torch.manual_seed(0)
    stage1 = tmp_path / "stage1.pt"
    torch.save({"model": segmentation_unet().state_dict()}, stage1)
    out = tmp_path / "model"
    metrics = fit_refinement([stage1], items[:2], file_cases(items[2:], 30.0), out, tmp_path / "cache",
                             minutes=5.0, steps=3, lr=1e-3, val_every=2, seed=0, val_clicks=2)
    assert metrics["steps"] == 3 and metrics["validation"]["cases"] == 1
    assert set(metrics["validation"]["dsc_at_clicks"]) == {"0", "1", "2"}
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2  # stage 1 ran once per training case
    network = load_refinement(out / "weights.pt")
    assert network(torch.zeros(1, 4, 16, 16, 16)).shape == (1, 1, 16, 16, 16)
    metrics.update(command="test", val_margin_mm=30.0,
                   data={"train": [100, 2], "val": [800, 1], "test": [900, 0], "folder": str(tmp_path)})
    write_reports(metrics, out)
    assert json.loads((out / "metrics.json").read_text())["steps"] == metrics["steps"]
    assert "2S-ICR refinement model" in (out / "MODEL_CARD.md").read_text()


def test_warm_start_copies_stage_1_and_starts_the_guidance_channels_at_zero():
    from lib.two_stage.network import warm_start_from_stage1

    torch.manual_seed(0)
    stage1 = segmentation_unet()
    refinement = refinement_unet(1)
    adapted = warm_start_from_stage1(refinement, stage1)
    source, state = stage1.state_dict(), refinement.state_dict()
    first = "model.0.conv.unit0.conv.weight"
    assert first in adapted
    torch.testing.assert_close(state[first][:, :1], source[first])
    assert float(state[first][:, 1:].abs().sum()) == 0.0  # previous mask and click maps start ignored
    copied = [n for n in state if n not in adapted]
    assert copied and all(torch.equal(state[n], source[n]) for n in copied)
    with pytest.raises(ValueError, match="no parameter"):
        warm_start_from_stage1(torch.nn.Linear(2, 2), stage1)


def test_residual_refinement_starts_as_the_previous_answer_and_round_trips(tmp_path):
    from lib.two_stage.network import ResidualRefinement

    torch.manual_seed(0)
    network = ResidualRefinement(refinement_unet(1, (2, 4, 8, 8, 8)))
    x = torch.rand(1, 4, 16, 16, 16).clamp(0.01, 0.99)
    torch.testing.assert_close(torch.sigmoid(network(x))[:, 0], x[:, 1], atol=1e-5, rtol=0)
    network(x).sum().backward()
    assert any(float(p.grad.abs().sum()) > 0 for p in network.parameters())  # the correction can learn
    with torch.no_grad():
        for p in network.parameters():
            p.add_(0.01)
    torch.save({"model": network.state_dict(), "image_channels": 1, "channels": [2, 4, 8, 8, 8], "residual": True},
               tmp_path / "r.pt")
    loaded = load_refinement(tmp_path / "r.pt")
    assert isinstance(loaded, ResidualRefinement)
    torch.testing.assert_close(loaded(x), network(x))
