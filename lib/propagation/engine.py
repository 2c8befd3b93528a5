"""Slice-edit propagation on the user's image grid: the request in, the whole 3D label out.

A request is the user's current label (X, Y, Z) on the image's grid, containing the slices
they redrew, and which slices those are (indices along ``axis`` of the image grid; 2 is
axial for an axially stored image). The uploaded label is the base: the answer is that label
changed where the edits give a reason, by one of three paths (:mod:`lib.propagation.correct`):

- ``network`` (the label is the network's own view, the paper's setting): inside the
  propagation window (below), the split network's answer after the edits
  (:func:`lib.propagation.propagate.propagate_edits`);
- ``correction`` (the label came from elsewhere): the label moved by the edits'
  displacements (:mod:`lib.propagation.shape`) and, near the edits, overruled where the
  updated network is confident and the edits support the change
  (:func:`lib.propagation.correct.supported_changes`);
- ``fallback`` (the guards: the feature update did not fit an edit, or the edits support
  under half of the network's changes): the label moved by the edits' displacements alone.

In every path the edited slices are exactly as the user drew them and the label outside the
window is the uploaded one (the displacements move the edited structure only, which the
window holds). With ``correction=None`` the ``network`` path always answers (the paper's
method as evaluated before the user's label became the base).

The window is a box of the model-space image (RAS, 3 x 3 x 6 mm, the automatic model's
space) around the uploaded label's foreground and the edits: the training patch size
(64 x 64 x 32) or, for a larger structure, the smallest multiple of 8 holding it plus a
margin. The network's InstanceNorm sees a window like the ones it was trained on.

Edited voxels in model space: a model voxel belongs to edited slice ``s`` when its centre,
in input index coordinates, lies within half a model voxel of the slice plane along
``axis`` (at least half an input slice); its class is the uploaded label's at that centre
moved onto the plane. This holds for any orientation and any slice thickness, thin input
slices included. Near voxels: within ``near_slices`` input slices more (the paper's
sub-volume is the edited slice and 4 neighbours: ``near_slices = 2``).

Components the user never pointed at are dropped (``keep_connected``, default on): a class's
26-connected component in the answer is kept only if it overlaps that class in the uploaded
label (which holds the edited slices). The feature update can light up blobs far from the
structure; the user asked for neither them nor anything near them.

Features ``f`` of a window are computed once and kept in a session cache: a new edit on the
same image never re-runs the front. The aggregation state after a request's edits is kept
too: a request repeating those edits (same slices, drawn the same) and adding one more only
runs the new one. Requests stay self-contained (every edit so far is sent); the cache only
saves work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass

import cc3d
import numpy as np
import torch

from lib.evaluation.protocol import spacing_of
from lib.imaging.boxes import Box
from lib.imaging.prepare import PreparedImage
from lib.propagation.correct import (
    CorrectionSettings,
    PathChoice,
    choose_path,
    foreground_agreement,
    label_changes,
    network_changes,
    paste_slices,
    redrawn_classes,
    shape_corrected,
    slab,
    supported_changes,
    supported_path,
)
from lib.propagation.fusion import FusionModule
from lib.propagation.propagate import NEAR_RULES, PropagationState, WindowEdit, base_probabilities, propagate_edits
from lib.propagation.split import SplitFeatures, SplitNetwork
from lib.propagation.update import UpdateReport, UpdateSettings
from lib.segmentation.transforms import TRAIN_PATCH, inferer
from lib.session_cache import SessionCache

#: Model voxels of margin around the structure when the window must grow beyond TRAIN_PATCH.
WINDOW_MARGIN = 4
#: Window sizes are multiples of this (three stride-2 levels in both supported networks).
SIZE_MULTIPLE = 8
#: Image value (after windowing to [-1, 1]) of padding when the image is smaller than a window.
PAD_VALUE = -1.0


@dataclass(frozen=True, eq=False)
class SliceEdits:
    """A checked request on the image grid.

    Attributes:
        label: (X, Y, Z) uint8, the user's current label with the edited slices in it.
        slices: indices of the edited slices along ``axis``, in the order they were edited.
        axis: 0, 1 or 2, the image-grid axis the slices are taken across.
        classes: the label values the user redrew, as the client says (the Slicer module compares
            the label with its last answer); None: estimated from the label
            (:func:`lib.propagation.correct.redrawn_classes`). Only these classes are moved.
    """

    label: np.ndarray
    slices: tuple[int, ...]
    axis: int = 2
    classes: tuple[int, ...] | None = None


def check_edits(
    label: np.ndarray,
    slices: Sequence[int],
    axis: int,
    image_shape: Sequence[int],
    classes: Sequence[int] | None = None,
    allowed: Collection[int] | None = None,
) -> SliceEdits:
    """A :class:`SliceEdits`, or ValueError naming what is wrong.

    Args:
        label: the uploaded label; must be (X, Y, Z) like the image, non-negative integers.
        slices: one or more distinct integer indices along ``axis``, inside the image.
        axis: 0, 1 or 2.
        image_shape: (X, Y, Z) of the image.
        classes: the redrawn label values (distinct positive integers) or None (estimated).
        allowed: the label values ``classes`` may name (the app's labels); None: any positive one.
    """
    shape = tuple(int(n) for n in image_shape)
    label = np.asarray(label)
    if label.ndim == 4 and label.shape[0] == 1:
        label = label[0]
    if label.shape != shape:
        raise ValueError(f"label shape {list(label.shape)} differs from the image's {list(shape)}")
    if not (np.issubdtype(label.dtype, np.integer) or np.all(np.mod(label, 1) == 0)) or label.min(initial=0) < 0:
        raise ValueError("label must hold non-negative integer class values")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    if isinstance(slices, (str, bytes)) or not isinstance(slices, Sequence) or not slices:
        raise ValueError(f"slices must be a non-empty list of slice indices, got {slices!r}")
    checked: list[int] = []
    for s in slices:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"slice index {s!r} is not an integer")
        if not 0 <= s < shape[axis]:
            raise ValueError(f"slice {s} is outside the image: axis {axis} has slices 0..{shape[axis] - 1}")
        if s in checked:
            raise ValueError(f"slice {s} is listed twice")
        checked.append(int(s))
    return SliceEdits(label.astype(np.uint8), tuple(checked), int(axis), _checked_classes(classes, allowed))


def _checked_classes(classes: Sequence[int] | None, allowed: Collection[int] | None) -> tuple[int, ...] | None:
    """``classes`` as a tuple of distinct label values, or ValueError naming the bad one."""
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes:
        raise ValueError(f"classes must be a non-empty list of label values, got {classes!r}")
    checked: list[int] = []
    for value in classes:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 < value < 256:
            raise ValueError(f"class {value!r} is not a label value (an integer 1..255)")
        if allowed is not None and value not in allowed:
            raise ValueError(f"class {value} is not one of this app's labels {sorted(allowed)}")
        if value in checked:
            raise ValueError(f"class {value} is listed twice")
        checked.append(int(value))
    return tuple(checked)


@dataclass(frozen=True, eq=False)
class PropagationAnswer:
    """The answer on the image grid, and how it was made.

    Attributes:
        label: (X, Y, Z) uint8 on the image's grid.
        window: the model-space box propagated.
        reports: one :class:`UpdateReport` per edit.
        features_cached: whether the window's features came from the cache.
        resumed_edits: edits taken over from an earlier request with the same first edits.
        choice: the path that answered and why (:class:`lib.propagation.correct.PathChoice`).
        changes: what the answer changed in the uploaded label
            (:func:`lib.propagation.correct.label_changes`).
        classes: the redrawn classes the correction moved (empty on the network path).
        classes_from: ``"request"`` (the client named them) or ``"estimated"`` (from the label).
    """

    label: np.ndarray
    window: Box
    reports: tuple[UpdateReport, ...]
    features_cached: bool
    resumed_edits: int = 0
    choice: PathChoice = PathChoice("network", "", float("nan"))
    changes: dict | None = None
    classes: tuple[int, ...] = ()
    classes_from: str = ""


class PropagationEngine:
    """Slice-edit propagation for one split network (and optionally its fusion module).

    Args:
        network: a trained MONAI UNet or SegResNet in model space (eval mode is set here).
        level: decoder level of the split (1, 2 or 3; the paper's best is 2).
        fusion: a trained fusion module for this network and level; None: direct update.
        settings: how features are optimised.
        near_slices: image slices on each side of an edit answered by the update.
        near_rule: how near slices are answered as edits accumulate
            (:data:`lib.propagation.propagate.NEAR_RULES`; ``"paper"``: by the first edit near them).
        keep_connected: drop answer components that overlap nothing of their class in the
            uploaded label (module doc).
        cache: where window features are kept; None keeps none.
        tag: names the network in cache keys (e.g. its weights file and time).
        correction: how the path is chosen and the user's label corrected
            (:mod:`lib.propagation.correct`); None: always the network path.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        level: int = 2,
        fusion: FusionModule | None = None,
        settings: UpdateSettings = UpdateSettings(),
        near_slices: int = 2,
        cache: SessionCache | None = None,
        tag: Hashable = "",
        near_rule: str = "paper",
        keep_connected: bool = True,
        correction: CorrectionSettings | None = CorrectionSettings(),
    ) -> None:
        if near_rule not in NEAR_RULES:
            raise ValueError(f"near_rule must be one of {NEAR_RULES}, got {near_rule!r}")
        self.near_rule, self.keep_connected = near_rule, keep_connected
        self.split = SplitNetwork(network.eval(), level)
        self.fusion = fusion.eval() if fusion is not None else None
        self.settings, self.near_slices, self.cache, self.tag = settings, near_slices, cache, tag
        self.correction = correction

    def propagate(self, prepared: PreparedImage, edits: SliceEdits, key: Hashable | None = None) -> PropagationAnswer:
        """The whole label after the edits (see the module doc).

        Args:
            prepared: the image in model space (3 x 3 x 6 mm, ``prepare_file(path, 3)``).
            edits: the checked request (:func:`check_edits`) on ``prepared``'s input grid.
            key: the image's cache key (e.g. ``file_key(path)``); None: no caching.

        Raises:
            ValueError: nothing to propagate (empty edits on an empty label).
        """
        if prepared.dims != 3:
            raise ValueError("slice-edit propagation needs the 3D model space (prepare with dims=3)")
        if tuple(edits.label.shape) != tuple(prepared.input_shape):
            raise ValueError(f"label shape {list(edits.label.shape)} differs from the image's {list(prepared.input_shape)}")
        grid = InputCoordinates(prepared)
        window = self.choose_window(prepared, grid, edits)
        features, cached = self._features(prepared, window, key)
        kept = [(s, self._window_edit(grid, window, edits, s)) for s in edits.slices]
        kept = [(s, e) for s, e in kept if bool(e.edited.any())]  # others are pasted only
        fingerprints = tuple(_fingerprint(edits, s) for s, _ in kept)
        resume = self._resumable(key, window, fingerprints)
        with torch.enable_grad():
            result = propagate_edits(
                self.split, features, [e for _, e in kept], self.fusion, self.settings, resume, self.near_rule
            )
        if key is not None and self.cache is not None and result.state is not None:
            self.cache.put(self._state_key(key, window), (fingerprints, result.state))
        on_input = self._input_probabilities(prepared, window, result.probabilities)  # once: both paths read it
        choice, label = PathChoice("network", "the paper's method (no correction settings)", float("nan")), None
        classes, classes_from = (), ""
        if self.correction is not None:
            classes, classes_from = edited_classes(prepared, edits)
            choice, label = self._correct(prepared, window, key, on_input, edits, result.reports, classes)
        if label is None:  # the network path: its answer only
            label = self._to_input_grid(prepared, window, result.probabilities, edits, on_input=on_input)
        return PropagationAnswer(
            label, window, result.reports, cached, resume.done if resume is not None else 0, choice,
            label_changes(edits.label, label, edits.axis), classes if choice.path != "network" else (), classes_from,
        )

    def _correct(
        self,
        prepared: PreparedImage,
        window: Box,
        key: Hashable | None,
        on_input: tuple[np.ndarray, np.ndarray],
        edits: SliceEdits,
        reports: Sequence[UpdateReport],
        classes: Sequence[int],
    ) -> tuple[PathChoice, np.ndarray | None]:
        """The path (:func:`lib.propagation.correct.choose_path`) and, unless it is the network
        path, its answer on the input grid. ``on_input``: the updated window probabilities on the
        input grid and the window's cover (:meth:`_input_probabilities`); ``classes``: the
        redrawn classes (:func:`edited_classes`), the only ones moved.

        "The label is the network's own" is judged against what the network SERVES for this
        image (:meth:`served_probabilities`: its sliding-window answer on the whole image, as
        the automatic model answers), not its one-pass answer on the window: the two differ by
        up to 0.2 DSC (validation and held-out phantoms; the network was trained on patches),
        which sent the network's own prediction down the correction path."""
        assert self.correction is not None
        settings = self.correction
        updated, covered = on_input
        served_p, _ = self._input_probabilities(prepared, window, self._served_window(prepared, window, key))
        unedited = np.where(covered, served_p.argmax(0), edits.label).astype(np.uint8)
        spacing = spacing_of(prepared.input_affine)
        unedited_slices = covered & ~slab(edits.label.shape, edits.axis, edits.slices, 0)
        agreement = foreground_agreement(edits.label, unedited, classes, unedited_slices)
        choice = choose_path(reports, agreement, settings.agree_at, settings.fit_error, settings.unknown_error)
        if choice.path == "network":
            return choice, None
        label = shape_corrected(edits.label, edits.axis, edits.slices, spacing, settings.reach, classes)
        if choice.path == "correction":
            answer = np.where(covered, updated.argmax(0), edits.label).astype(np.uint8)
            near = covered & slab(edits.label.shape, edits.axis, edits.slices, self.near_slices)
            near &= ~slab(edits.label.shape, edits.axis, edits.slices, 0)  # the drawings stand as drawn
            candidates = network_changes(label, answer, updated.max(0), near, classes, settings.confidence)
            support = supported_changes(candidates, label, edits.label, edits.axis, edits.slices, self.near_slices,
                                        classes, settings.support, answer)
            choice = supported_path(choice, support)
        if choice.path == "correction":
            label = label.copy()
            label[support.accepted] = answer[support.accepted]
            if self.keep_connected:
                label = drop_unanchored_components(label, edits.label)
        return choice, paste_slices(label, edits.label, edits.axis, edits.slices)

    def served_probabilities(self, prepared: PreparedImage, key: Hashable | None = None) -> torch.Tensor:
        """(C, X', Y', Z') softmax of the network's sliding-window answer on the whole model-space
        image (the automatic model's own inference: :func:`lib.segmentation.transforms.inferer`);
        computed once per image when ``key`` is given (it does not depend on the edits)."""

        def compute() -> torch.Tensor:
            with torch.no_grad():
                logits = inferer()(prepared.image.as_tensor()[None].float(), self.split.network)
            return torch.softmax(torch.as_tensor(logits)[0], 0)

        if key is None or self.cache is None:
            return compute()
        return self.cache.get_or_load((key, "served", self.tag, id(self.split.network)), compute)

    def _served_window(self, prepared: PreparedImage, window: Box, key: Hashable | None) -> torch.Tensor:
        """:meth:`served_probabilities` cut to ``window`` (zeros where it passes the image's border)."""
        served = self.served_probabilities(prepared, key)
        out = torch.zeros((served.shape[0], *[b.stop - b.start for b in window]), dtype=served.dtype)
        clipped = _clip_box(window, prepared.spatial_shape)
        inner = tuple(slice(0, b.stop - b.start) for b in clipped)
        out[(slice(None), *inner)] = served[(slice(None), *clipped)]
        return out

    def _input_probabilities(
        self, prepared: PreparedImage, window: Box, probabilities: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray]:
        """Window probabilities (C, X', Y', Z') -> ((C, X, Y, Z) on the input grid, (X, Y, Z) bool covered)."""
        region = prepared.input_region(_clip_box(window, prepared.spatial_shape))
        maps = [_paste(np.asarray(p), window, prepared.spatial_shape) for p in probabilities]
        maps.append(_paste(np.ones(probabilities.shape[1:], np.float32), window, prepared.spatial_shape))
        on_input = np.stack([prepared.to_input_grid(m, region) for m in maps])
        return on_input[:-1], on_input[-1] > 0.5

    def _state_key(self, key: Hashable, window: Box) -> tuple:
        settings = tuple(vars(self.settings).values())
        return (key, "propagation_state", self.tag, self.split.level, id(self.fusion), settings, self.near_rule,
                self.near_slices, _box_key(window))

    def _resumable(self, key: Hashable | None, window: Box, fingerprints: tuple) -> PropagationState | None:
        """The cached state of an earlier request whose edits are the first of these, if any."""
        if key is None or self.cache is None:
            return None
        entry = self.cache.get(self._state_key(key, window))
        if entry is None:
            return None
        done, state = entry
        return state if 0 < len(done) <= len(fingerprints) and fingerprints[: len(done)] == done else None

    def base(self, prepared: PreparedImage, edits: SliceEdits, key: Hashable | None = None) -> np.ndarray:
        """The unedited network's answer on the same window, on the input grid (for comparison)."""
        grid = InputCoordinates(prepared)
        window = self.choose_window(prepared, grid, edits)
        features, _ = self._features(prepared, window, key)
        return self._to_input_grid(prepared, window, base_probabilities(self.split, features), None, edits.label)

    def choose_window(self, prepared: PreparedImage, grid: InputCoordinates, edits: SliceEdits) -> Box:
        """The model-space box around the edited structures (see the module doc).

        The structures are the classes drawn on, or present in the label on, the edited
        slices (all the label's classes when those slices are empty). The box is
        ``TRAIN_PATCH`` unless they need more, and never larger than the image (rounded
        down to a multiple of 8) unless the image is smaller than ``TRAIN_PATCH``.

        Raises:
            ValueError: the edited slices and the whole label are empty.
        """
        label_model = grid.sample(edits.label)
        edited = [grid.edited(edits.label, edits.axis, s, 0) for s in edits.slices]
        classes = set(np.unique(np.concatenate([t[m] for m, t in edited]))) - {0}
        if not classes:
            classes = set(np.unique(label_model)) - {0}
        foreground = np.isin(label_model, list(classes))
        for mask, target in edited:
            foreground |= mask & np.isin(target, list(classes))
        if not foreground.any():
            if edits.label.any():  # foreground too thin to reach a model voxel centre
                raise ValueError("the label's foreground is too small to propagate at 3 x 3 x 6 mm")
            raise ValueError(
                f"nothing to propagate: the edited slices {list(edits.slices)} are empty and so is the rest of the label"
            )
        points = np.argwhere(foreground)
        low, high = points.min(0), points.max(0) + 1
        patch, shape = np.asarray(TRAIN_PATCH), np.asarray(prepared.spatial_shape)
        cap = np.maximum(patch, shape // SIZE_MULTIPLE * SIZE_MULTIPLE)
        size = np.minimum(np.maximum(patch, _round_up(high - low + 2 * WINDOW_MARGIN, SIZE_MULTIPLE)), cap)
        centre = (low + high) // 2
        start = np.clip(centre - size // 2, 0, np.maximum(shape - size, 0))
        return tuple(slice(int(a), int(a + n)) for a, n in zip(start, size))  # type: ignore[return-value]

    def _features(self, prepared: PreparedImage, window: Box, key: Hashable | None) -> tuple[SplitFeatures, bool]:
        """The window's front features, from the cache when ``key`` is given and they are there."""

        def compute() -> SplitFeatures:
            return self.split.front(_window_image(prepared, window)[None])

        if key is None or self.cache is None:
            return compute(), False
        full_key = (key, "propagation", self.tag, self.split.level, _box_key(window))
        cached = full_key in self.cache
        return self.cache.get_or_load(full_key, compute), cached

    def _window_edit(self, grid: InputCoordinates, window: Box, edits: SliceEdits, s: int) -> WindowEdit:
        edited, target = grid.edited(edits.label, edits.axis, s, 0, window)
        near, _ = grid.edited(edits.label, edits.axis, s, self.near_slices, window)
        return WindowEdit(torch.from_numpy(target.astype(np.int64)), torch.from_numpy(edited), torch.from_numpy(near))

    def _to_input_grid(
        self,
        prepared: PreparedImage,
        window: Box,
        probabilities: torch.Tensor,
        edits: SliceEdits | None,
        label: np.ndarray | None = None,
        on_input: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Window probabilities (C, X, Y, Z) -> the input grid; outside the window the uploaded label.
        ``on_input``: :meth:`_input_probabilities` of ``probabilities`` when already computed."""
        uploaded = edits.label if edits is not None else label
        assert uploaded is not None
        on_input, covered = on_input if on_input is not None else self._input_probabilities(prepared, window, probabilities)
        answer = np.where(covered, on_input.argmax(0), uploaded).astype(np.uint8)
        if edits is not None and self.keep_connected:
            answer = drop_unanchored_components(answer, uploaded)
        if edits is not None:
            answer = paste_slices(answer, edits.label, edits.axis, edits.slices)
        return answer


def edited_classes(prepared: PreparedImage, edits: SliceEdits) -> tuple[tuple[int, ...], str]:
    """(the classes the user redrew, where that came from): the request's when it names them
    (``"request"``), else estimated from the label (``"estimated"``,
    :func:`lib.propagation.correct.redrawn_classes`: a structure that only continues its shape
    on an edited slice counts as not redrawn; the estimate can take a structure whose shape
    changes fast along the axis, e.g. the heart, for a redrawn one)."""
    if edits.classes is not None:
        return tuple(edits.classes), "request"
    return tuple(redrawn_classes(edits.label, edits.axis, edits.slices, spacing_of(prepared.input_affine))), "estimated"


def drop_unanchored_components(answer: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """``answer`` with each class's 26-connected components that overlap no voxel of that
    class in ``anchor`` set to 0 (background).

    Args:
        answer: (X, Y, Z) uint8 class label.
        anchor: (X, Y, Z) integer class label on the same grid (the user's uploaded label).
    """
    out = answer.copy()
    for value in np.unique(answer):
        if value == 0:
            continue
        components = cc3d.connected_components(answer == value, connectivity=26)
        anchored = np.unique(components[(anchor == value) & (components > 0)])
        out[(components > 0) & ~np.isin(components, anchored)] = 0
    return out


class InputCoordinates:
    """Where each model-space voxel centre lies on the input grid (continuous (i, j, k))."""

    def __init__(self, prepared: PreparedImage) -> None:
        to_input = np.linalg.inv(prepared.input_affine) @ np.asarray(prepared.image.affine, dtype=np.float64)
        self.shape = prepared.spatial_shape
        self.input_shape = prepared.input_shape
        index = np.indices(self.shape, dtype=np.float64).reshape(3, -1)
        self.coords = (to_input[:3, :3] @ index + to_input[:3, 3:]).reshape(3, *self.shape)
        #: half the extent of one model voxel along each input axis, in input voxels (>= 0.5)
        self.half_extent = np.maximum(0.5, 0.5 * np.abs(to_input[:3, :3]).max(axis=1))

    def _nearest(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rounded int indices, inside-the-input mask) of continuous input coordinates (3, ...)."""
        rounded = np.rint(coords).astype(np.int64)
        inside = np.all((rounded >= 0) & (rounded < np.asarray(self.input_shape).reshape(3, *[1] * (coords.ndim - 1))), 0)
        for a in range(3):
            np.clip(rounded[a], 0, self.input_shape[a] - 1, out=rounded[a])
        return rounded, inside

    def sample(self, volume: np.ndarray, box: Box | None = None) -> np.ndarray:
        """The input-grid ``volume`` at every model voxel centre (nearest; 0 outside the input)."""
        coords = self.coords if box is None else _take_box(self.coords, box)
        rounded, inside = self._nearest(coords)
        return np.where(inside, volume[rounded[0], rounded[1], rounded[2]], 0)

    def edited(
        self, label: np.ndarray, axis: int, s: int, near: int, box: Box | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(mask, classes) of model voxels within ``near`` input slices (plus half a model voxel)
        of slice ``s``; classes are the label's on the slice plane itself."""
        coords = self.coords if box is None else _take_box(self.coords, box)
        mask = np.abs(coords[axis] - s) <= self.half_extent[axis] + near
        on_plane = coords.copy()
        on_plane[axis] = s
        rounded, inside = self._nearest(on_plane)
        mask &= inside
        target = np.where(mask, label[rounded[0], rounded[1], rounded[2]], 0)
        return mask, target


def _box_key(box: Box) -> tuple:
    return tuple((b.start, b.stop) for b in box)


def _fingerprint(edits: SliceEdits, s: int) -> tuple:
    """An edit as drawn: its axis, slice and the SHA-1 of the label's slice."""
    where = [slice(None)] * 3
    where[edits.axis] = s
    return (edits.axis, s, hashlib.sha1(np.ascontiguousarray(edits.label[tuple(where)]).tobytes()).hexdigest())


def _take_box(coords: np.ndarray, box: Box) -> np.ndarray:
    """(3, ...) coordinates of the box's voxels; voxels beyond the grid (padding) get -1e6 (outside)."""
    shape = coords.shape[1:]
    size = [b.stop - b.start for b in box]
    out = np.full((3, *size), -1e6)
    inner = tuple(slice(0, min(b.stop, n) - b.start) for b, n in zip(box, shape))
    out[(slice(None), *inner)] = coords[(slice(None), *_clip_box(box, shape))]
    return out


def _clip_box(box: Box, shape: Sequence[int]) -> Box:
    return tuple(slice(b.start, min(b.stop, n)) for b, n in zip(box, shape))  # type: ignore[return-value]


def _window_image(prepared: PreparedImage, window: Box) -> torch.Tensor:
    """(1, X, Y, Z) image of the window, padded with ``PAD_VALUE`` beyond the image."""
    size = [b.stop - b.start for b in window]
    out = torch.full((1, *size), PAD_VALUE, dtype=torch.float32)
    clipped = _clip_box(window, prepared.spatial_shape)
    inner = tuple(slice(0, b.stop - b.start) for b in clipped)
    out[(slice(None), *inner)] = prepared.image.as_tensor()[(slice(None), *clipped)].float()
    return out


def _paste(values: np.ndarray, window: Box, shape: Sequence[int]) -> np.ndarray:
    """A window's (X, Y, Z) values placed into a zero volume of ``shape`` (padding dropped)."""
    out = np.zeros(tuple(shape), np.float32)
    clipped = _clip_box(window, shape)
    inner = tuple(slice(0, b.stop - b.start) for b in clipped)
    out[clipped] = values[inner]
    return out


def _round_up(values: np.ndarray, multiple: int) -> np.ndarray:
    return (np.ceil(values / multiple) * multiple).astype(int)


__all__ = ["InputCoordinates", "drop_unanchored_components", "PropagationAnswer", "PropagationEngine", "SliceEdits", "check_edits"]
