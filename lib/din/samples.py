"""DIN training samples: model-space patches, half of each batch around a tumour, with the
paper's training clicks (:func:`lib.simulators.din_training_clicks`) encoded as guides.

A sample is drawn in two steps (replayable): :func:`draw_patch` chooses where (the patch's
first voxel, a flip) from the generator, :func:`make_sample` cuts it and asks the click
sampler for clicks on the patch's truth. Patches are :data:`PATCH_SIZE` model voxels
(X, Y, Z) = 48 x 48 x 16 at 3 x 3 x 6 mm (144 x 144 x 96 mm; the paper: 10 x 512 x 160
(z, y, x) at 10 x 1.56 x 1.56 mm), padded with air where they leave the image. The STIR
model space (2.4 x 2.4 x 7.5 mm) uses the same patch in voxels: 115 x 115 x 120 mm.

Click-sampler parameters are the paper's, converted from its 1.56 mm pixels to our 3 mm
model voxels at the same size in mm (:data:`CLICK_SAMPLER`):

=================  ======================  =====================
parameter          paper (1.56 mm px)      ours (3 mm voxels)
=================  ======================  =====================
band width w       40 px (62 mm)           20 (60 mm)
d_margin           3 px (4.7 mm)           2 (6 mm)
small object       6 px (9.4 mm)           3 (9 mm)
min separation     (dz, dy, dx) = 1,10,10  (dx, dy, dz) = 5, 5, 1
N (N3D = N^1.5)    5 (11)                  5 (11)
=================  ======================  =====================

STIR (2.4 mm in plane, :data:`STIR_CLICK_SAMPLER`): band 26, margin 2, small object 4, min
separation (6, 6, 1), the same sizes in mm.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.transforms import MapTransform, Randomizable

from lib.din.guides import GuideSettings, guide_maps
from lib.din.preprocess import PAD_VALUE
from lib.imaging.crop import cut
from lib.interaction.clicks import Click
from lib.simulators import DinTrainingSampler
from lib.simulators.din_training import inplane_distance

#: Training patch size (X, Y, Z), model voxels; multiples of the network's (16, 16, 2).
PATCH_SIZE: tuple[int, int, int] = (48, 48, 16)
#: Largest shift of a tumour patch's centre from a tumour voxel, model voxels (X, Y, Z).
JITTER: tuple[int, int, int] = (12, 12, 4)
#: The paper's sampler at our CT voxel size (see the module doc).
CLICK_SAMPLER = DinTrainingSampler(n=5, band_width=20.0, margin=2.0, small_object=3, min_separation=(5, 5, 1))
#: The same at the STIR model space's 2.4 mm in-plane voxels: band 26 (62 mm), margin 2
#: (4.8 mm), small object 4 (9.6 mm), min separation 6 (14.4 mm) in plane, 1 slice in Z.
STIR_CLICK_SAMPLER = DinTrainingSampler(n=5, band_width=26.0, margin=2.0, small_object=4, min_separation=(6, 6, 1))
#: The training click sampler of each model space (:data:`lib.din.preprocess.MODEL_SPACES`).
CLICK_SAMPLERS: dict[str, DinTrainingSampler] = {"ct": CLICK_SAMPLER, "mri_stir": STIR_CLICK_SAMPLER}


@dataclass(frozen=True)
class BoundaryClickSampler:
    """The paper's sampler, plus (sometimes) clicks hugging the object's boundary.

    Not in the paper, whose sampler keeps every click ``margin`` px away from the boundary.
    DIN's evaluation user clicks the centre of the largest error, and once a tumour is found
    that error is often the thin shell of over-segmentation around it: the click lands one
    or two voxels outside the boundary, where training never put one, and the network ignores
    it (the user then clicks the same voxel again: DIN stalls). With probability
    ``probability`` a sample gets 1..``max_clicks`` negatives in the in-plane shell
    (0, ``shell``] px outside the object and 0..``max_clicks - 1`` positives in the shell
    [0, ``shell``) px inside it (distance to the other side), drawn uniformly; they are
    added after the paper's clicks and ignore its minimum separation.

    Attributes:
        base: the paper's sampler.
        probability: chance that a sample gets boundary clicks; 0 is the paper's sampler.
        max_clicks: most boundary negatives per sample.
        shell: in-plane width of the shells, px.
    """

    base: DinTrainingSampler
    probability: float = 0.5
    max_clicks: int = 3
    shell: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {self.probability!r}")
        if self.max_clicks < 1 or self.shell <= 0:
            raise ValueError(f"max_clicks must be >= 1 and shell > 0, got {self.max_clicks!r}, {self.shell!r}")

    def __call__(self, truth: np.ndarray, rng: np.random.Generator) -> list[Click]:
        clicks = self.base(truth, rng)
        truth = np.asarray(truth, dtype=bool)
        if not truth.any() or rng.random() >= self.probability:
            return clicks
        outside = ~truth & (inplane_distance(truth) <= self.shell)
        inside = truth & (inplane_distance(~truth) <= self.shell)
        extra = []
        for mask, count, positive in ((outside, int(rng.integers(1, self.max_clicks + 1)), False),
                                      (inside, int(rng.integers(0, self.max_clicks)), True)):
            points = np.argwhere(mask)
            if len(points) and count:
                for p in points[rng.choice(len(points), size=min(count, len(points)), replace=False)]:
                    extra.append(Click(tuple(int(v) for v in p), positive))  # type: ignore[arg-type]
        return clicks + extra


def click_sampler(modality: str = "ct", boundary: float = 0.0) -> DinTrainingSampler | BoundaryClickSampler:
    """The training click sampler of a modality's model space.

    Args:
        modality: ``"ct"`` or ``"mri_stir"``.
        boundary: probability of extra near-boundary clicks (:class:`BoundaryClickSampler`);
            0 (default) is the paper's sampler itself.

    Raises:
        ValueError: an unknown modality or a bad probability.
    """
    if modality not in CLICK_SAMPLERS:
        raise ValueError(f"modality must be one of {tuple(CLICK_SAMPLERS)}, got {modality!r}")
    if boundary == 0:
        return CLICK_SAMPLERS[modality]
    return BoundaryClickSampler(CLICK_SAMPLERS[modality], probability=boundary)


@dataclass(frozen=True)
class PatchSpec:
    """Where one patch is.

    Attributes:
        start: (x, y, z) first model voxel of the patch (may be negative: padded).
        flips: which of X, Y are mirrored (augmentation).
        tumour: True when the patch was centred on a tumour voxel.
    """

    start: tuple[int, int, int]
    flips: tuple[bool, bool]
    tumour: bool


def draw_patch(
    truth: np.ndarray, rng: np.random.Generator, tumour: bool, size: Sequence[int] = PATCH_SIZE
) -> PatchSpec:
    """A patch around a random tumour voxel (jittered), or anywhere in the image.

    Args:
        truth: (X, Y, Z) bool tumour mask of the case (model space).
        rng: the generator.
        tumour: centre on the tumour (falls back to anywhere when there is none).
        size: patch size (X, Y, Z).
    """
    shape = np.asarray(truth.shape)
    points = np.argwhere(truth) if tumour else np.empty((0, 3), dtype=int)
    if len(points):
        centre = points[rng.integers(len(points))] + rng.integers(-np.asarray(JITTER), np.asarray(JITTER) + 1)
    else:
        centre = rng.integers(0, shape)
    start = np.asarray(centre) - np.asarray(size) // 2
    start = np.clip(start, np.minimum(0, shape - np.asarray(size)), np.maximum(0, shape - np.asarray(size)))
    flips = (bool(rng.random() < 0.5), bool(rng.random() < 0.5))
    return PatchSpec(tuple(int(v) for v in start), flips, bool(len(points)))  # type: ignore[arg-type]


def paper_augmentation(
    patch: np.ndarray, target: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's other augmentations of one (X, Y, Z) patch and its target (section IV-A).

    In-plane scaling by 1.0 .. 1.25 and rotation about Z by N(0, 5) degrees (one affine about
    the patch centre; image linear, target nearest, edges replicated), a flip along Z
    (X / Y flips are the patch's own, :class:`PatchSpec`), and a gamma of 0.7 .. 1.5 on the
    patch's intensities scaled to [0, 1] by its own range. Not used by the shipped models.
    """
    from scipy.ndimage import affine_transform

    scale = rng.uniform(1.0, 1.25)
    angle = np.deg2rad(rng.normal(0.0, 5.0))
    flip_z = bool(rng.random() < 0.5)
    gamma = rng.uniform(0.7, 1.5)
    c, s = np.cos(angle), np.sin(angle)
    matrix = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) / np.array([scale, scale, 1.0])[:, None]
    centre = (np.asarray(patch.shape) - 1) / 2.0
    offset = centre - matrix @ centre  # output voxel o samples input voxel matrix @ o + offset
    patch = affine_transform(patch, matrix, offset, order=1, mode="nearest")
    target = affine_transform(target.astype(np.float32), matrix, offset, order=0, mode="nearest") > 0.5
    if flip_z:
        patch, target = patch[:, :, ::-1], target[:, :, ::-1]
    low, high = float(patch.min()), float(patch.max())
    if high > low:
        patch = low + (high - low) * ((patch - low) / (high - low)) ** gamma
    return np.ascontiguousarray(patch, dtype=np.float32), np.ascontiguousarray(target)


def make_sample(
    image: np.ndarray,
    truth: np.ndarray,
    spec: PatchSpec,
    settings: GuideSettings,
    rng: np.random.Generator,
    size: Sequence[int] = PATCH_SIZE,
    sampler: DinTrainingSampler = CLICK_SAMPLER,
    augment: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[Click]]:
    """One network input and its target.

    Args:
        image: (X, Y, Z) model-space intensities.
        truth: (X, Y, Z) bool tumour mask.
        spec: where (:func:`draw_patch`).
        settings: the guide encoding.
        rng: the generator the click sampler draws from.
        size: patch size (X, Y, Z).
        sampler: the training click sampler (in model voxels; :func:`click_sampler`).
        augment: also the paper's scaling, rotation, Z flip and gamma (:func:`paper_augmentation`).

    Returns:
        inputs (3, *size) float32 (image, foreground guide, background guide), target (*size)
        int64 {0, 1}, and the clicks (patch voxel indices).
    """
    patch = cut(np.asarray(image, dtype=np.float32), spec.start, size, PAD_VALUE)
    target = cut(np.asarray(truth, dtype=bool), spec.start, size, False)
    for axis, flip in enumerate(spec.flips):
        if flip:
            patch, target = np.flip(patch, axis), np.flip(target, axis)
    patch, target = np.ascontiguousarray(patch), np.ascontiguousarray(target)
    if augment:
        patch, target = paper_augmentation(patch, target, rng)
    clicks = sampler(target, rng)
    guides = guide_maps(patch[None], clicks, settings)
    return np.concatenate([patch[None], guides]).astype(np.float32), target.astype(np.int64), clicks


def make_batch(
    cases: Sequence[tuple[np.ndarray, np.ndarray]],
    batch_size: int,
    settings: GuideSettings,
    rng: np.random.Generator,
    size: Sequence[int] = PATCH_SIZE,
    sampler: DinTrainingSampler = CLICK_SAMPLER,
    augment: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """A training batch: the first ``ceil(batch_size / 2)`` patches centred on a tumour, the rest anywhere.

    Args:
        cases: (image (X, Y, Z), truth (X, Y, Z) bool) model-space pairs.
        batch_size: patches per batch (>= 1).
        sampler: the training click sampler (:func:`click_sampler`).

    Returns:
        inputs (B, 3, *size) float32, targets (B, *size) int64.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    inputs, targets = [], []
    for n in range(batch_size):
        image, truth = cases[int(rng.integers(len(cases)))]
        spec = draw_patch(truth, rng, tumour=n < (batch_size + 1) // 2, size=size)
        x, y, _ = make_sample(image, truth, spec, settings, rng, size, sampler, augment)
        inputs.append(x)
        targets.append(y)
    return np.stack(inputs), np.stack(targets)


__all__ = [
    "CLICK_SAMPLER",
    "CLICK_SAMPLERS",
    "JITTER",
    "PATCH_SIZE",
    "STIR_CLICK_SAMPLER",
    "BoundaryClickSampler",
    "PatchSpec",
    "click_sampler",
    "draw_patch",
    "make_batch",
    "make_sample",
    "paper_augmentation",
]


class RandDinPatchd(Randomizable, MapTransform):
    """MONAI transform (for the server's trainer): a model-space case -> one DIN training sample.

    Reads ``image`` and ``label`` (1, X, Y, Z) in model space; writes ``image`` (3, *size)
    float32 (image, foreground guide, background guide) and ``label`` (1, *size) float32 GTV
    {0, 1}. A patch is centred on a tumour with probability ``tumour_prob`` (0.5: half of the
    batches' patches on average; ``make_batch`` makes it exactly half). ``randomize`` draws the
    patch; the click sampler draws from the same generator.

    Args:
        settings: the guide encoding.
        label_value: the GTV's value in ``label``.
        tumour_prob: probability of a patch around a tumour.
        size: patch size (X, Y, Z).
        sampler: the training click sampler of the model space (:func:`click_sampler`).
    """

    def __init__(
        self,
        settings: GuideSettings | None = None,
        label_value: int = 1,
        tumour_prob: float = 0.5,
        size: Sequence[int] = PATCH_SIZE,
        sampler: DinTrainingSampler = CLICK_SAMPLER,
    ) -> None:
        super().__init__(keys=("image", "label"))
        if not 0.0 <= tumour_prob <= 1.0:
            raise ValueError(f"tumour_prob must be in [0, 1], got {tumour_prob!r}")
        self.settings = settings or GuideSettings()
        self.label_value = label_value
        self.tumour_prob = tumour_prob
        self.size = tuple(int(n) for n in size)
        self.sampler = sampler
        self.spec: PatchSpec | None = None
        self.generator = np.random.default_rng(0)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.generator = np.random.default_rng(seed if seed is not None else int(self.R.randint(2**31)))
        return self

    def randomize(self, truth: np.ndarray) -> None:
        tumour = bool(self.generator.random() < self.tumour_prob)
        self.spec = draw_patch(truth, self.generator, tumour, self.size)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image = np.asarray(d["image"])[0]
        truth = np.asarray(d["label"])[0] == self.label_value
        self.randomize(truth)
        inputs, target, _ = make_sample(image, truth, self.spec, self.settings, self.generator, self.size, self.sampler)
        d["image"] = torch.from_numpy(inputs)
        d["label"] = torch.from_numpy(target[None].astype(np.float32))
        return d


__all__ += ["RandDinPatchd"]
