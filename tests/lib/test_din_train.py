"""``python -m lib.din.train`` end to end on a tiny budget: weights with settings, metrics, card; the loss."""

from __future__ import annotations

import json

import pytest
import torch

from lib.din.network import load_network
from lib.din.predict import settings_of
from lib.din.train import WeightedCrossEntropy, main


def test_weighted_cross_entropy_weighs_foreground_three_times():
    logits = torch.zeros(1, 2, 2, 1, 1)
    loss = WeightedCrossEntropy()
    both = torch.tensor([[[[0]], [[1]]]])  # one background voxel, one foreground voxel
    assert loss(logits, both).item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    logits[0, 1, 1] = 5.0  # the foreground voxel is now nearly right
    foreground = torch.nn.functional.cross_entropy(logits[:, :, 1:], both[:, 1:])
    expected = (1 * torch.log(torch.tensor(2.0)) + 3 * foreground) / (1 + 3)  # weights 1 : 3
    assert loss(logits, both.float()[:, None]).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.slow
def test_training_writes_weights_metrics_and_card(tmp_path):
    out = tmp_path / "din"
    metrics = main(["--out", str(out), "--data", str(tmp_path / "data"), "--train-cases", "1", "--val-cases", "1",
                    "--max-steps", "2", "--val-every", "1", "--val-clicks", "1", "--batch-size", "2", "--guide", "edt", "--input-only"])
    assert metrics["steps"] == 2 and len(metrics["history"]) == 2 and metrics["guide"] == "edt"
    assert json.loads((out / "metrics.json").read_text())["best_step"] in (1, 2)
    card = (out / "MODEL_CARD.md").read_text()
    assert "edt guides" in card and "DIM output 1 only" in card and "30, 60, 120, 240, 320" in card
    network = load_network(out / "weights.pt")
    assert not network.deep_guides and settings_of(out / "weights.pt").kind == "edt"
