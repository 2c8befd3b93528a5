"""Evaluation cases the universal click model never trained on.

- Held-out phantom structures (``lib.universal_click.space.HELD_OUT``: gtv, liver, spinal
  canal; never a training target) at two resolutions: ``"3x3x6"`` (the datastore's phantoms,
  orientations cycling RAS / LPS / oblique) and ``"1mm"`` (the same anatomy rendered at 1 mm
  isotropic in a field of view around the structure: the bounding box plus ``margin_mm``,
  at most ``MAX_FOV_1MM`` mm per axis), in three contrasts: ``"ct"`` (HU), ``"inverted"``
  (minus HU) and ``"t1_like"`` (a fixed T1-weighted-like table of tissue signals, not the
  training generator's random draws, with a bias field and Rician noise).
- A real chest CT shipped by the ``slicerio`` package (``slicerio/data/CTChest4.nrrd``,
  3 x 3 x 10 mm) with the segmentation shipped beside it (``Segmentation.seg.nrrd``, made in
  3D Slicer by its authors): lungs and vertebral columns.

Phantom seeds from 900 on, never used in training. Cases are cropped to the structure's
bounding box plus ``margin_mm`` (the harness's ROI convention).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from lib.evaluation.cases import crop_case, roi_box
from lib.evaluation.protocol import Case, spacing_of
from lib.phantom.config import ALL_LABELS, PhantomConfig
from lib.phantom.datastore import case_config
from lib.phantom.generate import generate_phantom
from lib.synth.phantom_pool import BODY_LABEL, FAT_LABEL

CONTRASTS: tuple[str, ...] = ("ct", "inverted", "t1_like")
RESOLUTIONS: tuple[str, ...] = ("3x3x6", "1mm")
MAX_FOV_1MM: tuple[float, float, float] = (110.0, 110.0, 90.0)
#: T1-weighted-like signal per tissue label (arbitrary units, muscle 100).
T1_SIGNAL: dict[int, float] = {
    0: 5.0, ALL_LABELS["gtv"]: 130.0, ALL_LABELS["heart"]: 110.0, ALL_LABELS["lung"]: 15.0,
    ALL_LABELS["liver"]: 150.0, ALL_LABELS["aorta"]: 30.0, ALL_LABELS["bone"]: 60.0,
    ALL_LABELS["spinal_canal"]: 40.0, BODY_LABEL: 100.0, FAT_LABEL: 320.0,
}


def tissue_labels(image: np.ndarray, organs: np.ndarray) -> np.ndarray:
    """Organs plus body / fat labels from a CT in HU (as the training pool derives them)."""
    tissues = organs.astype(np.uint8).copy()
    tissues[(tissues == 0) & (image > -500)] = BODY_LABEL
    tissues[(organs == 0) & (image > -300) & (image < -30)] = FAT_LABEL
    return tissues


def t1_like(image: np.ndarray, organs: np.ndarray, spacing: Sequence[float], seed: int) -> np.ndarray:
    """A T1-like image of a CT phantom: the table's signals, blur, a smooth bias field, Rician noise."""
    rng = np.random.default_rng([seed, 1818])
    tissues = tissue_labels(image, organs)
    table = np.zeros(256, dtype=np.float32)
    for label, value in T1_SIGNAL.items():
        table[label] = value
    signal = ndimage.gaussian_filter(table[tissues], sigma=[1.0 / s for s in spacing])
    bias = ndimage.gaussian_filter(rng.normal(size=signal.shape).astype(np.float32), sigma=[60.0 / s for s in spacing])
    bias = np.exp(0.25 * bias / max(float(bias.std()), 1e-6))
    signal = signal * bias
    re = signal + rng.normal(0, 8.0, size=signal.shape)
    im = rng.normal(0, 8.0, size=signal.shape)
    return np.sqrt(re * re + im * im).astype(np.float32)


def contrast_image(ct: np.ndarray, organs: np.ndarray, spacing: Sequence[float], contrast: str, seed: int) -> np.ndarray:
    """(X, Y, Z) channel 0 of a case in the asked contrast."""
    if contrast == "ct":
        return ct.astype(np.float32)
    if contrast == "inverted":
        return (-ct).astype(np.float32)
    if contrast == "t1_like":
        return t1_like(ct, organs, spacing, seed)
    raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")


def fine_config(seed: int, structure: str, margin_mm: float, spacing_mm: float = 1.0) -> PhantomConfig:
    """A 1 mm config whose field of view holds the structure of phantom ``seed`` (plus margin, capped)."""
    coarse = generate_phantom(PhantomConfig(seed=seed, orientation="RAS"))
    voxels = np.argwhere(coarse.organs == ALL_LABELS[structure])
    if voxels.size == 0:
        raise ValueError(f"phantom {seed} has no {structure!r}")
    world = voxels @ coarse.affine[:3, :3].T + coarse.affine[:3, 3]
    low, high = world.min(axis=0) - margin_mm, world.max(axis=0) + margin_mm
    centre = (low + high) / 2
    extent = np.minimum(high - low, MAX_FOV_1MM)
    shape = tuple(int(max(16, round(e / spacing_mm))) for e in extent)
    return PhantomConfig(seed=seed, shape=shape, spacing=(spacing_mm,) * 3, orientation="RAS",
                         centre_mm=tuple(float(c) for c in centre))


def held_out_case(seed: int, structure: str, resolution: str, contrast: str, margin_mm: float = 30.0) -> Case:
    """One held-out structure of phantom ``seed`` at a resolution and contrast, cropped to its ROI."""
    if resolution == "3x3x6":
        phantom = generate_phantom(case_config(seed))
    elif resolution == "1mm":
        phantom = generate_phantom(fine_config(seed, structure, margin_mm))
    else:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    truth = phantom.organs == ALL_LABELS[structure]
    if not truth.any():
        raise ValueError(f"phantom {seed} has no {structure!r} at {resolution}")
    spacing = spacing_of(phantom.affine)
    image = contrast_image(phantom.image[0], phantom.organs, spacing, contrast, seed)
    case = Case(f"phantom_{seed:04d}_{structure}_{resolution}_{contrast}", image[None], truth, spacing,
                np.asarray(phantom.affine, dtype=float), structure)
    return crop_case(case, roi_box(truth, spacing, margin_mm))


def held_out_cases(count: int, resolution: str, contrast: str, structures: Sequence[str],
                   first_seed: int = 900, margin_mm: float = 30.0) -> Iterator[Case]:
    """``count`` cases, structure n % len(structures) of seed first_seed + n // len(structures)... lazily."""
    for n in range(count):
        yield held_out_case(first_seed + n, structures[n % len(structures)], resolution, contrast, margin_mm)


SLICERIO_STRUCTURES: tuple[str, ...] = ("right lung", "left lung", "thoracic vertebral column",
                                        "lumbar vertebral column")


def slicerio_data() -> Path:
    """The folder of the CT and segmentation the ``slicerio`` package ships."""
    import slicerio

    return Path(slicerio.__file__).resolve().parent / "data"


def real_ct_cases(contrast: str = "ct", margin_mm: float = 30.0) -> Iterator[Case]:
    """The slicerio chest CT, one case per structure of :data:`SLICERIO_STRUCTURES`."""
    import nibabel  # noqa: F401  (MONAI's loader needs a reader; SimpleITK reads NRRD)
    import SimpleITK as sitk
    import slicerio

    folder = slicerio_data()
    volume = sitk.ReadImage(str(folder / "CTChest4.nrrd"))
    ct = np.transpose(sitk.GetArrayFromImage(volume), (2, 1, 0)).astype(np.float32)  # (X, Y, Z)
    ct = np.maximum(ct, -1024.0)  # outside the scanner's circle is -3024: air
    segmentation = slicerio.read_segmentation(str(folder / "Segmentation.seg.nrrd"))
    voxels = np.asarray(segmentation["voxels"])
    lps = np.asarray(segmentation["ijkToLPS"], dtype=float)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # LPS -> RAS
    if voxels.shape != ct.shape:
        raise ValueError(f"segmentation {voxels.shape} and CT {ct.shape} differ")
    spacing = spacing_of(affine)
    image = contrast_image(ct, np.zeros(ct.shape, np.uint8), spacing, contrast, 0) if contrast != "t1_like" else None
    if image is None:
        raise ValueError("the real CT has no tissue labels for a T1-like contrast")
    for segment in segmentation["segments"]:
        if segment["name"] not in SLICERIO_STRUCTURES:
            continue
        truth = voxels == int(segment["labelValue"])
        case = Case(f"slicerio_chest_{segment['name'].replace(' ', '_')}_{contrast}", image[None], truth, spacing,
                    affine, segment["name"])
        yield crop_case(case, roi_box(truth, spacing, margin_mm))


__all__ = ["CONTRASTS", "RESOLUTIONS", "SLICERIO_STRUCTURES", "T1_SIGNAL", "contrast_image", "fine_config",
           "held_out_case", "held_out_cases", "real_ct_cases", "t1_like", "tissue_labels"]
