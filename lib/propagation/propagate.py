"""Propagate one or more slice edits through a split network, in the network's own space.

For edits e_1..e_k (in order), following the paper:

1. ``f'_j`` = ``f'_{j-1}`` (``f'_0 = f``) optimised on ALL edits so far (backpropagation for
   activations, :mod:`lib.propagation.update`).
2. Near voxels of e_j (its slice and the neighbours, the caller's ``near`` mask) take
   ``back(f'_j)``, unless an earlier edit's near voxels already claimed them.
3. Far voxels take the mean over j of ``back(fusion(f, f'_j))``; without a fusion module (the
   direct update) the mean of ``back(f'_j)``.

Everything here is on one window of the model-space image: tensors (X, Y, Z), with the
network's classes on dimension 0 of probabilities. Mapping from and to the user's image
grid is :mod:`lib.propagation.engine`'s business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lib.propagation.fusion import FusionModule
from lib.propagation.split import SplitFeatures, SplitNetwork
from lib.propagation.update import UpdateReport, UpdateSettings, update_features


@dataclass(frozen=True, eq=False)
class WindowEdit:
    """One edit on the window grid.

    Attributes:
        target: (X, Y, Z) int64 class the user drew, read where ``edited``.
        edited: (X, Y, Z) bool, the voxels of the edited slice.
        near: (X, Y, Z) bool, the edited slice and its neighbours (answered by the update).
    """

    target: torch.Tensor
    edited: torch.Tensor
    near: torch.Tensor


@dataclass(frozen=True, eq=False)
class Propagation:
    """The answer on the window: (C, X, Y, Z) class probabilities and one report per edit."""

    probabilities: torch.Tensor
    reports: tuple[UpdateReport, ...]


@torch.no_grad()
def base_probabilities(split: SplitNetwork, features: SplitFeatures) -> torch.Tensor:
    """(C, X, Y, Z) softmax of the unedited network on the window."""
    return split.back(features.f, features.context)[0].softmax(0)


def propagate_edits(
    split: SplitNetwork,
    features: SplitFeatures,
    edits: Sequence[WindowEdit],
    fusion: FusionModule | None = None,
    settings: UpdateSettings = UpdateSettings(),
) -> Propagation:
    """Class probabilities on the window after the edits (see the module doc).

    With no edit, the base network's probabilities.

    Raises:
        ValueError: an edit covering no voxel of the window (named by its position).
    """
    if not edits:
        return Propagation(base_probabilities(split, features), ())
    target = torch.zeros_like(edits[0].target)
    edited = torch.zeros_like(edits[0].edited)
    claimed = torch.zeros_like(edits[0].near)
    near_answer: torch.Tensor | None = None
    far_sum: torch.Tensor | None = None
    f_updated, reports = features.f, []
    for n, edit in enumerate(edits):
        if not bool(edit.edited.any()):
            raise ValueError(f"edit {n} covers no voxel of the region being propagated")
        target = torch.where(edit.edited, edit.target, target)
        edited = edited | edit.edited
        f_updated, report = update_features(split, f_updated, features.context, target, edited, settings)
        reports.append(report)
        with torch.no_grad():
            updated = split.back(f_updated, features.context)[0].softmax(0)
            far = updated if fusion is None else split.back(fusion(features.f, f_updated), features.context)[0].softmax(0)
        near_answer = updated.clone() if near_answer is None else near_answer
        new_near = edit.near & ~claimed
        near_answer[:, new_near] = updated[:, new_near]
        claimed = claimed | new_near
        far_sum = far if far_sum is None else far_sum + far
    assert far_sum is not None and near_answer is not None
    answer = far_sum / len(edits)
    answer[:, claimed] = near_answer[:, claimed]
    return Propagation(answer, tuple(reports))


__all__ = ["Propagation", "WindowEdit", "base_probabilities", "propagate_edits"]
