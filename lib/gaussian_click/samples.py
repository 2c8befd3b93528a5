"""Training and validation samples: one structure of one case, as a window the network sees.

The paper turns a multi-label image into one binary task per structure ("a 2D image with
multi-label ground truth consisting of K different segments results in a set of K images
with binary labels"). A sample is therefore (case, structure, window):

- 2D: an axial model-space slice that contains the structure, cropped to ``TRAIN_SIZE_2D``
  around the structure's in-slice bounding-box centre (jittered), padded with air;
- 3D: a ``ROI_3D`` region around the structure's bounding-box centre (jittered).

With probability ``random_prob`` the window is anywhere instead ("plus some random"): the
truth may then be empty, which teaches the network that no foreground click means nothing.
Training windows have a fixed size so samples batch; inference uses whole slices (2D) or
click regions (3D), which a fully convolutional network takes as they are.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.transforms import MapTransform, Randomizable

from lib.gaussian_click.inputs import PAD_VALUE, ROI_3D, Window, centred_window, crop_to_window
from lib.labels import LABELS
from lib.phantom.config import ALL_LABELS

#: Training slice size (X, Y) in model pixels: 288 x 288 mm at 3 mm, most of a phantom slice
#: (112 x 96 pixels) around the structure; 128 x 128 costs 1.8 x the compute per step.
TRAIN_SIZE_2D: tuple[int, int] = (96, 96)
#: Largest random shift of the window centre, model voxels (X, Y, Z).
JITTER: tuple[int, int, int] = (8, 8, 4)


def training_size(dims: int) -> tuple[int, ...]:
    """The fixed window size of training samples."""
    return TRAIN_SIZE_2D if dims == 2 else ROI_3D


def structure_values(exclude: Sequence[str] = (), organs: bool = False) -> dict[str, int]:
    """The structures trained on, less ``exclude``: the app's ``LABELS`` (the values of ``final``
    labels), or with ``organs`` the phantom's ``ALL_LABELS`` (the values of its ``organs`` label files).

    Raises:
        ValueError: an unknown name, or nothing left.
    """
    known = ALL_LABELS if organs else LABELS
    unknown = [name for name in exclude if name not in known]
    if unknown:
        raise ValueError(f"unknown structure(s) {unknown}; known: {sorted(known)}")
    kept = {name: value for name, value in known.items() if name not in exclude}
    if not kept:
        raise ValueError(f"every structure is excluded ({list(exclude)}); nothing to train on")
    return kept


@dataclass(frozen=True)
class SampleSpec:
    """Where one sample is: the structure, the window centre (model voxels), and its kind.

    Attributes:
        structure: the structure's name (a key of the label map the sample is drawn from).
        centre: (x, y, z); for 2D, z is the slice.
        random: True for a window placed anywhere.
    """

    structure: str
    centre: tuple[int, int, int]
    random: bool = False


def bbox_centre(mask: np.ndarray) -> tuple[int, ...]:
    """Centre of the bounding box of a non-empty mask, per axis (voxels)."""
    points = np.argwhere(mask)
    return tuple(int(v) for v in (points.min(axis=0) + points.max(axis=0) + 1) // 2)


def sample_window(spec: SampleSpec, model_shape: Sequence[int], dims: int) -> Window:
    """The training window of ``spec``."""
    size = training_size(dims)
    return centred_window(model_shape, spec.centre, size, dims)


def extract_sample(
    image: np.ndarray, label: np.ndarray, spec: SampleSpec, dims: int, structures: Mapping[str, int] = LABELS
) -> tuple[np.ndarray, np.ndarray]:
    """The window of a sample.

    Args:
        image: (X, Y, Z) model-space intensities.
        label: (X, Y, Z) label values (``structures``).
        spec: which structure and where.
        dims: 2 or 3.
        structures: name -> value of ``label``'s structures (default the app's ``LABELS``).

    Returns:
        image (*size) float32 padded with ``PAD_VALUE``; truth (*size) bool of the structure.
    """
    window = sample_window(spec, image.shape, dims)
    crop = crop_to_window(np.asarray(image, dtype=np.float32), window, PAD_VALUE)
    truth = crop_to_window(np.asarray(label) == structures[spec.structure], window, False)
    return crop, truth


def _pick(rng: np.random.Generator | np.random.RandomState, n: int) -> int:
    """A uniform index in [0, n) from either kind of numpy generator."""
    return min(int(rng.random() * n), n - 1)


def draw_spec(
    label: np.ndarray, dims: int, structures: Mapping[str, int], rng: np.random.Generator | np.random.RandomState,
    random_prob: float = 0.1,
) -> SampleSpec:
    """A random sample of one case: a structure present in it, and a window around it.

    Args:
        label: (X, Y, Z) model-space label values.
        dims: 2 or 3.
        structures: the structures to draw from (name -> value).
        rng: numpy random generator (or MONAI's ``RandomState``).
        random_prob: probability of a window placed anywhere.
    """
    names = list(structures)
    present = [n for n in names if np.any(label == structures[n])]
    shape = np.asarray(label.shape)
    if not present or rng.random() < random_prob:
        structure = names[_pick(rng, len(names))]
        centre = tuple(int(c) for c in rng.random(3) * shape)
        return SampleSpec(structure, centre, random=True)  # type: ignore[arg-type]
    structure = present[_pick(rng, len(present))]
    mask = label == structures[structure]
    if dims == 2:
        slices = np.flatnonzero(mask.any(axis=(0, 1)))
        z = int(slices[_pick(rng, len(slices))])
        cx, cy = bbox_centre(mask[:, :, z])
        centre = (cx, cy, z)
    else:
        centre = bbox_centre(mask)
    jitter = [int(round((2 * rng.random() - 1) * j)) for j in JITTER]
    if dims == 2:
        jitter[2] = 0
    centre = tuple(int(np.clip(c + d, 0, n - 1)) for c, d, n in zip(centre, jitter, shape))
    return SampleSpec(structure, centre)  # type: ignore[arg-type]


def validation_specs(
    label: np.ndarray, dims: int, structures: Mapping[str, int], per_structure: int
) -> list[SampleSpec]:
    """Fixed validation samples of one case: for 2D, up to ``per_structure`` slices evenly spread
    through each structure (window centred, no jitter); for 3D, one region per structure."""
    specs = []
    for name, value in structures.items():
        mask = label == value
        if not mask.any():
            continue
        if dims == 3:
            specs.append(SampleSpec(name, bbox_centre(mask)))  # type: ignore[arg-type]
            continue
        slices = np.flatnonzero(mask.any(axis=(0, 1)))
        chosen = np.unique(np.linspace(0, len(slices) - 1, min(per_structure, len(slices))).round().astype(int))
        for z in slices[chosen]:
            cx, cy = bbox_centre(mask[:, :, z])
            specs.append(SampleSpec(name, (cx, cy, int(z))))
    return specs


class RandStructureSampled(Randomizable, MapTransform):
    """MONAI transform: a model-space case -> one random training sample of one structure.

    Reads ``image`` (1, X, Y, Z) and ``label`` (1, X, Y, Z) in model space; writes ``image``
    (1, *size) float32 and ``label`` (1, *size) float32 {0, 1} of one structure, and
    ``structure`` (its name). ``randomize`` draws the :class:`SampleSpec`; applying it is
    deterministic (:func:`extract_sample`).

    Args:
        dims: 2 or 3.
        structures: name -> label value to draw from (default all of ``LABELS``).
        random_prob: probability of a window placed anywhere.
    """

    def __init__(self, dims: int, structures: Mapping[str, int] | None = None, random_prob: float = 0.1) -> None:
        super().__init__(keys=("image", "label"))
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims!r}")
        if not 0.0 <= random_prob <= 1.0:
            raise ValueError(f"random_prob must be in [0, 1], got {random_prob!r}")
        self.dims = dims
        self.structures = dict(structures if structures is not None else LABELS)
        self.random_prob = random_prob
        self.spec: SampleSpec | None = None

    def randomize(self, label: np.ndarray) -> None:
        self.spec = draw_spec(label, self.dims, self.structures, self.R, self.random_prob)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image = np.asarray(d["image"])[0]
        label = np.asarray(d["label"])[0]
        self.randomize(label)
        crop, truth = extract_sample(image, label, self.spec, self.dims, self.structures)
        d["image"] = torch.from_numpy(crop[None])
        d["label"] = torch.from_numpy(truth[None].astype(np.float32))
        d["structure"] = self.spec.structure
        return d


__all__ = [
    "JITTER",
    "TRAIN_SIZE_2D",
    "RandStructureSampled",
    "SampleSpec",
    "draw_spec",
    "extract_sample",
    "structure_values",
    "training_size",
    "validation_specs",
]
