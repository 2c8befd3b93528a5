"""What every interactive segmenter is to the evaluation harness: a case in, a probability out.

A :class:`Case` is one image and the truth of ONE structure on its grid. An
:class:`InteractiveSegmenter` is anything with a ``name`` and a ``segment`` method: the
project's networks (DIN, 2S-ICR, Gaussian click), the baselines (random walker, graph cut)
and a live MONAI Label server alike. The harness only ever talks to this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from lib.interaction.clicks import Click


def spacing_of(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size in mm along (X, Y, Z): the lengths of the affine's first three columns.

    Args:
        affine: (4, 4) voxel index (i, j, k) -> world mm; any orientation, oblique included.
    """
    lengths = np.linalg.norm(np.asarray(affine, dtype=float)[:3, :3], axis=0)
    return float(lengths[0]), float(lengths[1]), float(lengths[2])


@dataclass(frozen=True)
class Case:
    """One evaluation case: an image and the truth of one structure.

    Attributes:
        case_id: a name unique within a run, e.g. ``"phantom_0900_gtv"``.
        image: (C, X, Y, Z) float32; channel 0 CT in HU (or MRI signal), channel 1 PET if any.
        truth: (X, Y, Z) bool mask of the structure on the image's grid.
        spacing: voxel size in mm along (X, Y, Z).
        affine: (4, 4) voxel index (i, j, k) -> RAS world mm of this (possibly cropped) grid.
        structure: the structure's name (``"gtv"``, ``"heart"``), for reports.
    """

    case_id: str
    image: np.ndarray
    truth: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    structure: str = ""

    def __post_init__(self) -> None:
        if self.image.ndim != 4:
            raise ValueError(f"image must be (C, X, Y, Z), got shape {self.image.shape} for case {self.case_id!r}")
        if self.truth.shape != self.image.shape[1:]:
            raise ValueError(
                f"truth shape {self.truth.shape} differs from the image's spatial shape "
                f"{self.image.shape[1:]} for case {self.case_id!r}"
            )
        if self.truth.dtype != bool:
            raise ValueError(f"truth must be a bool mask, got dtype {self.truth.dtype} for case {self.case_id!r}")
        if len(self.spacing) != 3 or min(self.spacing) <= 0:
            raise ValueError(f"spacing must be three positive mm values, got {self.spacing} for case {self.case_id!r}")

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        """(X, Y, Z) size in voxels."""
        x, y, z = self.truth.shape
        return int(x), int(y), int(z)


@runtime_checkable
class InteractiveSegmenter(Protocol):
    """An interactive segmentation method as the harness sees it.

    Attributes:
        name: the method's name in reports (``"random_walker"``, ``"din"``...).
    """

    name: str

    def segment(self, case: Case, clicks: Sequence[Click], previous: np.ndarray | None) -> np.ndarray:
        """The method's answer after ``clicks``.

        Args:
            case: the case; only ``image``, ``spacing`` and ``affine`` may be used, never ``truth``.
            clicks: every click so far, oldest first, voxel indices (i, j, k) of ``case.image``.
                Empty for the automatic (zero-click) answer.
            previous: (X, Y, Z) float32 probability the method returned last time in this
                session, or None for the first call.

        Returns:
            (X, Y, Z) float32 foreground probability in [0, 1] on the case's grid.
        """
        ...
