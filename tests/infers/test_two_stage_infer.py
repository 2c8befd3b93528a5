"""The 2S-ICR infer task in process: stage 1's answer of an image is computed once and shared by
every session on it (a new session's first click costs one refinement pass), and recomputed
when the request asks for no cache. Shipped stage-1 weights, a seeded untrained refinement net."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infers.two_stage import TwoStage
from lib.phantom import PhantomConfig, generate_phantom
from lib.phantom.io import save_phantom
from lib.session_cache import SessionCache
from lib.two_stage.network import CPU_CHANNELS, refinement_unet

STAGE1 = "models/segmentation/weights.pt"


@pytest.fixture()
def task_and_image(tmp_path):
    phantom = generate_phantom(PhantomConfig(seed=905, shape=(48, 48, 24)))
    image = tmp_path / "small.nii.gz"
    save_phantom(phantom, image, tmp_path / "label.nii.gz")
    torch.manual_seed(0)
    refinement = tmp_path / "refinement.pt"
    torch.save({"model": refinement_unet(1).state_dict(), "image_channels": 1, "channels": list(CPU_CHANNELS)},
               refinement)
    task = TwoStage([STAGE1], [str(refinement)], cache=SessionCache(4, 10**9))
    centre = [int(v) for v in np.argwhere(phantom.organs == 1).mean(axis=0).round()]
    return task, image, centre


def stage1_passes(task: TwoStage, requests: list[dict]) -> int:
    """How many stage-1 forward passes the requests cost."""
    calls = []
    model = task.model("cpu")
    hooks = [m.register_forward_hook(lambda *_: calls.append(1)) for m in model.stage1]
    try:
        for request in requests:
            task(request)
    finally:
        for hook in hooks:
            hook.remove()
    return len(calls)


def test_stage_one_runs_once_per_image_whatever_the_sessions(task_and_image):
    task, image, centre = task_and_image
    base = {"image": str(image), "device": "cpu", "result_extension": ".nii.gz", "foreground": [centre]}
    first = stage1_passes(task, [{**base, "client_id": "a"}])
    assert first >= 1
    assert stage1_passes(task, [{**base, "client_id": "b"}, {**base, "client_id": "c"}, base]) == 0
    assert stage1_passes(task, [{**base, "client_id": "d", "use_cache": False}]) == first
