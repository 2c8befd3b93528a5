"""What a phantom looks like: geometry, modality, orientation and difficulty."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Modality = Literal["ct", "mri_stir"]
Orientation = Literal["RAS", "LPS", "oblique"]

#: The phantom's own label values (0 background): its ``label`` arrays and ``labels/final`` files.
LABELS: dict[str, int] = {"gtv": 1, "heart": 2}
#: Further structures the generator draws, written only to the optional ``labels/organs`` files
#: (a superset of ``LABELS``, same values for gtv and heart), for models that learn from many
#: structures.
ORGAN_LABELS: dict[str, int] = {"lung": 3, "liver": 4, "aorta": 5, "bone": 6, "spinal_canal": 7}
ALL_LABELS: dict[str, int] = {**LABELS, **ORGAN_LABELS}

_MODALITIES = ("ct", "mri_stir")
_ORIENTATIONS = ("RAS", "LPS", "oblique")


@dataclass(frozen=True)
class PhantomConfig:
    """Parameters of one generated study.

    Attributes:
        seed: the only source of randomness; equal configs give equal phantoms.
        shape: voxels along the stored axes (i, j, k).
        spacing: voxel size in mm along (i, j, k). Thick slices are along k.
        modality: ``"ct"`` (Hounsfield units) or ``"mri_stir"`` (arbitrary units,
            many small bright tumours, meant for thick slices).
        pet: also make a PET channel (SUV-like units) on the same grid.
        orientation: the header: ``"RAS"`` (i to the right), ``"LPS"`` (i to the left,
            j to posterior) or ``"oblique"`` (RAS rotated by ``oblique_degrees``).
        tumour_contrast: CT: tumour minus surrounding soft tissue in HU (can be small,
            which is what makes tumours next to the heart hard). MRI: ignored.
        noise: standard deviation of the image noise; ``None`` takes the modality's
            default (CT 25 HU; MRI 10, in units where muscle is 100).
        blur_mm: partial-volume blur, Gaussian sigma in mm.
        max_tumours: CT: at most this many tumours (at least one).
        oblique_degrees: rotation of the oblique header about (z, x) in degrees.
        centre_mm: world position (RAS mm) of the field of view's centre; the anatomy does not
            move, so a small field of view at a fine voxel size can look at one structure.
    """

    seed: int = 0
    shape: tuple[int, int, int] = (112, 96, 40)
    spacing: tuple[float, float, float] = (3.0, 3.0, 6.0)
    modality: Modality = "ct"
    pet: bool = False
    orientation: Orientation = "RAS"
    tumour_contrast: float = 20.0
    noise: float | None = None
    blur_mm: float = 1.5
    max_tumours: int = 2
    oblique_degrees: tuple[float, float] = field(default=(14.0, 6.0))
    centre_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 8:
            raise ValueError(f"shape must be three sizes of at least 8 voxels, got {self.shape}")
        if len(self.spacing) != 3 or min(self.spacing) <= 0:
            raise ValueError(f"spacing must be three positive sizes in mm, got {self.spacing}")
        if self.modality not in _MODALITIES:
            raise ValueError(f"modality must be one of {_MODALITIES}, got {self.modality!r}")
        if self.orientation not in _ORIENTATIONS:
            raise ValueError(f"orientation must be one of {_ORIENTATIONS}, got {self.orientation!r}")
        if self.max_tumours < 1:
            raise ValueError(f"max_tumours must be at least 1, got {self.max_tumours}")
        if (self.noise is not None and self.noise < 0) or self.blur_mm < 0:
            raise ValueError(f"noise and blur_mm must be >= 0, got {self.noise}, {self.blur_mm}")

    @property
    def extent_mm(self) -> tuple[float, float, float]:
        """Field of view in mm along (i, j, k)."""
        return tuple(n * s for n, s in zip(self.shape, self.spacing))  # type: ignore[return-value]

    @property
    def noise_level(self) -> float:
        """The noise standard deviation actually used (see ``noise``)."""
        if self.noise is not None:
            return float(self.noise)
        return 25.0 if self.modality == "ct" else 10.0


def stir_config(seed: int = 0, **overrides: object) -> PhantomConfig:
    """An MRI-STIR-like study: thick 7.5 mm slices, fine in-plane, many small bright tumours."""
    settings: dict = {"shape": (144, 112, 32), "spacing": (2.4, 2.4, 7.5), "modality": "mri_stir"}
    settings.update(overrides)
    return PhantomConfig(seed=seed, **settings)
