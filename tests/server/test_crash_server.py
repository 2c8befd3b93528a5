"""kill -9 of the real server (and its training process) during label saves and training, then a
restart on the same datastore: every acknowledged save is there byte for byte, no truncated
or half-written label is listed, the server answers."""

from __future__ import annotations

import threading

import nibabel as nib
import numpy as np
import pytest
import requests
import torch
from monailabel.client import MONAILabelClient

from apps.radiotherapy.launch import APP_DIR, start_server
from lib.phantom.datastore import write_datastore

pytestmark = pytest.mark.slow

IMAGES = ("phantom_0000", "phantom_0001", "phantom_0002")
SAVES_BEFORE_KILL = 6


def _variants(studies, tmp_path, image_id: str, count: int) -> list[bytes]:
    """``count`` different valid final labels of one image (the truth with a moved GTV block)."""
    truth = nib.load(studies / "labels" / "final" / f"{image_id}.nii.gz")
    array = np.asarray(truth.dataobj).astype(np.uint8)
    out = []
    for k in range(count):
        edited = array.copy()
        edited[k : k + 8, 10:18, 5:9] = 1
        path = tmp_path / f"{image_id}_{k}.nii.gz"
        nib.save(nib.Nifti1Image(edited, truth.affine), path)
        out.append(path.read_bytes())
    return out


def test_kill_9_during_saves_and_training_keeps_every_acknowledged_label_whole(tmp_path):
    studies, model_dir = tmp_path / "datastore", tmp_path / "model"
    write_datastore(studies, cases=3, first_seed=0)
    originals = {i: (studies / "labels" / "final" / f"{i}.nii.gz").read_bytes() for i in IMAGES}
    variants = {i: _variants(studies, tmp_path, i, 8) for i in IMAGES}
    conf = {"models": "gaussian_click", "model_dir": model_dir}
    sent: dict[str, list[bytes]] = {i: [] for i in IMAGES}
    acknowledged: dict[str, list[bytes]] = {i: [] for i in IMAGES}
    in_flight = threading.Event()

    server = start_server(APP_DIR, studies, conf, tmp_path / "server1.log")
    try:
        client = MONAILabelClient(server.url, tmpdir=str(tmp_path))
        assert requests.post(f"{server.url}/train/gaussian_click", timeout=60).status_code == 200

        def save_forever() -> None:
            for n in range(3 * 8):
                image = IMAGES[n % 3]
                data = variants[image][n // 3]
                path = tmp_path / f"upload_{n}.nii.gz"
                path.write_bytes(data)
                sent[image].append(data)
                if n == SAVES_BEFORE_KILL:
                    in_flight.set()
                try:
                    client.save_label(image, str(path), tag="final")
                except Exception:  # the server was killed under this request
                    return
                acknowledged[image].append(data)

        saver = threading.Thread(target=save_forever)
        saver.start()
        assert in_flight.wait(120)
        assert requests.get(f"{server.url}/train/", timeout=30).json()["status"] == "RUNNING"
    finally:
        server.kill()  # SIGKILL to the server and its training process, as a crash would
    saver.join(60)
    assert sum(map(len, acknowledged.values())) >= SAVES_BEFORE_KILL

    with start_server(APP_DIR, studies, conf, tmp_path / "server2.log") as restarted:
        client = MONAILabelClient(restarted.url, tmpdir=str(tmp_path))
        objects = client.datastore()["objects"]
        assert not list(studies.rglob("*.partial"))
        for image in IMAGES:
            final = objects[image]["labels"]["final"]
            stored = (studies / "labels" / "final" / f"{image}{final['ext']}").read_bytes()
            if acknowledged[image]:  # the last acknowledged save, or one sent after it: whole
                last = sent[image].index(acknowledged[image][-1])
                assert any(stored == data for data in sent[image][last:]), image
            else:
                assert stored == originals[image] or stored in sent[image], image
            label = nib.load(studies / "labels" / "final" / f"{image}{final['ext']}")
            assert label.shape == nib.load(studies / f"{image}.nii.gz").shape
        for weights in model_dir.rglob("*.pt"):  # published weights are whole (or were never written)
            torch.load(weights, map_location="cpu", weights_only=False)
        assert not list((model_dir / "uploads").iterdir())
        label, _ = client.infer("gaussian_click_2d", IMAGES[0], {"foreground": [[50, 50, 20]]})
        assert nib.load(label).shape == nib.load(studies / f"{IMAGES[0]}.nii.gz").shape
