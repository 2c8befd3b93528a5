"""Propagate one or more slice edits through a split network, in the network's own space.

For edits e_1..e_k (in order), following the paper:

1. ``f'_j`` = ``f'_{j-1}`` (``f'_0 = f``) optimised on ALL edits so far (backpropagation for
   activations, :mod:`lib.propagation.update`).
2. Near voxels of e_j (its slice and the neighbours, the caller's ``near`` mask) take
   ``back(f'_j)``, unless an earlier edit's near voxels already claimed them (the paper's
   rule, ``near_rule="paper"``). With ``near_rule="latest"`` every voxel near any edit so far
   takes ``back(f'_j)`` of the newest update instead: ``f'_j`` is optimised on all the edits
   so far, so it knows what the later edits drew next to an earlier one's neighbours.
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

#: How near voxels are answered when edits accumulate (module doc, step 2).
NEAR_RULES: tuple[str, ...] = ("paper", "latest")


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
class PropagationState:
    """Where the aggregation stands after the first ``done`` edits (to resume with more).

    Attributes:
        done: edits consumed.
        target, edited: (X, Y, Z) the classes drawn so far and where.
        claimed: (X, Y, Z) bool voxels already answered as near an edit.
        near_answer: (C, X, Y, Z) their answer.
        far_sum: (C, X, Y, Z) sum over edits of the far answers.
        f_updated: the feature map after the last update.
        reports: one per edit consumed.
    """

    done: int
    target: torch.Tensor
    edited: torch.Tensor
    claimed: torch.Tensor
    near_answer: torch.Tensor
    far_sum: torch.Tensor
    f_updated: torch.Tensor
    reports: tuple[UpdateReport, ...]

    @property
    def nbytes(self) -> int:
        tensors = (self.target, self.edited, self.claimed, self.near_answer, self.far_sum, self.f_updated)
        return sum(t.element_size() * t.nelement() for t in tensors)


@dataclass(frozen=True, eq=False)
class Propagation:
    """The answer on the window: (C, X, Y, Z) class probabilities, one report per edit, and the
    state to resume from when the same edits come back with more."""

    probabilities: torch.Tensor
    reports: tuple[UpdateReport, ...]
    state: PropagationState | None = None


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
    resume: PropagationState | None = None,
    near_rule: str = "paper",
) -> Propagation:
    """Class probabilities on the window after the edits (see the module doc).

    With no edit, the base network's probabilities. ``resume``: the state after the first
    ``resume.done`` of these same edits (from an earlier answer); only the rest are run.
    ``near_rule``: one of :data:`NEAR_RULES` (module doc, step 2).

    Raises:
        ValueError: an edit covering no voxel of the window (named by its position), a
            ``resume`` state with more edits than given, or an unknown ``near_rule``.
    """
    if near_rule not in NEAR_RULES:
        raise ValueError(f"near_rule must be one of {NEAR_RULES}, got {near_rule!r}")
    if not edits:
        return Propagation(base_probabilities(split, features), ())
    if resume is not None and resume.done > len(edits):
        raise ValueError(f"cannot resume after {resume.done} edits with only {len(edits)} given")
    if resume is None:
        state = PropagationState(
            0, torch.zeros_like(edits[0].target), torch.zeros_like(edits[0].edited),
            torch.zeros_like(edits[0].near), torch.empty(0), torch.empty(0), features.f, (),
        )
    else:
        state = resume
    for n in range(state.done, len(edits)):
        state = _one_edit(split, features, edits[n], n, state, fusion, settings, near_rule)
    answer = state.far_sum / state.done
    answer[:, state.claimed] = state.near_answer[:, state.claimed]
    return Propagation(answer, state.reports, state)


def _one_edit(split, features, edit, n, state, fusion, settings, near_rule) -> PropagationState:
    """The state after edit ``n`` (see the module doc's steps 1 to 3)."""
    if not bool(edit.edited.any()):
        raise ValueError(f"edit {n} covers no voxel of the region being propagated")
    target = torch.where(edit.edited, edit.target, state.target)
    edited = state.edited | edit.edited
    f_updated, report = update_features(split, state.f_updated, features.context, target, edited, settings)
    with torch.no_grad():
        updated = split.back(f_updated, features.context)[0].softmax(0)
        far = updated if fusion is None else split.back(fusion(features.f, f_updated), features.context)[0].softmax(0)
    if near_rule == "latest" or state.done == 0:
        near_answer, new_near = updated.clone(), edit.near
    else:
        near_answer, new_near = state.near_answer.clone(), edit.near & ~state.claimed
        near_answer[:, new_near] = updated[:, new_near]
    far_sum = far if state.done == 0 else state.far_sum + far
    return PropagationState(
        state.done + 1, target, edited, state.claimed | new_near, near_answer, far_sum, f_updated,
        (*state.reports, report),
    )


__all__ = ["NEAR_RULES", "Propagation", "PropagationState", "WindowEdit", "base_probabilities", "propagate_edits"]
