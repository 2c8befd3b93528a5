"""Algorithm 1 of 2S-ICR: the automatic answer, then each click refines the LAST answer.

    y(0) = f_DL(x)                               no click: stage 1's answer, exactly
    y(t) = f_IDL(x, y(t-1), C(t)),  t >= 1       C(t): ALL clicks so far

Everything here works in model space (:mod:`lib.two_stage.preprocess`): images are
(C, X, Y, Z) float tensors, probabilities (X, Y, Z) float tensors in [0, 1], clicks are
model-space voxel indices. :func:`next_answer` is the step the evaluation harness and the
server share: it takes the clicks on the INPUT image and a :class:`SessionState` (the last
answer and the clicks it was made with) and returns the next state.

Ensembles (paper section 4.2): each stage may have k members; their probabilities are
averaged, and every member gets the same clicks (the clicks are chosen from the ensemble's
answer by whoever clicks). Stage-1 members are 3-class automatic models (background, GTV,
heart): :func:`gtv_probability` turns the averaged softmax into one GTV probability that is
above 0.5 exactly where GTV is the arg-max class, so stage 1's mask is the automatic
model's GTV label.

The refinement net sees a box around the clicks and the previous answer's foreground near
them, plus a 30 mm margin (:func:`refinement_box`), as it was trained on crops around the
target plus a margin; the previous answer is kept outside that box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lib.imaging.boxes import around_points, full_box
from lib.interaction.clicks import Click
from lib.precision import forward
from lib.segmentation.transforms import MODEL_SPACING
from lib.segmentation.transforms import inferer as stage1_inferer
from lib.two_stage.network import GUIDANCE_CHANNELS, SIZE_DIVISOR, load_refinement, load_stage1
from lib.two_stage.preprocess import PreparedImage, to_model_grid
from lib.two_stage.transforms import EVAL_MARGIN_MM, SIGMA_VOXELS, click_maps, crop_padded, pad_box, target_box

#: The largest box (model voxels, X, Y, Z) the refinement net sees at once: 288 x 288 x 288 mm.
MAX_WINDOW: tuple[int, int, int] = (96, 96, 48)
#: The previous answer the refinement box holds: its foreground within this distance (mm, per
#: axis) of the clicks' box, a large GTV's extent; farther parts are kept as they were.
NEAR_CLICKS_MM = 60.0
GTV_CLASS = 1


def gtv_probability(softmax: torch.Tensor, target: int = GTV_CLASS) -> torch.Tensor:
    """One foreground probability from a (K, X, Y, Z) class probability map.

    ``p_target / (p_target + max of the other classes)``: above 0.5 exactly where ``target``
    is the arg-max class (ties count as not), so thresholding it gives the automatic model's label.

    Returns:
        (X, Y, Z) float tensor in [0, 1].
    """
    if softmax.ndim != 4 or not 0 <= target < softmax.shape[0]:
        raise ValueError(f"softmax must be (K, X, Y, Z) with class {target}, got shape {tuple(softmax.shape)}")
    others = torch.cat([softmax[:target], softmax[target + 1:]]).amax(dim=0)
    p = softmax[target]
    return p / torch.clamp(p + others, min=1e-12)


def refinement_box(
    shape: Sequence[int],
    clicks: Sequence[Click],
    previous: torch.Tensor | None = None,
    spacing: Sequence[float] = MODEL_SPACING,
    margin_mm: float = EVAL_MARGIN_MM,
    max_window: Sequence[int] = MAX_WINDOW,
    near_mm: float | None = NEAR_CLICKS_MM,
) -> tuple[slice, slice, slice]:
    """The box (three slices, X, Y, Z; sides multiples of 8) of the model-space grid the refinement net sees.

    As training crops around the target, inference crops around what stands for it: every
    click and the previous answer's foreground (``> 0.5``) within ``near_mm`` of the clicks'
    box (None: all of it), grown by ``margin_mm`` (:func:`lib.two_stage.transforms.target_box`).
    The clicks say which structure is being corrected: stage 1's false positives elsewhere in a
    large study are not refined (they stay as they were) and do not stretch the box. A side
    longer than ``max_window`` is cut to ``max_window`` centred on the clicks; the box may reach
    past the grid (padded there).
    """
    shape = tuple(int(n) for n in shape)
    region = full_box(shape)
    if near_mm is not None and clicks:
        region = around_points([c.index for c in clicks], [math.ceil(near_mm / s) for s in spacing], shape)
    around = np.zeros([b.stop - b.start for b in region], dtype=bool)
    if previous is not None:
        around |= np.asarray(previous[region]) > 0.5
    for c in clicks:
        around[tuple(i - b.start for i, b in zip(c.index, region))] = True
    if not around.any():
        return pad_box(shape)
    box = list(target_box(around, spacing, margin_mm, shift=[b.start for b in region]))
    points = np.array([c.index for c in clicks]) if clicks else np.argwhere(around)
    centre = (points.min(axis=0) + points.max(axis=0) + 1) // 2
    for axis, m in enumerate(max_window):
        if box[axis].stop - box[axis].start > m:
            start = int(centre[axis]) - m // 2
            box[axis] = slice(start, start + m)
    return tuple(box)  # type: ignore[return-value]


def refinement_input(
    image: torch.Tensor, previous: torch.Tensor, clicks: Sequence[Click], box: Sequence[slice] | None = None,
    sigma: Sequence[float] = SIGMA_VOXELS,
) -> torch.Tensor:
    """The refinement net's input for one box: (C + 3, *box size) float32.

    Args:
        image: (C, X, Y, Z) model-space image.
        previous: (X, Y, Z) previous probability (possibly a dropped 0.5 mask).
        clicks: model-space clicks; those outside the box are left out.
        box: three slices whose sizes are multiples of 8; default the whole grid padded.
        sigma: click map sigma, voxels.

    Channels: image (edge-padded), previous (0-padded), positive map, negative map.
    """
    box = tuple(box) if box is not None else pad_box(image.shape[1:])
    size = [b.stop - b.start for b in box]
    if any(n % SIZE_DIVISOR for n in size):
        raise ValueError(f"box size {size} must be multiples of {SIZE_DIVISOR}")
    start = [b.start for b in box]
    local = [Click(tuple(v - s for v, s in zip(c.index, start)), c.positive) for c in clicks]  # type: ignore[arg-type]
    maps = torch.from_numpy(click_maps(local, size, sigma)).to(image.device)
    return torch.cat([
        crop_padded(image.float(), box, "replicate"),
        crop_padded(previous[None].float(), box, "constant", 0.0),
        maps,
    ])


def paste(previous: torch.Tensor, values: torch.Tensor, box: Sequence[slice]) -> torch.Tensor:
    """``previous`` with the part of ``box`` inside the grid replaced by ``values`` (box-sized)."""
    out = previous.clone()
    inner = tuple(slice(max(b.start, 0), min(b.stop, n)) for b, n in zip(box, previous.shape))
    local = tuple(slice(i.start - b.start, i.stop - b.start) for i, b in zip(inner, box))
    out[inner] = values[local].to(out.dtype)
    return out


class TwoStageModel:
    """f_DL (stage-1 members) and f_IDL (refinement members) with Algorithm 1's two operations.

    Args:
        stage1: automatic models (3 classes); each reads the first ``in_channels`` image channels.
        refinement: refinement nets, all of one number of image channels; may be empty for
            stage 1 alone (then :meth:`refine` refuses).
        device: where they run.
        near_clicks_mm: the refinement box holds the previous answer within this of the clicks
            (:func:`refinement_box`); None: all of it (the rule before, for comparison).
    """

    def __init__(
        self, stage1: Sequence[torch.nn.Module], refinement: Sequence[torch.nn.Module],
        device: str | torch.device = "cpu", near_clicks_mm: float | None = NEAR_CLICKS_MM,
    ) -> None:
        if not stage1:
            raise ValueError("a two-stage model needs at least one stage-1 member")
        self.device = torch.device(device)
        self.stage1 = [m.to(self.device).eval() for m in stage1]
        self.refinement = [m.to(self.device).eval() for m in refinement]
        self.near_clicks_mm = near_clicks_mm
        channels = {_in_channels(m) - GUIDANCE_CHANNELS for m in self.refinement}
        if len(channels) > 1:
            raise ValueError(f"refinement members take different numbers of image channels: {sorted(channels)}")
        self.image_channels = max(*channels, *(_in_channels(m) for m in self.stage1), 1)

    @classmethod
    def from_weights(
        cls, stage1: Sequence[str | Path], refinement: Sequence[str | Path], device: str | torch.device = "cpu",
        near_clicks_mm: float | None = NEAR_CLICKS_MM,
    ) -> TwoStageModel:
        """Members from weights files (``{"model": state_dict, ...}``; see :mod:`lib.two_stage.network`)."""
        return cls([load_stage1(p, device) for p in stage1], [load_refinement(p, device) for p in refinement], device,
                   near_clicks_mm)

    @torch.no_grad()
    def automatic(self, image: torch.Tensor) -> torch.Tensor:
        """y(0) = f_DL(x): (X, Y, Z) GTV probability of a (C, X, Y, Z) model-space image.

        Each member runs as the automatic model's infer task does (sliding 64 x 64 x 32
        windows, Gaussian-weighted); the softmax maps are averaged over members.
        """
        image = image.to(self.device).float()
        total = None
        for member in self.stage1:
            logits = stage1_inferer()(image[None, : _in_channels(member)], member)[0]
            softmax = torch.softmax(torch.as_tensor(logits).float(), dim=0)
            total = softmax if total is None else total + softmax
        return gtv_probability(total / len(self.stage1)).cpu()

    def refine(self, image: torch.Tensor, previous: torch.Tensor, clicks: Sequence[Click]) -> torch.Tensor:
        """y(t) = f_IDL(x, y(t-1), C(t)): (X, Y, Z) probability; ``clicks`` are ALL clicks so far (model space).

        The members' sigmoid outputs are averaged; outside the refinement box the previous
        answer stays.
        """
        return self.refine_in_box(image, previous, clicks)[0]

    @torch.no_grad()
    def refine_in_box(self, image: torch.Tensor, previous: torch.Tensor, clicks: Sequence[Click]
                      ) -> tuple[torch.Tensor, tuple[slice, slice, slice]]:
        """:meth:`refine` and the refinement box (model voxels; it may reach past the grid):
        outside it the answer is ``previous``."""
        if not clicks:
            raise ValueError("refinement needs at least one click")
        if not self.refinement:
            raise ValueError("this model has no refinement member (stage 1 alone)")
        box = refinement_box(image.shape[1:], clicks, previous, near_mm=self.near_clicks_mm)
        inputs = refinement_input(image.to(self.device), previous.to(self.device), clicks, box)[None]
        total = None
        for member in self.refinement:
            p = torch.sigmoid(forward(member, inputs[:, : _in_channels(member)]))[0, 0]
            total = p if total is None else total + p
        return paste(previous.cpu().float(), (total / len(self.refinement)).cpu(), box), box


def _in_channels(network: torch.nn.Module) -> int:
    """The number of input channels a network takes."""
    value = getattr(network, "in_channels", None)
    if isinstance(value, int):
        return value
    first = next(m for m in network.modules() if isinstance(m, torch.nn.Conv3d))
    return int(first.in_channels)


@dataclass(frozen=True, eq=False)
class SessionState:
    """Where a session stands: the last answer and the clicks it was made with.

    Attributes:
        answer: (X', Y', Z') float32 model-space probability (y(t)).
        clicks: the clicks of y(t), voxel indices of the INPUT image, in order; () for y(0).
        automatic: stage 1's answer y(0) of the same image (kept: a session restarted with new
            clicks needs no second stage-1 pass).
        base: the answer y(t) was refined from (y(t-1), y(0) or an uploaded label's), or None.
        box: the refinement box (model voxels): outside it ``answer`` equals ``base``.
        label: y(t) on the input grid as ``(mask, boxes)`` (:meth:`PreparedImage.to_input_label_boxes`)
            once a server has made it; None before.
    """

    answer: torch.Tensor
    clicks: tuple[Click, ...]
    automatic: torch.Tensor
    base: torch.Tensor | None = None
    box: tuple[slice, slice, slice] | None = None
    label: tuple[np.ndarray, list] | None = None

    @property
    def nbytes(self) -> int:
        """Memory held, bytes (for :class:`lib.session_cache.SessionCache`'s bound)."""
        tensors = [self.answer, self.automatic] + ([self.base] if self.base is not None else [])
        label = self.label[0].nbytes if self.label is not None else 0
        return int(sum(t.element_size() * t.nelement() for t in tensors) + label)


def next_answer(
    model: TwoStageModel,
    prepared: PreparedImage,
    clicks: Sequence[Click],
    state: SessionState | None = None,
    previous: np.ndarray | None = None,
) -> SessionState:
    """One step of Algorithm 1 for a session.

    Args:
        model: the two stages.
        prepared: the image in model space (with ``model.image_channels`` channels).
        clicks: every click so far, INPUT voxel indices, in the order they were made.
        state: the session's last state, or None at its start.
        previous: (X, Y, Z) the answer the user sees, on the input grid (e.g. an uploaded
            label), to refine instead of the state's answer; None to use the state's.

    Returns:
        - no clicks: y(0), stage 1's answer (the state is reset);
        - the same clicks as ``state``: ``state`` itself (a repeated request);
        - otherwise: f_IDL(x, last, ALL clicks), where last is ``previous`` when given, else
          the state's answer when the clicks extend the state's clicks, else y(0) (a
          session whose history is lost restarts from stage 1 with all its clicks).

    Raises:
        ValueError: a click outside the image, or a ``previous`` of the wrong shape.
    """
    clicks = tuple(clicks)
    if clicks:
        prepared.check_clicks(clicks)
    automatic = state.automatic if state is not None else model.automatic(prepared.image)
    if not clicks:
        return SessionState(automatic, (), automatic)
    if state is not None and state.clicks == clicks and previous is None:
        return state
    if previous is not None:
        last = to_model_grid(prepared, previous)
    elif state is not None and state.clicks == clicks[: len(state.clicks)]:
        last = state.answer
    else:
        last = automatic
    answer, box = model.refine_in_box(prepared.image, last, prepared.clicks_to_model(clicks))
    return SessionState(answer, clicks, automatic, last, box)


__all__ = [
    "MAX_WINDOW",
    "NEAR_CLICKS_MM",
    "SessionState",
    "TwoStageModel",
    "gtv_probability",
    "next_answer",
    "paste",
    "refinement_box",
    "refinement_input",
]
