"""The automatic model: network shapes, answers on the input grid, the training command."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from lib.labels import LABELS
from lib.metrics import dice
from lib.phantom import PhantomConfig, generate_phantom
from lib.phantom.config import LABELS as PHANTOM_LABELS
from lib.phantom.io import save_phantom
from lib.segmentation.evaluate import load_network
from lib.segmentation.network import segmentation_unet
from lib.segmentation.predict import predict_file
from lib.segmentation.train import main as train_main

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "segmentation" / "weights.pt"


def test_network_maps_channels_to_classes_at_full_resolution():
    network = segmentation_unet(in_channels=2, out_channels=3).eval()
    with torch.no_grad():
        assert network(torch.zeros(1, 2, 32, 24, 16)).shape == (1, 3, 32, 24, 16)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_shipped_model_answers_on_the_input_grid(tmp_path, orientation):
    phantom = generate_phantom(PhantomConfig(seed=901, orientation=orientation))
    save_phantom(phantom, tmp_path / "image.nii.gz")
    label, affine = predict_file(load_network(SHIPPED), tmp_path / "image.nii.gz")
    assert label.shape == phantom.label.shape
    np.testing.assert_allclose(affine, nib.load(tmp_path / "image.nii.gz").affine, atol=1e-4)
    # Voxel for voxel: a flipped or shifted answer would not overlap the truth this well.
    assert dice(label == LABELS["heart"], phantom.label == PHANTOM_LABELS["heart"]) > 0.8


@pytest.mark.slow
def test_training_command_writes_weights_metrics_and_card(tmp_path):
    out = tmp_path / "model"
    train_main([
        "--out", str(out), "--data", str(tmp_path / "data"), "--train-cases", "2", "--val-cases", "1",
        "--test-cases", "1", "--epochs", "1", "--val-every", "1",
    ])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["history"][0]["epoch"] == 1 and np.isfinite(metrics["history"][0]["loss"])
    assert set(metrics["test"]["cases"]) == {"test_0900"}
    assert "GTV Dice" in (out / "MODEL_CARD.md").read_text()
    assert load_network(out / "weights.pt") is not None
