"""Online corrective training through a real server: it starts on a saved correction, trains in the
background, serves its best model, survives being killed and resumes from its best model.

Epochs are shortened (``--conf online_epoch_length 4``) so the loop turns in seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monailabel.client.client import MONAILabelClientException

from apps.radiotherapy.launch import APP_DIR, start_server
from lib.online.annotation import ANNOTATED_BACKGROUND
from lib.phantom.datastore import write_datastore
from monailabel.client import MONAILabelClient
from tests.server.test_segmentation_server import _status

pytestmark = pytest.mark.slow

MODEL = "online"


def wait_for(condition, timeout_s: float = 240, what: str = "condition"):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def read_status(model_dir: Path) -> dict:
    path = model_dir / MODEL / "status.json"
    return json.loads(path.read_text()) if path.exists() else {}


def correction_file(studies: Path, image_id: str, folder: Path) -> Path:
    """A corrective annotation: the truth inside the structures' box, background 3, 0 outside."""
    truth_file = nib.load(studies / "labels" / "final" / f"{image_id}.nii.gz")
    truth = np.asarray(truth_file.dataobj).astype(np.uint8)
    points = np.argwhere(truth > 0)
    box = tuple(slice(int(a), int(b) + 1) for a, b in zip(points.min(0), points.max(0)))
    annotation = np.zeros_like(truth)
    annotation[box] = np.where(truth[box] > 0, truth[box], ANNOTATED_BACKGROUND)
    path = folder / f"{image_id}_corrective.nii.gz"
    nib.save(nib.Nifti1Image(annotation, truth_file.affine), path)
    return path


@pytest.fixture(scope="module")
def online(tmp_path_factory):
    root = tmp_path_factory.mktemp("online")
    truth_store = root / "truth"
    write_datastore(truth_store, cases=3, first_seed=0, labelled=3)
    studies = root / "datastore"
    write_datastore(studies, cases=3, first_seed=0, labelled=0)  # the server sees images only
    return root, studies, truth_store


def serve(root: Path, studies: Path, log: str):
    conf = {"models": MODEL, "model_dir": root / "model", "online_epoch_length": 4}
    return start_server(APP_DIR, studies, conf, root / log,
                        env_extra={"MONAI_LABEL_SESSION_PATH": str(root / "sessions")})


def test_training_starts_on_a_saved_correction_survives_a_kill_and_resumes(online, tmp_path):
    root, studies, truth_store = online
    model_dir = root / "model"
    server = serve(root, studies, "server1.log")
    try:
        client = MONAILabelClient(server.url, tmpdir=str(tmp_path))
        assert MODEL in client.info()["trainers"]
        with pytest.raises(MONAILabelClientException) as error:  # nothing learnt yet
            client.infer(MODEL, "phantom_0000", {})
        assert _status(error.value) == 404 and "no weights yet" in error.value.msg

        client.save_label("phantom_0000", str(correction_file(truth_store, "phantom_0000", tmp_path)), tag="corrective")
        wait_for(lambda: read_status(model_dir).get("epoch", 0) >= 2, what="two epochs after the first correction")
        assert (model_dir / MODEL / "best.pt").exists()
        label_file, _ = client.infer(MODEL, "phantom_0000", {})  # the best model is served without a restart
        assert nib.load(label_file).shape == nib.load(studies / "phantom_0000.nii.gz").shape

        client.save_label("phantom_0001", str(correction_file(truth_store, "phantom_0001", tmp_path)), tag="corrective")
        status = wait_for(lambda: (s := read_status(model_dir)).get("val_images") == 1 and s, what="the second image")
        assert status["train_images"] == 1  # the paper's split: first to train, second to validation
        assert client.info()["train_stats"][MODEL]["val_images"] == 1

        # Kill everything (server and its training process) in the middle of an epoch.
        wait_for(lambda: read_status(model_dir).get("state") == "training", what="an epoch in progress")
        before_kill = read_status(model_dir)
        saved = {p.name: p.read_bytes() for p in (studies / "labels" / "corrective").glob("*.nii.gz")}
    finally:
        server.kill()
    assert len(saved) == 2
    torch.load(model_dir / MODEL / "best.pt", weights_only=True)  # the served model is whole
    best_dice = json.loads((model_dir / MODEL / "state.json").read_text())["best_val_dice"]

    with serve(root, studies, "server2.log") as server:  # no request needed: it resumes by itself
        status = wait_for(lambda: (s := read_status(model_dir)).get("epoch", 0) > before_kill["epoch"] and s,
                          what="training to resume after the restart")
        assert status["train_images"] + status["val_images"] == 2
        if best_dice is not None:
            assert status["best_val_dice"] >= best_dice
        client = MONAILabelClient(server.url, tmpdir=str(tmp_path))
        details = "\n".join(str(line) for line in client.train_status().get("details", []))
        assert f'"resumed_from": "{model_dir / MODEL / "best.pt"}"' in details  # from the best model, not scratch
        assert {p.name: p.read_bytes() for p in (studies / "labels" / "corrective").glob("*.nii.gz")} == saved
        label_file, _ = client.infer(MODEL, "phantom_0001", {})
        assert nib.load(label_file).shape == nib.load(studies / "phantom_0001.nii.gz").shape

    report = subprocess.run(
        [sys.executable, "-m", "lib.online.timing", "--log", str(model_dir / "annotation_events.jsonl"),
         "--format", "json"], capture_output=True, text=True, check=True,
    )
    assert "phantom_0000" in report.stdout and "phantom_0001" in report.stdout
