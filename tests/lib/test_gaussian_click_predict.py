"""Clicks in, probability out on the input grid: windows, slice choice, the cache, refusals."""

from __future__ import annotations

import numpy as np
import pytest

import lib.gaussian_click.predict as predict
from lib.gaussian_click.inputs import (
    centred_window,
    clicks_region,
    crop_to_window,
    encode_guidance,
    network_input,
    paste_from_window,
    slice_window,
)
from lib.gaussian_click.predict import ClickSegmenter, choose_slice
from lib.interaction.clicks import Click
from lib.session_cache import SessionCache
from tests.lib.gaussian_click_data import SHAPE, GuidanceEcho, write_volume

CLICK = (6, 13, 3)


def segmenter(dims: int, **options) -> ClickSegmenter:
    options.setdefault("cache", SessionCache(max_entries=4, max_bytes=10**8))
    return ClickSegmenter(GuidanceEcho(), dims, **options)


def test_slice_window_is_the_whole_slice_padded_to_16():
    window = slice_window((40, 20, 8), z=5)
    assert window.start == (0, 0, 5) and window.stop == (40, 20, 6) and window.size == (48, 32)
    values = np.arange(40 * 20 * 8, dtype=np.float32).reshape(40, 20, 8)
    crop = crop_to_window(values, window, fill=-1.0)
    assert crop.shape == (48, 32) and np.all(crop[40:] == -1.0)
    pasted = paste_from_window(crop, window, values.shape)
    np.testing.assert_array_equal(pasted[:, :, 5], values[:, :, 5])
    assert not pasted[:, :, :5].any() and not pasted[:, :, 6:].any()


def test_region_holds_every_click_and_is_divisible_by_16():
    clicks = [Click((5, 5, 2), True), Click((90, 60, 30), False)]
    window = clicks_region((120, 100, 40), clicks)
    assert all(window.contains(c) for c in clicks)
    assert all(s % 16 == 0 and s >= e for s, e in zip(window.size, window.extent))
    small = centred_window((120, 100, 40), (118, 1, 39), (64, 64, 32), dims=3)
    assert small.extent == (64, 64, 32) and small.stop == (120, 64, 40)


def test_network_input_stacks_image_and_guidance_of_the_window_clicks():
    image = np.zeros((20, 20, 4), np.float32)
    window = slice_window(image.shape, z=2)
    clicks = [Click((3, 4, 2), True), Click((10, 10, 2), False), Click((3, 4, 1), True)]
    inputs = network_input(image, clicks, window)
    assert inputs.shape == (3, 32, 32)
    assert inputs[1].max() == 1.0 and inputs[1][3, 4] == 1.0 and inputs[2][10, 10] == 1.0
    np.testing.assert_allclose(inputs[1], encode_guidance([Click((3, 4, 0), True)], (32, 32))[0])


def test_slice_choice_anchor_then_most_clicks_then_latest():
    clicks = [Click((0, 0, 2), True), Click((0, 0, 5), True), Click((1, 1, 5), False), Click((0, 0, 7), False)]
    assert choose_slice(clicks) == 5
    assert choose_slice(clicks[:1] + clicks[3:]) == 7  # a tie goes to the later click
    assert choose_slice(clicks, anchor=clicks[0]) == 2


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
@pytest.mark.parametrize("dims", [2, 3])
def test_a_click_acts_on_its_voxel_and_the_answer_is_on_the_input_grid(tmp_path, orientation, dims):
    # spacing of the model space in plane (and along z for 3D): the grid maps voxel for voxel
    path, _, _ = write_volume(tmp_path, orientation, spacing=(3.0, 3.0, 4.0 if dims == 2 else 6.0))
    answer = segmenter(dims).segment(path, [Click(CLICK, True)])
    assert answer.shape == SHAPE and answer.dtype == np.float32
    assert np.unravel_index(answer.argmax(), SHAPE) == CLICK
    assert answer.max() > 0.99


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_3d_click_on_resampled_slices_acts_within_a_voxel(tmp_path, orientation):
    path, _, _ = write_volume(tmp_path, orientation)  # 4 mm slices, the 3D model's are 6 mm
    answer = segmenter(3).segment(path, [Click(CLICK, True)])
    peak = np.unravel_index(answer.argmax(), SHAPE)
    assert answer.shape == SHAPE and max(abs(a - b) for a, b in zip(peak, CLICK)) <= 1
    assert answer[CLICK] > 0.5


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_2d_answer_lies_on_the_clicked_slice_only(tmp_path, orientation):
    path, _, _ = write_volume(tmp_path, orientation)
    answer = segmenter(2).segment(path, [Click(CLICK, True), Click((2, 2, 6), True), Click((3, 3, 6), False)])
    assert np.flatnonzero(answer.any(axis=(0, 1))).tolist() == [6]  # the slice with the most clicks
    answer = segmenter(2).segment(path, [Click(CLICK, True), Click((2, 2, 6), True)], anchor=Click(CLICK, True))
    assert np.flatnonzero(answer.any(axis=(0, 1))).tolist() == [CLICK[2]]


def test_background_clicks_alone_give_nothing(tmp_path):
    path, _, _ = write_volume(tmp_path, "RAS")
    assert not segmenter(2).segment(path, [Click(CLICK, False)]).any()


@pytest.mark.parametrize(
    "clicks, words", [([], "no clicks"), ([Click((0, 20, 0), True)], r"click \[0, 20, 0\] is outside the image")]
)
def test_bad_clicks_are_refused_by_name(tmp_path, clicks, words):
    path, _, _ = write_volume(tmp_path, "RAS")
    with pytest.raises(ValueError, match=words):
        segmenter(2).segment(path, clicks)


def test_second_click_on_the_same_image_is_served_from_the_cache(tmp_path, monkeypatch):
    path, _, _ = write_volume(tmp_path, "oblique")
    loads = []
    original = predict.prepare_file
    monkeypatch.setattr(predict, "prepare_file", lambda p, d: loads.append(p) or original(p, d))
    cached = segmenter(2)
    first = cached.segment(path, [Click(CLICK, True)])
    second = cached.segment(path, [Click(CLICK, True), Click((2, 2, 3), False)])
    assert len(loads) == 1 and cached.cache.stats.hits == 1
    assert first.shape == second.shape
    plain = segmenter(2, use_cache=False)
    plain.segment(path, [Click(CLICK, True)])
    plain.segment(path, [Click(CLICK, True)])
    assert len(loads) == 3 and len(plain.cache) == 0


def test_rewritten_file_is_not_served_stale(tmp_path):
    path, _, _ = write_volume(tmp_path, "RAS")
    cached = segmenter(2)
    cached.segment(path, [Click(CLICK, True)])
    write_volume(tmp_path, "RAS", bright=CLICK)  # same path, new content
    import os

    os.utime(path, ns=(os.stat(path).st_mtime_ns + 10**9,) * 2)
    cached.segment(path, [Click(CLICK, True)])
    assert cached.cache.stats.misses == 2


def test_a_prepared_image_of_the_other_model_is_refused(tmp_path):
    path, _, _ = write_volume(tmp_path, "RAS")
    prepared = segmenter(3).prepare(path)
    with pytest.raises(ValueError, match="prepared for a 3D model"):
        segmenter(2).segment(prepared, [Click(CLICK, True)])


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("floor", [0.15, 0.5])
def test_the_answer_cut_to_where_it_reaches_the_floor_keeps_every_voxel_at_or_above_it(
    tmp_path, orientation, dims, floor
):
    # fine input voxels (1 x 1 x 2 mm against the model's 3 x 3 x 6 / 0): a box grown by a model voxel
    # holds several input voxels, so a cut one input voxel short would show
    path, _, _ = write_volume(tmp_path, orientation, shape=(48, 40, 12), spacing=(1.0, 1.2, 2.0))
    model = segmenter(dims)
    prepared = model.prepare(path)
    clicks = [Click((20, 18, 6), True), Click((30, 22, 6), True), Click((26, 12, 6), False)]
    values, box = predict.segment_prepared_box(model.network, prepared, clicks, clicks[-1], floor=floor)
    # the reference: the network's whole window resampled, as before the cut
    model_clicks = prepared.clicks_to_model(clicks)
    window = predict.answer_window(prepared, model_clicks, model_clicks[-1])
    inputs = network_input(prepared.image[0].numpy(), model_clicks, window)
    model_space = paste_from_window(predict.predict_window(model.network, inputs), window, prepared.spatial_shape)
    whole_window = prepared.input_region(window.box)
    reference = prepared.to_input_grid(model_space, whole_window)
    cut = np.zeros(prepared.input_shape, np.float32)
    cut[box] = values
    assert all(w.start <= b.start and b.stop <= w.stop for b, w in zip(box, whole_window))
    assert np.prod([b.stop - b.start for b in box]) < 0.5 * np.prod([w.stop - w.start for w in whole_window])
    assert (reference >= floor).any()
    np.testing.assert_array_equal(cut >= floor, reference >= floor)
    kept = cut >= floor
    np.testing.assert_allclose(cut[kept], reference[kept], rtol=0, atol=1e-6)


def test_a_slice_wider_than_the_2d_window_is_cut_around_its_clicks():
    shape = (176, 170, 40)  # a 512 x 512 CT slice at the model's 3 mm
    clicks = [Click((20, 30, 7), True), Click((40, 35, 7), False), Click((150, 160, 9), True)]
    window = slice_window(shape, 7, clicks)
    assert window.start[:2] == (0, 0) and window.stop[:2] == (128, 128) and window.size == (128, 128)
    assert window.start[2] == 7 and window.stop[2] == 8
    far = slice_window(shape, 7, [*clicks, Click((150, 40, 7), True)])  # clicks 130 voxels apart: held, margin too
    assert far.start[0] <= 20 - 16 and far.stop[0] >= 150 + 16 + 1 and far.size[0] == 176
    assert slice_window((112, 96, 40), 7, clicks).stop[:2] == (112, 96)  # a phantom's slice stays whole
    assert slice_window(shape, 7).stop[:2] == (176, 170)  # no click there: the whole slice
