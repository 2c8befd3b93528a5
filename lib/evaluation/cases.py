"""Evaluation cases from phantoms: one structure's truth, optionally cropped to a region around it.

Interactive methods work on a tumour-sized region of interest (ROI): the bounding box of the
structure grown by a margin in mm on every side, clipped to the image. Cropping shifts the
voxel grid, so the affine of the crop is the original affine composed with that shift:
``affine_crop = affine @ translate(start)``, and a voxel of the crop sits at the same world
position as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from lib.evaluation.protocol import Case, spacing_of
from lib.phantom import LABELS, Phantom, generate_phantom
from lib.phantom.datastore import case_config

#: The default ROI margin around the structure, mm.
DEFAULT_MARGIN_MM = 30.0
#: Phantom seeds from here on are never used in training.
HELD_OUT_FIRST_SEED = 900


def roi_box(mask: np.ndarray, spacing: Sequence[float], margin_mm: float) -> tuple[slice, slice, slice]:
    """The bounding box of ``mask`` grown by ``margin_mm`` per side, clipped to the array.

    Args:
        mask: (X, Y, Z) bool, not empty.
        spacing: voxel size in mm along (X, Y, Z).
        margin_mm: margin on every side, mm (rounded up to whole voxels per axis).

    Returns:
        Three slices (X, Y, Z) into the array.

    Raises:
        ValueError: an empty mask or a negative margin.
    """
    if margin_mm < 0:
        raise ValueError(f"margin_mm must be >= 0, got {margin_mm}")
    voxels = np.argwhere(mask)
    if voxels.size == 0:
        raise ValueError("cannot crop around an empty mask")
    grow = np.ceil(margin_mm / np.asarray(spacing, dtype=float)).astype(int)
    lo = np.maximum(voxels.min(axis=0) - grow, 0)
    hi = np.minimum(voxels.max(axis=0) + 1 + grow, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))  # type: ignore[return-value]


def crop_case(case: Case, box: tuple[slice, slice, slice]) -> Case:
    """``case`` restricted to ``box``, with the affine moved so world positions are kept.

    Args:
        case: the full case.
        box: three slices (X, Y, Z) with unit step.
    """
    start = np.array([s.start or 0 for s in box], dtype=float)
    shift = np.eye(4)
    shift[:3, 3] = start
    return Case(
        case_id=case.case_id,
        image=np.ascontiguousarray(case.image[(slice(None), *box)]),
        truth=np.ascontiguousarray(case.truth[box]),
        spacing=case.spacing,
        affine=np.asarray(case.affine, dtype=float) @ shift,
        structure=case.structure,
    )


def case_from_phantom(
    phantom: Phantom, structure: str, case_id: str, margin_mm: float | None = DEFAULT_MARGIN_MM
) -> Case:
    """One structure of a phantom as a case, cropped to its ROI unless ``margin_mm`` is None.

    Args:
        phantom: a generated study.
        structure: a key of :data:`lib.phantom.LABELS` (``"gtv"`` or ``"heart"``).
        case_id: the case's name.
        margin_mm: ROI margin in mm, or None for the whole image.

    Raises:
        ValueError: an unknown structure, or a phantom without it.
    """
    if structure not in LABELS:
        raise ValueError(f"structure must be one of {sorted(LABELS)}, got {structure!r}")
    truth = phantom.label == LABELS[structure]
    if not truth.any():
        raise ValueError(f"case {case_id!r} has no {structure!r} voxels")
    case = Case(
        case_id=case_id,
        image=phantom.image.astype(np.float32, copy=False),
        truth=truth,
        spacing=spacing_of(phantom.affine),
        affine=np.asarray(phantom.affine, dtype=float),
        structure=structure,
    )
    if margin_mm is None:
        return case
    return crop_case(case, roi_box(truth, case.spacing, margin_mm))


def phantom_cases(
    count: int,
    first_seed: int = HELD_OUT_FIRST_SEED,
    structure: str = "gtv",
    margin_mm: float | None = DEFAULT_MARGIN_MM,
    modality: str = "ct",
    pet: bool = False,
) -> Iterator[Case]:
    """The datastore's phantoms ``first_seed .. first_seed + count - 1`` as cases, lazily.

    Configs come from :func:`lib.phantom.datastore.case_config`, so orientations cycle through
    RAS, LPS and oblique as in the datastore. Case ids are ``phantom_<seed>_<structure>``.
    """
    for seed in range(first_seed, first_seed + count):
        phantom = generate_phantom(case_config(seed, modality, pet))
        yield case_from_phantom(phantom, structure, f"phantom_{seed:04d}_{structure}", margin_mm)
