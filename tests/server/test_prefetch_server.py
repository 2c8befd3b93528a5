"""An image a client fetches (download, next sample) is prepared for the click tasks before the first click.

A real server serving the shipped Gaussian-click and DIN models: the first click on an image
nobody fetched prepares it (``image_cached`` false in the answer's JSON); after a download or
a next sample the server prepares it in the background, and the first click finds it ready.
"""

from __future__ import annotations

import pytest
import requests

from lib.phantom.datastore import write_datastore
from tests.server.conftest import serving
from tests.server.conftest import wait_for

pytestmark = pytest.mark.slow

CLICK = {"foreground": [[60, 50, 20]], "background": []}


@pytest.fixture(scope="module")
def prefetch_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefetch_server")
    studies = root / "datastore"
    write_datastore(studies, cases=3, first_seed=0, labelled=0)
    with serving(root, studies, {"models": "gaussian_click,din", "model_dir": root / "model"}) as (client, running):
        wait_for(running.log_path, "warm-up done")
        yield client, running, studies


def test_a_click_on_an_image_nobody_fetched_prepares_it(prefetch_server):
    client, _, _ = prefetch_server
    _, first = client.infer("din", "phantom_0002", CLICK)
    _, second = client.infer("din", "phantom_0002", CLICK)
    assert first["image_cached"] is False and second["image_cached"] is True


def test_the_next_sample_is_prepared_and_a_bad_download_is_a_clean_404(prefetch_server):
    client, running, _ = prefetch_server
    sample = client.next_sample("first", {})
    assert sample["id"] != "phantom_0002"  # never clicked with gaussian_click_2d: only the prefetch prepares it
    wait_for(running.log_path, f"prefetch (next sample): {sample['id']}:")
    _, answer = client.infer("gaussian_click_2d", sample["id"], CLICK)
    assert answer["image_cached"] is True
    missing = requests.get(f"{running.url}/datastore/image", params={"image": "no_such_image"}, timeout=30)
    assert missing.status_code == 404 and "no_such_image" in missing.text
    assert requests.get(f"{running.url}/info/", timeout=30).status_code == 200


def test_a_downloaded_image_is_ready_for_every_click_task(prefetch_server):
    client, running, studies = prefetch_server
    response = requests.get(f"{running.url}/datastore/image", params={"image": "phantom_0001"}, timeout=60)
    assert response.status_code == 200 and response.content == (studies / "phantom_0001.nii.gz").read_bytes()
    log = wait_for(running.log_path, "prefetch (download): phantom_0001:")
    line = next(row for row in log.splitlines() if "prefetch (download): phantom_0001:" in row)
    assert all(f"'{name}': {{'seconds'" in line for name in ("gaussian_click_2d", "din")), line
    for model in ("gaussian_click_2d", "din"):
        _, answer = client.infer(model, "phantom_0001", CLICK)
        assert answer["image_cached"] is True, model
