"""DIN inference: clicks land on their voxel in any orientation, boxes restrict, the cache, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.din.guides import GuideSettings
from lib.din.predict import DinSegmenter, padded_size, parse_boxes, segment_prepared
from lib.interaction.clicks import Click
from lib.session_cache import SessionCache
from tests.lib.gaussian_click_data import write_volume

SHAPE = (24, 20, 8)
SPACING = (3.0, 3.0, 6.0)  # DIN's model spacing: the grid maps voxel for voxel
CLICK = (6, 13, 3)


class GuideEcho(torch.nn.Module):
    """Foreground where the foreground guide is above 0.5: a click acts where it lands."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(4.0))  # soft enough to keep a unique peak

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = self.scale * (x[:, 1:2] - 0.5)
        return torch.cat([torch.zeros_like(logit), logit], dim=1)


def segmenter(**options) -> DinSegmenter:
    options.setdefault("cache", SessionCache(max_entries=4, max_bytes=10**8))
    return DinSegmenter(GuideEcho(), GuideSettings(), **options)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "oblique"])
def test_a_click_acts_on_its_voxel_and_the_answer_is_on_the_input_grid(tmp_path, orientation):
    path, _, _ = write_volume(tmp_path, orientation, shape=SHAPE, spacing=SPACING)
    answer = segmenter().segment(path, [Click(CLICK, True)])
    assert answer.shape == SHAPE and answer.dtype == np.float32
    assert np.unravel_index(answer.argmax(), SHAPE) == CLICK
    # sigma (5, 5, 1): the blob is wide in plane and one slice thick
    assert answer[CLICK[0] + 2, CLICK[1], CLICK[2]] > 0.5 and answer[CLICK[0], CLICK[1], CLICK[2] + 2] < 0.5


def test_sigma_and_gamma_at_request_time_change_the_answer(tmp_path):
    path, _, _ = write_volume(tmp_path, "RAS", shape=SHAPE, spacing=SPACING)
    model = segmenter()
    narrow = model.segment(path, [Click(CLICK, True)]) > 0.5
    wide = model.segment(path, [Click(CLICK, True)], sigma=[5, 5, 3]) > 0.5
    assert wide.sum() > narrow.sum() and (wide & narrow).sum() == narrow.sum()
    assert not (model.segment(path, [Click(CLICK, True)], gamma=0.4) > 0.5).any()  # peak below 0.5


def test_boxes_restrict_the_answer_and_clicks_outside_a_box_do_nothing(tmp_path):
    path, _, _ = write_volume(tmp_path, "LPS", shape=SHAPE, spacing=SPACING)
    model = segmenter()
    other = (18, 4, 5)
    clicks = [Click(CLICK, True), Click(other, True)]
    box = parse_boxes([[[2, 9, 2], [11, 17, 4]]], SHAPE)
    answer = model.segment(path, clicks, boxes=box)
    inside = np.zeros(SHAPE, bool)
    inside[2:12, 9:18, 2:5] = True
    assert answer[CLICK] > 0.8 and not answer[~inside].any()
    assert np.unravel_index(answer.argmax(), SHAPE) == CLICK
    whole = model.segment(path, clicks)
    assert whole[other] > 0.8


@pytest.mark.parametrize("boxes, words", [
    ("all", "boxes must be a list"),
    ([[[0, 0, 0]]], r"boxes\[0\]"),
    ([[[0, 0, 0], [1, 2]]], r"boxes\[0\]"),
    ([[[0, 0, 0], [1, 2, 3]], [[0, 0, 0], [30, 2, 3]]], r"boxes\[1\] .* outside the image"),
])
def test_bad_boxes_are_named(boxes, words):
    with pytest.raises(ValueError, match=words):
        parse_boxes(boxes, SHAPE)


def test_cache_serves_the_prepared_image_and_no_click_means_nothing(tmp_path):
    path, _, _ = write_volume(tmp_path, "RAS", shape=SHAPE, spacing=SPACING)
    cache = SessionCache(max_entries=4, max_bytes=10**8)
    model = segmenter(cache=cache)
    model.segment(path, [Click(CLICK, True)])
    model.segment(path, [Click(CLICK, True)])
    assert cache.stats.hits == 1 and cache.stats.misses == 1
    assert not model.segment(path, []).any()
    with pytest.raises(ValueError, match="outside the image"):
        model.segment(path, [Click((24, 0, 0), True)])
    assert padded_size((24, 20, 7)) == (32, 32, 8)


@pytest.mark.parametrize("orientation", ["LPS", "oblique"])
def test_label_only_gives_the_same_label_as_the_full_resampling(tmp_path, orientation):
    path, _, _ = write_volume(tmp_path, orientation, shape=SHAPE, spacing=(1.5, 1.5, 3.0))  # upsampled back
    model = segmenter()
    clicks = [Click(CLICK, True), Click((20, 4, 5), True), Click((3, 3, 3), False)]
    full = model.segment(path, clicks)
    fast = segment_prepared(model.network, model.prepare(path), clicks, GuideSettings(), label_only=True)
    np.testing.assert_array_equal(full > 0.5, fast > 0.5)
    assert (full > 0.5).any()


class ShapeRecorder(GuideEcho):
    """GuideEcho that records the spatial size of every input it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[2:]))
        return super().forward(x)


def test_click_window_is_sized_by_the_clicks_not_the_study():
    from lib.din.predict import click_window

    one = click_window((167, 167, 80), [Click((80, 90, 40), True)])
    assert [w.stop - w.start for w in one] == [64, 64, 18] and all(w.start <= c < w.stop for w, c in zip(one, (80, 90, 40)))
    edge = click_window((167, 167, 80), [Click((1, 166, 79), True), Click((3, 150, 70), False)])
    assert all(0 <= w.start and w.stop <= n for w, n in zip(edge, (167, 167, 80)))
    small = click_window((24, 20, 8), [Click((6, 13, 3), True)])
    assert [w.stop - w.start for w in small] == [24, 20, 8]  # never more than the image


def test_in_click_window_mode_the_network_sees_the_window_and_the_label_is_the_whole_volumes(tmp_path):
    from lib.din.predict import CLICK_WINDOW_MARGIN
    from lib.din.preprocess import model_space

    shape = (96, 80, 40)
    path, _, _ = write_volume(tmp_path, "RAS", shape=shape, spacing=SPACING)
    prepared = model_space("ct").prepare_file(str(path))
    network, clicks = ShapeRecorder(), [Click((30, 40, 20), True), Click((40, 44, 22), False)]
    whole = segment_prepared(network, prepared, clicks, GuideSettings(), label_only=True)
    windowed = segment_prepared(network, prepared, clicks, GuideSettings(), label_only=True,
                                window_margin=CLICK_WINDOW_MARGIN)
    assert network.sizes == [(96, 80, 40), (64, 64, 20)]
    np.testing.assert_array_equal(windowed > 0.5, whole > 0.5)
    assert (windowed[:, :, :8] == 0).all() and (windowed > 0.5).any()
