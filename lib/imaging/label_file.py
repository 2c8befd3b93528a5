"""A label volume written cheaply: one pass over the voxels, only the structure's box reordered.

An answer is a small structure in a large volume (a GTV of a few thousand voxels in a 512 x
512 x 160 CT). Both formats written here store the voxels i fastest, then j, then k; a label
held (X, Y, Z) in C order (k fastest, as every array of this project) has to be reordered for
that. Done on the whole volume it costs more than the network pass; here each k slice outside
the label's bounding box is one shared block of zeros, and only the box inside a slice is
reordered. Compression is gzip level 1 (``zlib``, the same streams a ``.gz`` reader expects)
or none: a label of mostly zeros compresses almost as well at level 1 as at the default level 6,
in a fraction of the time.

Formats, by the file's suffix:

- ``.nii.gz`` (gzip level 1) and ``.nii`` (uncompressed): NIfTI-1, qform and sform both the
  RAS affine with code 1 (scanner), as ITK writes them (Slicer, ITK and nibabel read it alike);
- ``.nrrd``: NRRD 4 in LPS ``space directions`` (Slicer's and OHIF's reader), raw or gzip.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import nibabel as nib
import numpy as np

SUFFIXES = (".nii.gz", ".nii", ".nrrd")
#: zlib level of a compressed answer (1: fastest; a label of zeros compresses well anyway).
GZIP_LEVEL = 1
_NRRD_TYPES = {"uint8": "uint8", "int8": "int8", "uint16": "uint16", "int16": "int16", "uint32": "uint32",
               "int32": "int32", "float32": "float", "float64": "double"}
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def suffix_of(path: str | os.PathLike | None, default: str = ".nii.gz") -> str:
    """The label suffix of ``path`` among :data:`SUFFIXES` (``.nii.gz`` before ``.nii``); ``default`` otherwise."""
    name = str(path or "").lower()
    return next((s for s in SUFFIXES if name.endswith(s)), default)


def foreground_box(label: np.ndarray) -> tuple[slice, slice, slice] | None:
    """The bounding box (i, j, k slices) of the non-zero voxels of an (X, Y, Z) label; None if all zero."""
    along_k = np.flatnonzero(label.any(axis=(0, 1)))
    if along_k.size == 0:
        return None
    inside = label[:, :, along_k[0]: along_k[-1] + 1]
    along_i = np.flatnonzero(inside.any(axis=(1, 2)))
    along_j = np.flatnonzero(inside.any(axis=(0, 2)))
    return (slice(along_i[0], along_i[-1] + 1), slice(along_j[0], along_j[-1] + 1),
            slice(along_k[0], along_k[-1] + 1))


def slices_i_fastest(label: np.ndarray, dtype: np.dtype) -> Iterator[bytes]:
    """The bytes of an (X, Y, Z) ``label`` as ``dtype``, i fastest then j then k, one k slice at a time.

    Slices without a non-zero voxel are one shared zero block; inside the foreground box only
    the box is cast and reordered.
    """
    if label.ndim != 3:
        raise ValueError(f"a label volume is (X, Y, Z), got shape {label.shape}")
    x, y, z = label.shape
    zeros = bytes(x * y * np.dtype(dtype).itemsize)
    box = foreground_box(label)
    for k in range(z):
        if box is None or not box[2].start <= k < box[2].stop:
            yield zeros
            continue
        plane = np.zeros((y, x), dtype=dtype)  # (Y, X) in C order: i fastest
        plane[box[1], box[0]] = label[box[0], box[1], k].T
        yield plane.tobytes()


def nifti_header(shape: tuple[int, int, int], affine: np.ndarray, dtype: np.dtype) -> bytes:
    """A single-file NIfTI-1 header (348 bytes and the 4-byte empty extension flag): data at byte 352."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=1)
    header.set_xyzt_units("mm")
    header["vox_offset"] = 352
    return header.binaryblock + b"\x00" * 4


def nrrd_header(shape: tuple[int, int, int], affine: np.ndarray, dtype: np.dtype, gzip: bool) -> bytes:
    """An attached-data NRRD 4 header: ``space directions`` are the columns of the LPS affine (mm per voxel step)."""
    name = _NRRD_TYPES.get(np.dtype(dtype).name)
    if name is None:
        raise ValueError(f"NRRD cannot hold {np.dtype(dtype).name}; one of {sorted(_NRRD_TYPES)}")
    lps = _RAS_TO_LPS @ np.asarray(affine, dtype=np.float64)
    vector = lambda v: "(" + ",".join(repr(float(c)) for c in v) + ")"  # noqa: E731
    lines = [
        "NRRD0004",
        f"type: {name}",
        "dimension: 3",
        "space: left-posterior-superior",
        "sizes: " + " ".join(str(int(n)) for n in shape),
        "space directions: " + " ".join(vector(lps[:3, a]) for a in range(3)),
        "kinds: domain domain domain",
        "endian: little",
        f"encoding: {'gzip' if gzip else 'raw'}",
        "space origin: " + vector(lps[:3, 3]),
    ]
    return ("\n".join(lines) + "\n\n").encode("ascii")


def _write_body(out: BinaryIO, blocks: Iterator[bytes], gzip: bool) -> None:
    if not gzip:
        for block in blocks:
            out.write(block)
        return
    stream = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: a gzip member
    for block in blocks:
        out.write(stream.compress(block))
    out.write(stream.flush())


def write_label(label: np.ndarray, affine: np.ndarray, path: str | os.PathLike, dtype: str | np.dtype = "uint8",
                compress: bool | None = None) -> Path:
    """Write an (X, Y, Z) label on the grid ``affine`` (4 x 4, voxel index -> RAS mm) to ``path``.

    Args:
        label: the label's class values (bool or integers; cast to ``dtype``).
        affine: voxel (i, j, k) to RAS millimetres, as MONAI and nibabel hold it.
        path: ends in ``.nii.gz``, ``.nii`` or ``.nrrd`` (the format).
        dtype: the stored type (``uint8`` unless a client asks otherwise).
        compress: NRRD only: gzip level 1 (default: raw, as MONAI Label writes NRRD); a
            ``.nii.gz`` is always gzip level 1 and a ``.nii`` never compressed.

    Raises:
        ValueError: another suffix, a label that is not 3D, or a type NRRD lacks.
    """
    path = Path(path)
    suffix = suffix_of(path, default="")
    if not suffix:
        raise ValueError(f"a label file ends in one of {list(SUFFIXES)}, got {path.name!r}")
    dtype = np.dtype(dtype)
    label = np.asarray(label)
    if label.ndim != 3:
        raise ValueError(f"a label volume is (X, Y, Z), got shape {label.shape}")
    shape = tuple(int(n) for n in label.shape)
    if suffix == ".nrrd":
        gzip = bool(compress)
        header = nrrd_header(shape, affine, dtype, gzip)
    else:
        gzip = suffix == ".nii.gz"
        header = nifti_header(shape, affine, dtype)
    with open(path, "wb") as out:
        if suffix == ".nrrd":  # the header stays readable text; only the data may be compressed
            out.write(header)
            _write_body(out, slices_i_fastest(label, dtype), gzip)
        else:  # a .nii.gz is one gzip stream of header and data
            _write_body(out, itertools.chain([header], slices_i_fastest(label, dtype)), gzip)
    return path


def write_label_temporary(label: np.ndarray, affine: np.ndarray, suffix: str = ".nii.gz",
                          dtype: str | np.dtype = "uint8", compress: bool | None = None) -> str:
    """:func:`write_label` to a new temporary file with ``suffix``; its path (the caller removes it)."""
    handle, name = tempfile.mkstemp(suffix=suffix)
    os.close(handle)
    try:
        write_label(label, affine, name, dtype, compress)
    except BaseException:
        os.unlink(name)
        raise
    return name


__all__ = ["GZIP_LEVEL", "SUFFIXES", "foreground_box", "suffix_of", "write_label", "write_label_temporary"]
