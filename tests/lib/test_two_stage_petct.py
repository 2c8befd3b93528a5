"""2S-ICR's PET-CT stage 1 (lib.two_stage.train_stage1): its patches, its evaluation on the file's
grid, its warm start and its card, on one generated PET-CT phantom and tiny networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.phantom.datastore import write_datastore
from lib.segmentation.evaluate import evaluate_folder
from lib.segmentation.network import segmentation_network
from lib.segmentation.train import datalist
from lib.segmentation.transforms import TRAIN_PATCH
from lib.two_stage.model_card import write_stage1_card
from lib.two_stage.network import warm_start_from_stage1
from lib.two_stage.train_stage1 import evaluate_petct_folder, petct_train_transforms


@pytest.fixture(scope="module")
def petct_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("petct")
    write_datastore(folder, 1, 900, pet=True, prefix="case")
    return folder


def test_patches_have_ct_in_minus_one_one_and_pet_z_scored(petct_folder):
    transform = petct_train_transforms()
    transform.set_random_state(seed=0)
    samples = transform(datalist(petct_folder)[0])
    assert len(samples) == 2
    for sample in samples:
        image, label = sample["image"], sample["label"]
        assert tuple(image.shape) == (2, *TRAIN_PATCH) and tuple(label.shape) == (1, *TRAIN_PATCH)
        ct, pet = np.asarray(image[0]), np.asarray(image[1])
        assert -1.2 <= ct.min() and ct.max() <= 1.2  # the window, after +-10 % jitter
        assert pet.max() > 2.0  # the tumour's uptake stands out after z-scoring
        assert set(np.unique(np.asarray(label))) <= {0.0, 1.0, 2.0}


@pytest.mark.slow
def test_a_warm_started_stage_1_evaluates_as_the_ct_model_it_came_from(petct_folder):
    torch.manual_seed(0)
    ct_model = segmentation_network("unet").eval()
    petct = segmentation_network("unet", in_channels=2)
    warm_start_from_stage1(petct, ct_model)  # PET weights at 0: the CT model exactly
    ours = evaluate_petct_folder(petct, petct_folder)
    theirs = evaluate_folder(ct_model, petct_folder)  # the CT pipeline, channel 0 only
    assert ours["summary"]["cases"] == 1
    for key in ("mean_gtv_dice", "mean_heart_dice"):
        assert ours["summary"][key] == pytest.approx(theirs["summary"][key], abs=1e-3)


def test_the_stage_1_card_states_the_held_out_dice(tmp_path):
    case = {"gtv_dice": 0.85, "gtv_hd95_mm": 5.0, "heart_dice": 0.96, "heart_hd95_mm": 4.0}
    summary = {f"{s}_{k}": v for k, v in case.items() for s in ("mean", "median")}
    metrics = {"command": "python -m lib.two_stage.train_stage1", "warm_start": "models/segmentation/weights.pt",
               "train_minutes": 12.0, "machine": "cpu", "channels": [8, 16, 32, 64, 128], "in_channels": 2,
               "parameters": 10, "lr": 1e-3, "data": {"train": [100, 32], "val": [800, 6], "test": [900, 20]},
               "history": [{"epoch": 1, "best": True}], "test": {"summary": summary, "cases": {"case_0900": case}}}
    write_stage1_card(metrics, tmp_path / "card.md")
    text = (tmp_path / "card.md").read_text()
    assert "GTV Dice: mean 0.850" in text and "| case_0900 | 0.850 |" in text and "Warm start" in text


def _run(methods: dict[str, list[tuple[int, int]]], seed: int = 0) -> dict:
    """A fake shared-click harness result: per method, (k, click x) pairs on one case."""
    rows = {name: [{"case_id": "c", "k": k, "click": None if x is None else {"index": [x, 0, 0], "positive": True},
                    "dsc": 0.5} for k, x in clicks] for name, clicks in methods.items()}
    return {"simulator": "border_distance", "click_mode": "shared", "reference": "two_stage_petct",
            "first_click": "prediction", "max_clicks": 1, "seed": seed, "cases": ["c"],
            "methods": {name: {"rows": r} for name, r in rows.items()}, "command": {"name": "x"}, "wall_seconds": 1.0}


def test_merging_runs_keeps_every_method_once_and_refuses_other_clicks():
    from lib.two_stage.report import merge_runs

    a = _run({"two_stage_petct": [(0, None), (1, 3)], "graph_cut": [(0, None), (1, 3)]})
    b = _run({"two_stage_petct": [(0, None), (1, 3)], "deepedit_petct_p00": [(0, None), (1, 3)]})
    merged = merge_runs([a, b])
    assert list(merged["methods"]) == ["two_stage_petct", "graph_cut", "deepedit_petct_p00"]
    assert merged["wall_seconds"] == 2.0
    with pytest.raises(ValueError, match="different clicks"):
        merge_runs([a, _run({"two_stage_petct": [(0, None), (1, 4)]})])
    with pytest.raises(ValueError, match="seed"):
        merge_runs([a, _run({"two_stage_petct": [(0, None), (1, 3)]}, seed=1)])
