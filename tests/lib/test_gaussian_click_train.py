"""The paper's training: one binary task per structure, simulated clicks in prediction mode, one step."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lib.gaussian_click.click_loop import click_probability, dice_after_clicks, simulate_interactions, train_step
from lib.gaussian_click.network import gaussian_click_net
from lib.gaussian_click.samples import (
    RandStructureSampled,
    SampleSpec,
    extract_sample,
    structure_values,
    validation_specs,
)
from lib.gaussian_click.train import dice_loss
from lib.gaussian_click.validate import evaluate, validation_set
from lib.labels import LABELS
from tests.lib.gaussian_click_data import GuidanceEcho

TINY = (4, 4, 4, 8, 8, 4)


def disc_batch(batch: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, size, size) images and {0, 1} labels of a bright disc."""
    yy, xx = np.mgrid[:size, :size]
    disc = ((xx - 14) ** 2 + (yy - 17) ** 2 < 36).astype(np.float32)
    images = torch.from_numpy(np.stack([disc * 2 - 1] * batch)[:, None])
    labels = torch.from_numpy(np.stack([disc] * batch)[:, None])
    return images, labels


def test_click_probability_falls_linearly_from_one():
    assert [click_probability(k, 5) for k in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])


@pytest.mark.parametrize("max_interactions", [1, 2, 5])
def test_interactions_start_with_a_foreground_click_inside_and_stay_within_k(max_interactions):
    torch.manual_seed(0)
    images, labels = disc_batch(batch=4)
    truths = labels[:, 0].numpy() > 0.5
    network = gaussian_click_net(2, TINY)
    network.train()
    guidance, clicks = simulate_interactions(network, images, truths, max_interactions, np.random.default_rng(0))
    assert guidance.shape == (4, 2, 32, 32) and network.training
    for sample, truth in zip(clicks, truths):
        assert 1 <= len(sample) <= max_interactions
        first = sample[0]
        assert first.positive and truth[first.index[:2]] and first.index[2] == 0
    for b, sample in enumerate(clicks):
        for click in sample:  # near clicks of one sign add up before the [0, 1] normalisation
            channel = 0 if click.positive else 1
            assert guidance[b, channel, click.index[0], click.index[1]] > 0.5
            assert guidance[b, channel].max() == 1.0


def test_rounds_add_clicks_with_a_perfect_network_none_after_the_first():
    images, labels = disc_batch()
    truths = labels[:, 0].numpy() > 0.5

    class Oracle(torch.nn.Module):
        def forward(self, x):
            return torch.from_numpy(np.where(truths, 20.0, -20.0)[:, None].astype(np.float32))

    _, clicks = simulate_interactions(Oracle(), images, truths, 5, np.random.default_rng(1))
    assert [len(c) for c in clicks] == [1, 1]  # the first answer is perfect: nothing left to click


def test_train_step_adds_clicks_then_takes_one_optimiser_step():
    torch.manual_seed(0)
    images, labels = disc_batch()
    network = gaussian_click_net(2, TINY)
    before = [p.detach().clone() for p in network.parameters()]
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    loss, clicks = train_step(network, optimizer, dice_loss(), images, labels, 2, np.random.default_rng(2))
    assert np.isfinite(loss) and 0.0 <= loss <= 1.0
    assert all(1 <= len(c) <= 2 for c in clicks)
    assert any(not torch.equal(a, b) for a, b in zip(before, network.parameters()))
    assert optimizer.state[next(iter(network.parameters()))]["step"] == 1  # one step, not K


def test_dice_after_clicks_with_an_echo_network():
    images, labels = disc_batch()
    truths = labels[:, 0].numpy() > 0.5
    scores = dice_after_clicks(GuidanceEcho(), images, truths, (1, 2), np.random.default_rng(3))
    assert set(scores) == {1, 2} and scores[1].shape == (2,)
    assert np.all((scores[2] >= 0) & (scores[2] <= 1)) and np.all(scores[1] > 0)


def test_multi_label_truth_becomes_one_binary_task_per_structure():
    label = np.zeros((40, 40, 6), np.uint8)
    label[5:15, 5:15, 1:4] = LABELS["gtv"]
    label[20:35, 20:35, 2:6] = LABELS["heart"]
    image = np.where(label > 0, 0.2, -1.0).astype(np.float32)
    specs = validation_specs(label, 2, LABELS, per_structure=2)
    assert [s.structure for s in specs] == ["gtv", "gtv", "heart", "heart"]
    crop, truth = extract_sample(image, label, specs[0], 2)
    assert crop.shape == truth.shape == (96, 96) and truth.dtype == bool
    assert truth.sum() == 100 and crop.min() == -1.0
    _, heart = extract_sample(image, label, SampleSpec("heart", (27, 27, 3)), 3)
    assert heart.shape == (64, 64, 32) and heart.sum() == 15 * 15 * 4


def test_random_sampler_draws_only_kept_structures_on_their_slices():
    label = np.zeros((1, 40, 40, 6), np.uint8)
    label[0, 5:15, 5:15, 1:4] = LABELS["gtv"]
    label[0, 20:35, 20:35, 2:6] = LABELS["heart"]
    sampler = RandStructureSampled(2, structure_values(["gtv"]), random_prob=0.0)
    sampler.set_random_state(seed=0)
    for _ in range(10):
        out = sampler({"image": torch.zeros(1, 40, 40, 6), "label": torch.from_numpy(label)})
        assert out["structure"] == "heart" and out["image"].shape == (1, 96, 96)
        assert out["label"].sum() == 15 * 15 and set(np.unique(out["label"].numpy())) <= {0.0, 1.0}


def test_excluding_every_structure_or_an_unknown_one_is_refused():
    with pytest.raises(ValueError, match="unknown structure"):
        structure_values(["liver"])
    with pytest.raises(ValueError, match="nothing to train on"):
        structure_values(list(LABELS))


def test_validation_reports_unseen_structures_but_scores_trained_ones():
    label = np.zeros((1, 40, 40, 6), np.uint8)
    label[0, 5:15, 5:15, 1:4] = LABELS["gtv"]
    label[0, 20:35, 20:35, 2:6] = LABELS["heart"]
    data = validation_set([{"image": np.where(label > 0, 0.2, -1.0), "label": label}], dims=2, per_structure=2)
    result = evaluate(GuidanceEcho(), data, trained=["heart"])
    assert set(result["dice"]) == {"gtv", "heart"} and result["samples"] == {"gtv": 2, "heart": 2}
    assert result["score"] == pytest.approx(np.mean(list(result["dice"]["heart"].values())))


def tiny_training_data(tmp_path):
    """Tiny phantoms under the names the training command expects: it writes only what is missing."""
    from lib.phantom import PhantomConfig, generate_phantom
    from lib.phantom.io import save_phantom

    data = tmp_path / "data"
    for folder, name, seed in (("train", "train_0100", 100), ("val", "val_0800", 800)):
        phantom = generate_phantom(PhantomConfig(seed=seed, shape=(32, 32, 16), spacing=(9.0, 9.0, 12.0)))
        save_phantom(phantom, data / folder / f"{name}.nii.gz", data / folder / "labels" / "final" / f"{name}.nii.gz")
    return data


TINY_RUN = ["--dims", "2", "--train-cases", "1", "--val-cases", "1", "--max-interactions", "2", "--batch-size", "2",
            "--val-every", "1", "--val-slices", "1"]


@pytest.mark.slow
def test_training_command_writes_weights_metrics_and_card(tmp_path):
    from lib.gaussian_click.network import load_network
    from lib.gaussian_click.train import main

    data = tiny_training_data(tmp_path)
    out = tmp_path / "model"
    metrics = main(["--out", str(out), "--data", str(data), *TINY_RUN, "--max-steps", "2", "--exclude-structure", "gtv"])
    assert metrics["steps"] == 2 and metrics["excluded"] == ["gtv"] and metrics["lr"] == 1e-4
    assert json.loads((out / "metrics.json").read_text())["seed"] == 4242
    card = (out / "MODEL_CARD.md").read_text()
    assert "gtv (unseen in training)" in card and "python -m lib.gaussian_click.train" in card
    assert load_network(out / "weights.pt", 2) is not None
    assert [row["step"] for row in metrics["history"]] == [1, 2]  # from scratch: nothing to validate at step 0


@pytest.mark.slow
def test_fine_tuning_validates_the_starting_weights_first(tmp_path):
    from lib.gaussian_click.train import main

    data = tiny_training_data(tmp_path)
    start = tmp_path / "start.pt"
    torch.manual_seed(0)
    torch.save({"model": gaussian_click_net(2).state_dict()}, start)
    out = tmp_path / "tuned"
    metrics = main(["--out", str(out), "--data", str(data), *TINY_RUN, "--max-steps", "1", "--init", str(start),
                    "--val-clicks", "1,3"])
    first = metrics["history"][0]
    assert first["step"] == 0 and first["best"] and set(first["val"]["gtv"]) == {"1", "3"}
    assert metrics["init"] == str(start) and metrics["best_step"] in (0, 1)
    card = (out / "MODEL_CARD.md").read_text()
    assert f"Fine-tuned from `{start}`" in card and "at 1 and 3 clicks" in card


@pytest.mark.parametrize("text", ["", "0,1", "1,x"])
def test_bad_validation_clicks_are_refused(text):
    from lib.gaussian_click.train import parse_clicks_at

    with pytest.raises(SystemExit, match="--val-clicks"):
        parse_clicks_at(text)


def test_organs_add_the_phantoms_other_structures_and_the_sampler_draws_them():
    from lib.phantom.config import ALL_LABELS

    kept = structure_values(["gtv"], organs=True)
    assert "gtv" not in kept and {"heart", "lung", "liver", "aorta"} <= set(kept)
    assert kept["liver"] == ALL_LABELS["liver"] and kept["heart"] == ALL_LABELS["heart"]
    label = np.zeros((1, 40, 40, 6), np.uint8)
    label[0, 5:15, 5:15, 1:4] = ALL_LABELS["liver"]
    sampler = RandStructureSampled(2, {"liver": ALL_LABELS["liver"]}, random_prob=0.0)
    sampler.set_random_state(seed=0)
    out = sampler({"image": torch.zeros(1, 40, 40, 6), "label": torch.from_numpy(label)})
    assert out["structure"] == "liver" and out["label"].sum() == 10 * 10
