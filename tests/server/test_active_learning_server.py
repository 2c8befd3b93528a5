"""Active learning through the real server: scoring, the uncertainty strategy, slice suggestion."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request

import nibabel as nib
import numpy as np
import pytest
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException
from monailabel.datastore.local import LocalDatastore

from strategies.uncertainty_scoring import update_image_info_fresh


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as answer:
        return json.loads(answer.read())


def _stored_score(client, image: str, timeout_s: float = 240.0) -> dict:
    """The automatic model's stored uncertainty of ``image``, once the scoring job has written it."""
    deadline = time.monotonic() + timeout_s
    while True:
        info = client.datastore()["objects"][image]["image"]["info"]
        stored = info.get("uncertainty", {}).get("segmentation")
        if stored is not None or time.monotonic() > deadline:
            assert stored is not None, f"no uncertainty score stored for {image} after {timeout_s} s"
            return stored
        time.sleep(1.0)


@pytest.mark.slow
def test_scoring_stores_scores_and_uncertainty_serves_the_scored_image(server):
    client = server.client
    info = client.info()
    assert "uncertainty" in info["strategies"] and "uncertainty" in info["scoring"]
    # the guarded server runs scoring in MONAI Label's task process only (run_sync is refused)
    _post(f"{client._server_url}/scoring/uncertainty", {"augmentations": ["identity"]})
    stored = _stored_score(client, "phantom_0003")
    assert isinstance(stored["model_version"], str) and stored["model_version"]
    assert 0.0 <= stored["score"] <= 1.0
    assert len(stored["slices"]["2"]) == nib.load(server.studies / "phantom_0003.nii.gz").shape[2]
    sample = client.next_sample("uncertainty", {})
    assert sample["id"] == "phantom_0003" and sample["score"] == pytest.approx(stored["score"])
    assert sample["reason"].startswith("highest uncertainty score")
    # another annotator (client id) is not given the image this client has just been served
    other = MONAILabelClient(client._server_url, tmpdir=str(server.studies.parent / "client"), client_id="other")
    assert other.next_sample("uncertainty", {}) == {}


def _suggest(client, params: dict, label: str | None = None) -> dict:
    """The JSON answer (MONAI Label 0.8.5's client hands a JSON-only answer back as bytes)."""
    _, answer = client.infer("slice_suggestion", "phantom_0000", params, label_in=label)
    return json.loads(answer) if isinstance(answer, (bytes, str)) else answer


@pytest.mark.slow
def test_slice_suggestion_ranks_slices_and_honours_exclude(server):
    client = server.client
    assert client.info()["models"]["slice_suggestion"]["type"] == "others"
    first = _suggest(client, {"top": 3})
    assert first["axis"] == 2 and 1 <= len(first["slices"]) <= 3
    scores = [s["score"] for s in first["slices"]]
    assert scores == sorted(scores, reverse=True) and first["label_used"] is False
    best = first["slices"][0]["index"]
    second = _suggest(client, {"top": 3, "exclude": [best]})
    assert best not in [s["index"] for s in second["slices"]]
    truth = server.studies / "labels" / "final" / "phantom_0000.nii.gz"
    with_label = _suggest(client, {"axis": 0}, str(truth))
    assert with_label["axis"] == 0 and with_label["label_used"] is True
    with pytest.raises(MONAILabelClientException, match="422"):
        client.infer("slice_suggestion", "phantom_0000", {"axis": 3})


def test_a_stale_datastore_copy_does_not_overwrite_a_saved_label(tmp_path, server):
    studies = tmp_path / "studies"
    shutil.copytree(server.studies, studies, ignore=shutil.ignore_patterns("datastore_v2.json", ".lock"))
    server_side, scoring_side = LocalDatastore(str(studies)), LocalDatastore(str(studies))  # two processes' copies
    label = studies / "new_label.nii.gz"
    shutil.copy(studies / "labels" / "final" / "phantom_0000.nii.gz", label)
    server_side.save_label("phantom_0003", str(label), "final", {"by": "user"})
    update_image_info_fresh(scoring_side, "phantom_0003", {"uncertainty": {"segmentation": {"score": 0.5}}})
    reread = LocalDatastore(str(studies))
    assert reread.get_label_by_image_id("phantom_0003", "final")
    assert reread.get_label_info(reread.get_label_by_image_id("phantom_0003", "final"), "final").get("by") == "user"
    assert reread.get_image_info("phantom_0003")["uncertainty"]["segmentation"]["score"] == 0.5
    assert np.asarray(nib.load(studies / "labels" / "final" / "phantom_0003.nii.gz").dataobj).any()
