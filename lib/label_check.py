"""Check an uploaded label file against its image before it is kept (shape, geometry, values).

A label is kept only if it reads as a 3D integer volume on the image's voxel grid (same
(X, Y, Z) shape, voxel-to-world mapping within :data:`GEOMETRY_TOLERANCE_MM` at the grid's
corners) and its values are among the allowed ones. Files are read with SimpleITK, so NIfTI
(``.nii``, ``.nii.gz``) and NRRD (``.nrrd``, ``.seg.nrrd`` labelmaps) are accepted.

3D Slicer's MONAI Label extension numbers the exported segments 1, 2, ... in the order of
its ``label_info`` list (the list's ``idx`` fields count skipped segments and can differ):
:func:`segment_value_map` maps those values by segment *name* onto the app's label values.
Every function raises ``ValueError`` naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

#: Largest distance (mm) between the label's and the image's grid corners in world space.
GEOMETRY_TOLERANCE_MM = 0.5
#: Segment names that mean "no structure" (value 0).
BACKGROUND_NAMES = frozenset({"background", "bg"})


@dataclass(frozen=True)
class Grid:
    """A voxel grid: ``shape`` (X, Y, Z) in voxels and ``affine`` (4, 4) voxel index -> LPS mm."""

    shape: tuple[int, int, int]
    affine: np.ndarray


def _grid_of(reader: sitk.ImageFileReader | sitk.Image) -> Grid:
    size = tuple(int(n) for n in reader.GetSize())
    if len(size) == 4 and size[3] == 1:
        size = size[:3]
    if len(size) != 3:
        raise ValueError(f"must be a 3D volume, got {len(size)}D of size {list(size)}")
    dims = reader.GetDimension()
    direction = np.asarray(reader.GetDirection(), dtype=float).reshape(dims, dims)[:3, :3]
    spacing = np.asarray(reader.GetSpacing(), dtype=float)[:3]
    affine = np.eye(4)
    affine[:3, :3] = direction * spacing
    affine[:3, 3] = np.asarray(reader.GetOrigin(), dtype=float)[:3]
    return Grid(size, affine)  # type: ignore[arg-type]


def read_grid(path: str, what: str = "image") -> Grid:
    """The voxel grid of a volume file, from its header only.

    Raises:
        ValueError: the file cannot be read as a 3D volume.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
        return _grid_of(reader)
    except (RuntimeError, ValueError) as error:  # SimpleITK raises RuntimeError for unreadable files
        raise ValueError(f"cannot read the {what} as a 3D volume: {str(error).strip().splitlines()[-1]}") from None


def read_label(path: str) -> tuple[np.ndarray, Grid]:
    """A label file as an (X, Y, Z) array of its stored type, and its grid.

    Raises:
        ValueError: unreadable, not 3D (a trailing axis of size 1 is dropped), or multi-component.
    """
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ValueError(f"cannot read the label as a 3D volume: {str(error).strip().splitlines()[-1]}") from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"the label has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
            "save a labelmap (one value per voxel), not overlapping segment layers"
        )
    grid = _grid_of(image)  # an sitk.Image has the header methods of a reader
    array = sitk.GetArrayFromImage(image)  # a copy, (Z, Y, X) or (1, Z, Y, X)
    array = array.reshape(tuple(reversed(grid.shape))).transpose(2, 1, 0)
    return array, grid


def check_same_grid(label: Grid, image: Grid) -> None:
    """Raise unless ``label`` lies on ``image``'s grid (shape, and corners within tolerance)."""
    if label.shape != image.shape:
        raise ValueError(f"label shape {list(label.shape)} differs from the image's {list(image.shape)} (X, Y, Z)")
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in image.shape], [1], indexing="ij")).reshape(4, -1)
    offset = float(np.abs(label.affine @ corners - image.affine @ corners)[:3].max())
    if not offset <= GEOMETRY_TOLERANCE_MM:
        raise ValueError(
            f"the label's geometry (origin, spacing, direction) differs from the image's: grid corners "
            f"{offset:.2f} mm apart (tolerance {GEOMETRY_TOLERANCE_MM} mm)"
        )


def check_values(array: np.ndarray, allowed: Collection[int]) -> np.ndarray:
    """The distinct values of an integer-valued label, all among ``allowed``.

    Raises:
        ValueError: non-numeric, non-finite or non-integer values, or values outside ``allowed``.
    """
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"label voxels must be integers, got type {array.dtype}")
    values = np.unique(array)
    if np.issubdtype(values.dtype, np.floating):
        bad = values[~np.isfinite(values) | (values != np.round(values))]
        if bad.size:
            raise ValueError(f"label values must be integers, found {bad[:5].tolist()}")
    outside = sorted(set(values.astype(np.int64).tolist()) - set(int(v) for v in allowed))
    if outside:
        raise ValueError(f"label values {outside[:10]} are not among the allowed {sorted(allowed)}")
    return values.astype(np.int64)


def segment_value_map(label_info: object, labels: Mapping[str, int]) -> dict[int, int]:
    """File value -> app label value for a label saved by 3D Slicer's MONAI Label extension.

    Args:
        label_info: the save request's ``label_info``: a list of ``{"name": ..., "idx": ...}``,
            in the order the segments were exported (the k-th has file value k + 1).
        labels: the app's label names and values, e.g. ``{"gtv": 1, "heart": 2}``.

    Returns:
        {file value: app value}; background names map to 0.

    Raises:
        ValueError: not such a list, or a segment name the app does not know.
    """
    if not isinstance(label_info, Sequence) or isinstance(label_info, (str, bytes)):
        raise ValueError(f"label_info must be a list of {{'name', 'idx'}} objects, got {type(label_info).__name__}")
    by_name = {name.lower(): value for name, value in labels.items()}
    mapping = {}
    for position, segment in enumerate(label_info, start=1):
        name = segment.get("name") if isinstance(segment, Mapping) else None
        if not isinstance(name, str):
            raise ValueError(f"label_info[{position - 1}] must be an object with a string 'name', got {segment!r}")
        key = name.strip().lower()
        if key in BACKGROUND_NAMES:
            mapping[position] = 0
        elif key in by_name:
            mapping[position] = by_name[key]
        else:
            raise ValueError(f"label_info names segment {name!r}, which is none of the app's labels {dict(labels)}")
    return mapping


def read_raw_label(path: str, grid: Grid) -> np.ndarray:
    """A raw labelmap file as an (X, Y, Z) uint8 array on ``grid``.

    The file holds one uint8 per voxel of ``grid``, i fastest, then j, then k (what OHIF's
    MONAI Label panel sends as ``label.bin``); it carries no geometry of its own.

    Raises:
        ValueError: the byte count is not the grid's voxel count.
    """
    raw = np.fromfile(str(path), dtype=np.uint8)
    voxels = int(np.prod(grid.shape))
    if raw.size != voxels:
        raise ValueError(f"raw label has {raw.size} voxels; the image has {list(grid.shape)} = {voxels} (X, Y, Z)")
    return raw.reshape(grid.shape, order="F")


def indexed_value_map(label_info: object, labels: Mapping[str, int]) -> dict[int, int]:
    """File value -> app label value when each ``label_info`` entry's ``idx`` IS its file value (OHIF).

    Raises:
        ValueError: not a list of ``{"name": str, "idx": int}``, or a name the app does not know.
    """
    if not isinstance(label_info, Sequence) or isinstance(label_info, (str, bytes)):
        raise ValueError(f"label_info must be a list of {{'name', 'idx'}} objects, got {type(label_info).__name__}")
    by_name = {name.lower(): value for name, value in labels.items()}
    mapping = {}
    for segment in label_info:
        name = segment.get("name") if isinstance(segment, Mapping) else None
        idx = segment.get("idx") if isinstance(segment, Mapping) else None
        if not isinstance(name, str) or not isinstance(idx, int) or isinstance(idx, bool) or not 0 < idx < 256:
            raise ValueError(f"label_info entries must be {{'name': str, 'idx': 1..255}}, got {segment!r}")
        key = name.strip().lower()
        if key not in BACKGROUND_NAMES and key not in by_name:
            raise ValueError(f"label_info names segment {name!r}, which is none of the app's labels {dict(labels)}")
        mapping[idx] = 0 if key in BACKGROUND_NAMES else by_name[key]
    return mapping


def remap(array: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """(X, Y, Z) uint8 label with each file value replaced by ``mapping[value]`` (0 stays 0).

    Raises:
        ValueError: a non-zero value that ``mapping`` does not cover.
    """
    values = check_values(array, [0, *mapping])
    out = np.zeros(array.shape, dtype=np.uint8)
    for value in values.tolist():
        if value:
            out[array == value] = mapping[value]
    return out


def write_label_like(array: np.ndarray, grid: Grid, path: str) -> None:
    """Write an (X, Y, Z) label with ``grid``'s geometry to ``path`` (format from its extension)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    spacing = np.linalg.norm(grid.affine[:3, :3], axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((grid.affine[:3, :3] / spacing).ravel().tolist())
    image.SetOrigin(grid.affine[:3, 3].tolist())
    sitk.WriteImage(image, str(path), useCompression=True)
