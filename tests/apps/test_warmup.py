"""The warm-up's pieces in-process (apps/radiotherapy/warmup.py) and the latency benchmark's request
builders (benchmarks/latency.py)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from apps.radiotherapy.warmup import STUDY, run_warmup, warmup_files, warmup_request
from benchmarks.latency import click_sequence, crop_box, drag_sequence, parse_size


class Failing:
    def __call__(self, request):
        raise RuntimeError("no weights")


class Echo:
    def __init__(self, image_channels=1):
        self.requests = []
        self.image_channels = image_channels

    def __call__(self, request):
        self.requests.append(request)
        return None, {}


def test_warmup_files_hold_images_and_a_label_on_their_grid(tmp_path):
    import nibabel as nib

    images, label, centre = warmup_files(tmp_path)
    assert nib.load(images[1]).shape == STUDY.shape == nib.load(label).shape
    assert nib.load(images[2]).shape == (*STUDY.shape, 2)  # CT and PET, channels last as the datastore has them
    np.testing.assert_allclose(nib.load(images[1]).affine, nib.load(label).affine)
    assert np.asarray(nib.load(label).dataobj)[tuple(centre)] == 1


def test_each_task_gets_its_kind_of_request(tmp_path):
    image, label = tmp_path / "i.nii.gz", tmp_path / "l.nii.gz"
    click = warmup_request("din", image, label, [1, 2, 3])
    assert click["foreground"] == [[1, 2, 3]] and click["image"] == str(image)
    edit = warmup_request("slice_propagation", image, label, [1, 2, 3])
    assert edit["label"] == str(label) and edit["slices"] == [3] and "foreground" not in edit
    assert "foreground" not in warmup_request("segmentation", image, label, [1, 2, 3])


def test_a_failing_task_is_reported_and_the_others_still_run():
    echo, petct = Echo(), Echo(image_channels=2)
    results = run_warmup({"broken": Failing(), "gaussian_click_2d": echo, "two_stage": petct})
    assert results["broken"] == {"error": "RuntimeError: no weights"}
    assert "seconds" in results["gaussian_click_2d"] and len(echo.requests) == 1
    assert echo.requests[0]["image"].endswith("warmup.nii.gz")
    assert petct.requests[0]["image"].endswith("warmup_petct.nii.gz")


def test_benchmark_sizes_boxes_and_clicks():
    assert parse_size("512x512x160") == (512, 512, 160)
    for bad in ("512x512", "4x64x64", "1024x512x160", "axbxc"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)
    box = crop_box((5, 50, 30), (16, 16, 8), (64, 64, 32))
    assert [(b.start, b.stop) for b in box] == [(0, 16), (42, 58), (24, 32)]
    gtv = np.zeros((32, 32, 8), bool)
    gtv[10:20, 10:20, 2:6] = True
    clicks = click_sequence(gtv, 4, np.random.default_rng(0))
    assert [len(c["foreground"]) for c in clicks] == [1, 2, 2, 3] and len(clicks[-1]["background"]) == 1
    assert all(gtv[tuple(p)] for p in clicks[-1]["foreground"]) and not gtv[tuple(clicks[-1]["background"][0])]
    drags = drag_sequence(clicks, 3, gtv.shape)
    moved = [d["foreground"][-1][0] - clicks[-1]["foreground"][-1][0] for d in drags]
    assert moved in ([1, 2, 3], [-1, -2, -3]) and all(d["background"] == clicks[-1]["background"] for d in drags)
