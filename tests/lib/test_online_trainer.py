"""The online trainer: epochs within a budget, atomic files, resume, restart rule, new-data reset."""

from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np
import pytest
import torch

import lib.atomic
from lib.online.patches import case_from_arrays
from lib.online.state import read_status
from lib.online.trainer import OnlineTrainer, TrainerConfig
from lib.online.validate import annotated_dice, validation_dice
from tests.lib.online_data import tiny_network, write_case

QUICK = TrainerConfig(fixed_epoch_length=4, seed=3)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Three tiny phantoms: a full label (train), then two corrections (validation, train)."""
    folder = tmp_path_factory.mktemp("online")
    return [write_case(folder, 0, full=True), write_case(folder, 1, full=False), write_case(folder, 2, full=False)]


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def test_two_epochs_write_best_state_and_status_then_resume(tmp_path, cases):
    trainer = OnlineTrainer(tmp_path, tiny_network, list_images=lambda: cases, config=QUICK)
    assert trainer.status()["state"] == "idle"
    status = trainer.run(threading.Event(), budget_epochs=2)
    assert status["state"] == "stopped" and status["epoch"] == 2
    assert (status["train_images"], status["val_images"]) == (2, 1)
    assert status["epoch_length"] == 4 and status["last_saved"] is not None
    assert 0.0 <= status["best_val_dice"] <= 1.0
    assert read_status(tmp_path) == {**status, "updated": read_status(tmp_path)["updated"]}
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["epoch"] == 2 and state["best_val_dice"] == status["best_val_dice"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "split.json", "state.json", "status.json"]

    resumed = OnlineTrainer(tmp_path, tiny_network, list_images=lambda: cases, config=QUICK)
    assert _same(resumed.network.state_dict(), _weights(tmp_path / "best.pt"))
    assert resumed.state.epoch == 2
    assert resumed.run(lambda: False, budget_epochs=1)["epoch"] == 3
    assert resumed.dataset.val_images == trainer.dataset.val_images


def test_same_seed_same_weights(tmp_path, cases):
    for name in ("a", "b"):
        OnlineTrainer(tmp_path / name, tiny_network, list_images=lambda: cases[:1], config=QUICK).run(
            lambda: False, budget_epochs=1
        )
    assert _same(_weights(tmp_path / "a" / "best.pt"), _weights(tmp_path / "b" / "best.pt"))


def test_without_validation_every_epoch_is_saved(tmp_path, cases):
    trainer = OnlineTrainer(tmp_path, tiny_network, list_images=lambda: cases[:1], config=QUICK)
    trainer.run(lambda: False, budget_epochs=1)
    first = _weights(tmp_path / "best.pt")
    status = trainer.run(lambda: False, budget_epochs=1)
    assert status["best_val_dice"] is None and status["val_images"] == 0
    assert status["epochs_without_progress"] == 0
    assert not _same(first, _weights(tmp_path / "best.pt"))
    assert _same(trainer.network.state_dict(), _weights(tmp_path / "best.pt"))


def test_restart_from_random_weights_when_validation_never_improves(tmp_path, cases):
    config = TrainerConfig(fixed_epoch_length=2, restart_after=1, seed=3)
    trainer = OnlineTrainer(tmp_path, tiny_network, list_images=lambda: cases, config=config,
                            validate=lambda network, val_cases: 0.5)
    trainer.run(lambda: False, budget_epochs=1)
    saved, saved_at = _weights(tmp_path / "best.pt"), trainer.status()["last_saved"]
    assert trainer.status()["restarts"] == 0
    trainer.run(lambda: False, budget_epochs=1)  # 0.5 is no better than 0.5: restart
    status = trainer.status()
    assert status["restarts"] == 1 and status["epochs_without_progress"] == 0
    assert status["last_saved"] == saved_at and _same(saved, _weights(tmp_path / "best.pt"))
    # The network in training is freshly initialised, not the saved one.
    assert not _same(trainer.network.state_dict(), saved)
    trainer.run(lambda: False, budget_epochs=2)
    assert trainer.status()["restarts"] == 3


def test_new_data_resets_epochs_without_progress(tmp_path, cases):
    listed = list(cases[:2])
    trainer = OnlineTrainer(tmp_path, tiny_network, list_images=lambda: listed, config=QUICK,
                            validate=lambda network, val_cases: 0.5)
    trainer.run(lambda: False, budget_epochs=3)
    assert trainer.status()["epochs_without_progress"] == 2
    listed.append(cases[2])
    trainer.run(lambda: False, budget_epochs=1)
    assert trainer.status()["epochs_without_progress"] == 1  # reset to 0, then one epoch without a new best


def test_a_failed_save_leaves_the_previous_files_readable(tmp_path, cases, monkeypatch):
    scores = iter([0.1, 0.9])
    trainer = OnlineTrainer(tmp_path, tiny_network, list_images=lambda: cases[:2], config=QUICK,
                            validate=lambda network, val_cases: next(scores, 0.9))
    trainer.run(lambda: False, budget_epochs=1)
    before, state_before = _weights(tmp_path / "best.pt"), (tmp_path / "state.json").read_text()

    def torn_save(obj, path):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(lib.atomic.torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        trainer.run(lambda: False, budget_epochs=1)
    assert _same(before, _weights(tmp_path / "best.pt"))
    assert (tmp_path / "state.json").read_text() == state_before
    status = read_status(tmp_path)
    assert status["state"] == "stopped" and "disk full" in status["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "split.json", "state.json", "status.json"]


def test_stop_and_waiting_for_data(tmp_path, cases):
    stop = threading.Event()
    stop.set()
    trainer = OnlineTrainer(tmp_path, tiny_network, list_images=lambda: cases, config=QUICK)
    assert trainer.run(stop)["epoch"] == 0
    idle = OnlineTrainer(tmp_path / "idle", tiny_network, config=TrainerConfig(idle_poll_s=0.01))
    status = idle.run(lambda: False, budget_seconds=0.05)
    assert status["state"] == "stopped" and status["epoch"] == 0 and status["train_images"] == 0


def test_annotated_dice_pools_annotated_voxels_per_structure():
    annotation = np.zeros((4, 4, 2), dtype=np.uint8)
    annotation[0, :, 0] = 1  # 4 GTV voxels
    annotation[1, :, 0] = 3  # 4 background voxels
    case = case_from_arrays(np.zeros((1, 4, 4, 2), dtype=np.float32), annotation)
    prediction = np.zeros(case.classes.shape, dtype=np.uint8)
    prediction[0, :2, 0] = 1  # 2 of the GTV found
    prediction[1, 0, 0] = 1  # 1 false GTV on annotated background
    prediction[3, :, :] = 2  # heart where nothing is annotated: ignored
    assert annotated_dice([prediction], [case]) == pytest.approx(2 * 2 / (3 + 4))
    assert annotated_dice([], []) is None
    background_only = case_from_arrays(np.zeros((1, 4, 4, 2), dtype=np.float32), (annotation == 3) * 3)
    assert annotated_dice([prediction], [background_only]) == pytest.approx(3 / 4)


def test_validation_dice_runs_the_network_on_whole_cases():
    annotation = np.full((32, 32, 16), 3, dtype=np.uint8)
    case = case_from_arrays(np.zeros((1, 32, 32, 16), dtype=np.float32), annotation)
    network = tiny_network()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        network.model[-1].conv.bias[0] = 1.0  # every voxel background
    assert validation_dice(network, [case]) == pytest.approx(1.0)


def test_runs_in_a_thread_until_stopped(tmp_path, cases):
    stop = threading.Event()
    trainer = OnlineTrainer(tmp_path, tiny_network, list_images=lambda: cases, config=QUICK)
    thread = threading.Thread(target=trainer.run, args=(stop,))
    thread.start()
    try:
        for _ in range(600):
            if trainer.status()["epoch"] >= 1:
                break
            stop.wait(0.05)
        assert trainer.status()["state"] == "training" and trainer.status()["train_images"] == 2
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive() and read_status(tmp_path)["state"] == "stopped"


def test_changed_validation_data_rescores_the_saved_model(tmp_path, cases):
    image, annotation, full = cases[1]
    copied = tmp_path / "validation_annotation.nii.gz"
    shutil.copy(annotation, copied)
    listed = [cases[0], (image, str(copied), full)]
    scores = iter([0.8, 0.3, 0.5])  # epoch 1; the saved model re-scored on new data; epoch 2
    trainer = OnlineTrainer(tmp_path / "work", tiny_network, list_images=lambda: listed, config=QUICK,
                            validate=lambda network, val_cases: next(scores))
    trainer.run(lambda: False, budget_epochs=1)
    assert trainer.status()["best_val_dice"] == 0.8
    stat = os.stat(copied)
    os.utime(copied, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # the user re-saved it
    trainer.run(lambda: False, budget_epochs=1)
    assert trainer.status()["best_val_dice"] == 0.5  # beat the saved model's 0.3 on today's data
    assert torch.load(tmp_path / "work" / "best.pt", weights_only=True)["epoch"] == 2
