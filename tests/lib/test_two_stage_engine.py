"""Algorithm 1 of 2S-ICR (lib.two_stage.engine) with stand-in networks on tiny volumes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.evaluation.protocol import Case, spacing_of
from lib.interaction.clicks import Click
from lib.phantom.geometry import make_affine
from lib.segmentation.transforms import inferer
from lib.two_stage.engine import (
    SessionState,
    TwoStageModel,
    gtv_probability,
    next_answer,
    refinement_box,
)
from lib.two_stage.preprocess import prepare_array

SHAPE = (24, 24, 12)
SPACING = (3.0, 3.0, 6.0)  # model spacing: RAS images are model space as they are


class ThresholdStage1(torch.nn.Module):
    """3-class stand-in automatic model: GTV where the windowed CT is above 0.3 (tumour 80 HU = 0.4)."""

    in_channels = 1

    def __init__(self, threshold: float = 0.3) -> None:
        super().__init__()
        self.threshold = torch.nn.Parameter(torch.tensor(threshold))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gtv = 30.0 * (x[:, :1] - self.threshold)
        return torch.cat([torch.zeros_like(gtv), gtv, torch.full_like(gtv, -10.0)], dim=1)


class RecordingRefiner(torch.nn.Module):
    """Stand-in refinement net: logit = 20 (previous + positive map - negative map - 0.5); keeps its inputs."""

    def __init__(self, image_channels: int = 1, gain: float = 20.0) -> None:
        super().__init__()
        self.in_channels = image_channels + 3
        self.gain = torch.nn.Parameter(torch.tensor(gain))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        c = self.in_channels - 3
        return self.gain * (x[:, c:c + 1] + x[:, c + 1:c + 2] - x[:, c + 2:c + 3] - 0.5)


def tiny_case(orientation: str = "RAS", pet: bool = False) -> Case:
    """Air around a soft-tissue block (40 HU) holding a 80 HU tumour ball; PET bright in the tumour."""
    affine = make_affine(SHAPE, SPACING, orientation)
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij"), axis=-1)
    tumour = (((grid - np.array([11, 12, 6])) * np.array(SPACING)) ** 2).sum(-1) < 12.0**2
    ct = np.full(SHAPE, -1000.0, np.float32)
    ct[3:21, 3:21, 2:10] = 40.0
    ct[tumour] = 80.0
    channels = [ct] + ([np.where(tumour, 8.0, 1.0).astype(np.float32)] if pet else [])
    return Case("tiny", np.stack(channels), tumour, spacing_of(affine), affine, "gtv")


def tiny_model(members: int = 1) -> tuple[TwoStageModel, list[RecordingRefiner]]:
    refiners = [RecordingRefiner(gain=20.0 + 5 * n) for n in range(members)]
    return TwoStageModel([ThresholdStage1()], refiners), refiners


def test_gtv_probability_is_above_half_exactly_where_gtv_is_the_argmax():
    rng = np.random.default_rng(0)
    softmax = torch.softmax(torch.from_numpy(rng.normal(size=(3, 6, 5, 4)).astype(np.float32)), dim=0)
    p = gtv_probability(softmax)
    assert p.shape == (6, 5, 4) and float(p.min()) >= 0 and float(p.max()) <= 1
    np.testing.assert_array_equal((p > 0.5).numpy(), (softmax.argmax(0) == 1).numpy())
    with pytest.raises(ValueError, match="class 1"):
        gtv_probability(softmax[:1])


def test_no_click_is_stage_1_exactly():
    model, refiners = tiny_model()
    prepared = prepare_array(tiny_case().image, tiny_case().affine)
    state = next_answer(model, prepared, ())
    logits = inferer()(prepared.image[None], model.stage1[0])[0]
    expected = gtv_probability(torch.softmax(logits, dim=0))
    torch.testing.assert_close(state.answer, expected, rtol=0, atol=0)
    assert state.clicks == () and refiners[0].inputs == []  # the refinement net is not run


def test_each_click_refines_the_last_answer_with_all_clicks():
    model, (refiner,) = tiny_model()
    prepared = prepare_array(tiny_case().image, tiny_case().affine)
    first, second = Click((11, 12, 6), True), Click((4, 4, 3), False)
    y0 = next_answer(model, prepared, ())
    y1 = next_answer(model, prepared, [first], y0)
    y2 = next_answer(model, prepared, [first, second], y1)
    assert len(refiner.inputs) == 2
    for inputs, last, clicks in ((refiner.inputs[0], y0, [first]), (refiner.inputs[1], y1, [first, second])):
        box = refinement_box(SHAPE, clicks, last.answer)
        start = [b.start for b in box]
        inner = tuple(slice(max(b.start, 0), min(b.stop, n)) for b, n in zip(box, SHAPE))
        local = tuple(slice(i.start - s, i.stop - s) for i, s in zip(inner, start))
        # channel 1 is the previous probability: y(t-1), not stage 1's answer again
        torch.testing.assert_close(inputs[0, 1][local], last.answer[inner].float())
        for click in clicks:  # every click so far is in its map
            channel = 2 if click.positive else 3
            assert float(inputs[0, channel][tuple(v - s for v, s in zip(click.index, start))]) == 1.0
    assert y2.clicks == (first, second)
    assert not torch.equal(y2.answer, y1.answer)


def test_a_repeated_request_gives_the_same_state_and_a_new_history_restarts_from_stage_1():
    model, (refiner,) = tiny_model()
    prepared = prepare_array(tiny_case().image, tiny_case().affine)
    a, b = Click((11, 12, 6), True), Click((4, 4, 3), False)
    y1 = next_answer(model, prepared, [a])
    assert next_answer(model, prepared, [a], y1) is y1
    restarted = next_answer(model, prepared, [b], y1)  # [b] does not extend [a]
    fresh = next_answer(model, prepared, [b])
    torch.testing.assert_close(restarted.answer, fresh.answer, rtol=0, atol=0)
    reset = next_answer(model, prepared, (), y1)
    torch.testing.assert_close(reset.answer, y1.automatic, rtol=0, atol=0)


def test_an_uploaded_previous_answer_is_what_gets_refined():
    model, (refiner,) = tiny_model()
    case = tiny_case("LPS")
    prepared = prepare_array(case.image, case.affine)
    seen = np.zeros(SHAPE, np.float32)
    seen[8:14, 9:15, 4:8] = 1.0
    click = Click((11, 12, 6), True)
    state = next_answer(model, prepared, [click], None, previous=seen)
    box = refinement_box(prepared.spatial_shape, prepared.clicks_to_model([click]), state.automatic)
    previous_channel = refiner.inputs[0][0, 1]
    assert float(previous_channel.sum()) == pytest.approx(float(seen.sum()))
    with pytest.raises(ValueError, match="shape"):
        next_answer(model, prepared, [click], None, previous=seen[:-1])
    assert box is not None


def test_ensemble_averages_members_and_gives_each_the_same_clicks():
    model, refiners = tiny_model(members=2)
    prepared = prepare_array(tiny_case().image, tiny_case().affine)
    clicks = [Click((11, 12, 6), True), Click((20, 20, 2), False)]
    y0 = next_answer(model, prepared, ())
    both = next_answer(model, prepared, clicks, y0)
    torch.testing.assert_close(refiners[0].inputs[0], refiners[1].inputs[0], rtol=0, atol=0)
    singles = [TwoStageModel([ThresholdStage1()], [r]).refine(prepared.image, y0.answer, clicks) for r in refiners]
    torch.testing.assert_close(both.answer, (singles[0] + singles[1]) / 2)


def test_a_click_outside_the_image_is_refused_by_name():
    model, _ = tiny_model()
    prepared = prepare_array(tiny_case().image, tiny_case().affine)
    with pytest.raises(ValueError, match=r"click \[30, 1, 1\] is outside"):
        next_answer(model, prepared, [Click((30, 1, 1), True)])


def test_outside_the_refinement_box_the_previous_answer_stays():
    model, _ = tiny_model()
    image = torch.zeros((1, 64, 48, 12))
    previous = torch.zeros((64, 48, 12))
    previous[40:60, 5:10, 3:6] = 0.8  # a far false positive stays untouched by a click near the origin
    previous[2:6, 2:6, 2:5] = 0.9
    click = Click((3, 3, 3), True)
    capped = refinement_box(image.shape[1:], [click], previous, max_window=(24, 24, 12))
    assert capped[0].stop - capped[0].start == 24  # the far false positive would stretch it to 64
    box = refinement_box(image.shape[1:], [click], previous)
    assert all((b.stop - b.start) % 8 == 0 for b in box)
    out = model.refine(image, previous, [click])
    outside = np.ones(out.shape, bool)
    outside[tuple(slice(max(b.start, 0), b.stop) for b in box)] = False
    assert outside.any()
    np.testing.assert_array_equal(out.numpy()[outside], previous.numpy()[outside])
    assert not torch.equal(out, previous)
    assert isinstance(SessionState(out, (click,), previous).nbytes, int)


def test_the_refinement_box_holds_the_previous_answer_near_the_clicks_only():
    shape = (160, 160, 40)  # 480 x 480 x 240 mm at the model's 3 x 3 x 6 mm
    previous = torch.zeros(shape)
    previous[20:30, 20:30, 10:14] = 0.9  # the structure being clicked
    previous[44:50, 20:26, 10:12] = 0.9  # 42 mm from the click: near
    previous[130:140, 130:140, 30:34] = 0.9  # a stage-1 false positive across the study
    click = Click((25, 25, 12), False)
    box = refinement_box(shape, [click], previous)
    near = refinement_box(shape, [click], previous[:60, :60])  # the same without the far part
    assert box == refinement_box((60, 60, 40), [click], previous[:60, :60]) == near
    assert box[0].start <= 20 and box[0].stop >= 50  # the near part is in, with its margin
    assert box[0].stop < 130 and box[1].stop < 130
    whole = refinement_box(shape, [click], previous, near_mm=None)  # the rule before: the far part stretches it
    assert whole[0].stop - whole[0].start == 96 and whole[0] != box[0]
