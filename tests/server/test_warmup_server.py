"""The warm-up at server start (apps/radiotherapy/warmup.py), on a real server: it runs each served
task once, in the background, and leaves the datastore exactly as it was."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from lib.phantom.datastore import write_datastore
from tests.server.conftest import serving, wait_for

pytestmark = pytest.mark.slow  # starts its own server

#: Files MONAI Label's local datastore keeps about itself (its index and lock), not the user's data.
DATASTORE_OWN = re.compile(r"(^|/)\.?datastore_v\d+\.json(\.lock)?$|\.lock$")


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every user file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not DATASTORE_OWN.search(str(p.relative_to(folder)))
    }


def test_warmup_runs_each_served_task_and_leaves_the_datastore_unchanged(tmp_path):
    studies = tmp_path / "datastore"
    write_datastore(studies, cases=2, first_seed=0, labelled=1)  # one labelled, one not
    before = snapshot(studies)
    with serving(tmp_path, studies, {"models": "gaussian_click", "model_dir": tmp_path / "model"}) as (client, running):
        models = client.info()["models"]  # /info answers while the warm-up may still run
        log = wait_for(running.log_path, "warm-up done")
        served = [name for name in ("gaussian_click_2d", "gaussian_click_3d") if name in models]
        assert served, models
        for name in served:
            assert re.search(rf"warm-up: {name} answered in [0-9.]+ s", log), log[-3000:]
        listed = client.datastore()  # the server's own view: only the studies written above
        assert sorted(listed["objects"]) == sorted(p.name.split(".")[0] for p in studies.glob("*.nii.gz"))
        assert snapshot(studies) == before
