"""Random label scenes: tissue regions, distractor shapes and one target, on a voxel grid.

A scene is an (X, Y, Z) integer label map and the label value of its TARGET (the structure
the simulated user clicks). Background tissue is a partition of the grid into 1 to 6 smooth
regions (the argmax of smoothed noise fields, as SynthSeg's label maps are regions, not
noise); distractors are random shapes (:mod:`lib.synth.shapes`) of their own labels, some
touching the target; the target is one random shape near the grid centre, and sometimes a
distractor covers part of it (the target is then what is left visible).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lib.synth.shapes import SHAPE_KINDS, random_shape, smooth_noise

#: Fewest target voxels a scene accepts (it is redrawn otherwise).
MIN_TARGET_VOXELS = 20


@dataclass(frozen=True)
class Scene:
    """A label map and which label the user wants.

    Attributes:
        labels: (X, Y, Z) int16 label map (0 .. n-1).
        target: the target's label value.
        kind: the target's shape kind.
        spacing: voxel size (X, Y, Z) mm.
    """

    labels: np.ndarray
    target: int
    kind: str
    spacing: tuple[float, float, float]

    @property
    def truth(self) -> np.ndarray:
        """(X, Y, Z) bool mask of the target."""
        return self.labels == self.target


def random_spacing(rng: np.random.Generator) -> tuple[float, float, float]:
    """A voxel size (X, Y, Z) mm: in-plane 0.8 .. 3 mm; half the time isotropic, else slices 1.5 .. 3.5 x thicker."""
    inplane = float(rng.uniform(0.8, 3.0))
    ratio = 1.0 if rng.random() < 0.5 else float(rng.uniform(1.5, 3.5))
    return inplane, inplane, inplane * ratio


def tissue_regions(shape: Sequence[int], spacing: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """(X, Y, Z) int16 partition into 1 .. 6 smooth regions (values 0 .. n-1)."""
    n = int(rng.integers(1, 7))
    if n == 1:
        return np.zeros(tuple(shape), dtype=np.int16)
    extent = float(min(s * d for s, d in zip(shape, spacing)))
    fields = np.stack([smooth_noise(shape, spacing, extent * rng.uniform(0.08, 0.3), rng) for _ in range(n)])
    return np.argmax(fields, axis=0).astype(np.int16)


def _target_size_mm(shape: Sequence[int], spacing: Sequence[float], rng: np.random.Generator) -> float:
    """A target diameter, mm: log-uniform from 5 in-plane voxels to about the grid's in-plane extent."""
    voxels = float(np.exp(rng.uniform(np.log(5.0), np.log(0.9 * min(shape[0], shape[1])))))
    return voxels * float(max(spacing[:2]))


def random_scene(shape: Sequence[int], rng: np.random.Generator,
                 spacing: Sequence[float] | None = None, attempts: int = 8) -> Scene:
    """A random scene on a grid of ``shape`` voxels.

    Args:
        shape: (X, Y, Z) voxels.
        rng: randomness.
        spacing: voxel size (X, Y, Z) mm; None draws one (:func:`random_spacing`).
        attempts: redraws allowed when the target comes out smaller than ``MIN_TARGET_VOXELS``.

    Returns:
        The scene (after ``attempts`` redraws, a blob is forced so the target is never empty).
    """
    shape = tuple(int(n) for n in shape)
    spacing = tuple(float(s) for s in (spacing if spacing is not None else random_spacing(rng)))
    labels = tissue_regions(shape, spacing, rng)
    next_label = int(labels.max()) + 1
    centre = np.asarray(shape, dtype=float) / 2.0
    for _ in range(int(rng.integers(0, 5))):
        where = rng.uniform(0.1, 0.9, size=3) * np.asarray(shape)
        kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
        labels[random_shape(kind, shape, spacing, where, _target_size_mm(shape, spacing, rng), rng)] = next_label
        next_label += 1
    target = next_label
    for attempt in range(attempts + 1):
        kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))] if attempt < attempts else "blob"
        jitter = rng.uniform(-0.12, 0.12, size=3) * np.asarray(shape)
        size = _target_size_mm(shape, spacing, rng) if attempt < attempts else 8.0 * float(max(spacing))
        mask = random_shape(kind, shape, spacing, centre + jitter, size, rng)
        if mask.sum() >= MIN_TARGET_VOXELS:
            break
    scene_labels = labels.copy()
    scene_labels[mask] = target
    if rng.random() < 0.2:  # a neighbour covering part of the target
        where = centre + jitter + rng.normal(0, 0.15, size=3) * np.asarray(shape)
        cover = random_shape("blob", shape, spacing, where, size * rng.uniform(0.3, 0.8), rng)
        kept = mask & ~cover
        if kept.sum() >= MIN_TARGET_VOXELS:
            scene_labels[cover] = target + 1
    return Scene(scene_labels, target, kind, spacing)  # type: ignore[arg-type]


__all__ = ["MIN_TARGET_VOXELS", "Scene", "random_scene", "random_spacing", "tissue_regions"]
