"""Masked Dice + cross-entropy: annotated voxels only."""

from __future__ import annotations

import pytest
import torch
from monai.losses import DiceCELoss

from lib.online.loss import masked_dice_ce


def _inputs(seed: int = 0, shape=(2, 3, 8, 8, 4)):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=generator, requires_grad=True)
    target = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=generator)
    annotated = torch.rand((shape[0], *shape[2:]), generator=generator) < 0.3
    return logits, target, annotated


def test_equals_monai_dice_ce_when_everything_is_annotated():
    logits, target, _ = _inputs()
    expected = DiceCELoss(to_onehot_y=True, softmax=True)(logits, target[:, None])
    got = masked_dice_ce(logits, target, torch.ones_like(target, dtype=torch.bool))
    torch.testing.assert_close(got, expected)


def test_unannotated_voxels_get_exactly_zero_gradient_and_do_not_change_the_loss():
    logits, target, annotated = _inputs()
    loss = masked_dice_ce(logits, target, annotated)
    loss.backward()
    outside = ~annotated[:, None].expand_as(logits)
    assert torch.count_nonzero(logits.grad[outside]) == 0
    assert torch.count_nonzero(logits.grad[~outside]) > 0
    # Other logits and targets where not annotated: the same loss.
    changed_logits = torch.where(outside, torch.randn_like(logits) * 10, logits.detach())
    changed_target = torch.where(annotated, target, (target + 1) % 3)
    torch.testing.assert_close(masked_dice_ce(changed_logits, changed_target, annotated), loss.detach())
    # ...but a changed target where annotated changes it.
    assert float(masked_dice_ce(logits, (target + 1) % 3, annotated)) != pytest.approx(float(loss))


def test_a_batch_element_without_annotation_is_left_out():
    logits, target, annotated = _inputs()
    annotated[1] = False
    alone = masked_dice_ce(logits[:1], target[:1], annotated[:1])
    torch.testing.assert_close(masked_dice_ce(logits, target, annotated), alone)


def test_nothing_annotated_gives_zero_and_a_usable_graph():
    logits, target, annotated = _inputs()
    loss = masked_dice_ce(logits, target, torch.zeros_like(annotated))
    assert float(loss) == 0.0
    loss.backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_rejects_mismatched_shapes():
    logits, target, annotated = _inputs()
    with pytest.raises(ValueError, match="B, C, X, Y, Z"):
        masked_dice_ce(logits, target[:, :4], annotated)
