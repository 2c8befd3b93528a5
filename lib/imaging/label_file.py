"""A label volume written cheaply: one pass over the voxels, only the structure's box reordered.

An answer is a small structure in a large volume (a GTV of a few thousand voxels in a 512 x
512 x 160 CT). Both formats written here store the voxels i fastest, then j, then k; a label
held (X, Y, Z) in C order (k fastest, as every array of this project) has to be reordered for
that. Done on the whole volume it costs more than the network pass; here only the rows (j) of
the label's boxes are reordered (16 k slices at a time: reading one k slice of a C-ordered box
touches a cache line per voxel), and the volume is written as runs: zeros, then the bytes from
a slice's first box voxel to its last (:func:`runs_i_fastest`). Compression is gzip level 1
(``zlib``, the same streams a ``.gz`` reader expects) or none: a label of mostly zeros
compresses almost as well at level 1 as at the default level 6, in a fraction of the time. A
``.nii.gz`` is a multi-member gzip file (RFC 1952 section 2.2: members one after another;
zlib's ``gzread``, which ITK and Slicer read NIfTI with, Python's ``gzip`` and nibabel read it
as one stream): each run of zeros is a few members compressed once per size and kept, and each
slice's label bytes one member, so a 512 x 512 x 160 answer costs the label's rows, not 40 MB
of deflate. An uncompressed file leaves its zeros as holes the file system fills. The caller
may name the boxes that hold the label (``boxes``), which spares the scan of the whole volume
for its bounding box.

Formats, by the file's suffix:

- ``.nii.gz`` (gzip level 1) and ``.nii`` (uncompressed): NIfTI-1, qform and sform both the
  RAS affine with code 1 (scanner), as ITK writes them (Slicer, ITK and nibabel read it alike);
- ``.nrrd``: NRRD 4 in LPS ``space directions`` (Slicer's and OHIF's reader), raw or gzip.
"""

from __future__ import annotations

import functools
import os
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import nibabel as nib
import numpy as np

from lib.imaging.boxes import Box, clip_box, is_empty, mask_box

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


def foreground_box(label: np.ndarray) -> Box | None:
    """The bounding box (i, j, k slices) of the non-zero voxels of an (X, Y, Z) label; None if all zero."""
    return mask_box(label)  # any() counts every non-zero value


#: k slices reordered at once (a 483 x 310 x 118 box here: one at a time 235 ms, 16 at a time 60 ms).
_K_CHUNK = 16


def check_boxes(label: np.ndarray, boxes: Sequence[Box] | None) -> list[Box]:
    """The boxes that hold every non-zero voxel of an (X, Y, Z) ``label``: ``boxes`` clipped to it
    (the caller's word, not checked voxel by voxel), or the label's :func:`foreground_box`.

    Raises:
        ValueError: a box that is not three unit-step slices.
    """
    if boxes is None:
        box = foreground_box(label)
        return [] if box is None else [box]
    clipped = []
    for box in boxes:
        if len(box) != 3 or any(not isinstance(b, slice) or b.step not in (None, 1) for b in box):
            raise ValueError(f"a box is three unit-step slices (i, j, k), got {box!r}")
        box = clip_box([b.start or 0 for b in box], [n if b.stop is None else b.stop for b, n in zip(box, label.shape)],
                       label.shape)
        if not is_empty(box):
            clipped.append(box)
    return clipped


def runs_i_fastest(label: np.ndarray, dtype: np.dtype, boxes: Sequence[Box] | None = None
                   ) -> Iterator[tuple[int, bytes]]:
    """The voxels of an (X, Y, Z) ``label`` as ``dtype`` bytes, i fastest then j then k, as runs:
    ``(zeros, data)`` pairs, ``zeros`` zero bytes followed by ``data``; in each k slice that holds
    the label, one pair per group of boxes whose rows (j ranges) overlap (``data``: from the
    group's first to its last byte in that slice), and a last pair ``(zeros, b"")`` for the zeros
    after the label. Their concatenation is the whole volume's bytes. Parts of an answer scattered
    across a study cost their own rows, not every row between them.

    Args:
        label: the label.
        dtype: the stored type.
        boxes: boxes that together hold every non-zero voxel (see :func:`check_boxes`); only
            they are read, 16 k slices at a time. Default: the label's bounding box (one scan
            of the volume).
    """
    if label.ndim != 3:
        raise ValueError(f"a label volume is (X, Y, Z), got shape {label.shape}")
    x, y, z = label.shape
    dtype = np.dtype(dtype)
    size = dtype.itemsize
    boxes = check_boxes(label, boxes)
    plane_bytes = x * y * size
    zeros = 0
    for first in range(0, z, _K_CHUNK):
        last = min(first + _K_CHUNK, z)
        active = [b for b in boxes if b[2].start < last and b[2].stop > first]
        if not active:
            zeros += (last - first) * plane_bytes
            continue
        spans = [_rows_of(label, group, first, last, dtype) for group in _row_groups(active)]
        for n in range(last - first):
            done = 0  # bytes of this slice written so far
            for lead, rows, covered in spans:
                if covered[n]:
                    data = rows[n]
                    yield zeros + lead - done, data
                    zeros, done = 0, lead + len(data)
            zeros += plane_bytes - done
    yield zeros, b""


def _row_groups(boxes: Sequence[Box]) -> list[list[Box]]:
    """``boxes`` grouped so that groups' j ranges do not overlap, in increasing j."""
    groups: list[list[Box]] = []
    stop = -1
    for box in sorted(boxes, key=lambda b: b[1].start):
        if groups and box[1].start < stop:
            groups[-1].append(box)
            stop = max(stop, box[1].stop)
        else:
            groups.append([box])
            stop = box[1].stop
    return groups


def _rows_of(label: np.ndarray, group: Sequence[Box], first: int, last: int, dtype: np.dtype
             ) -> tuple[int, list[bytes], np.ndarray]:
    """One group's bytes in k slices ``first`` to ``last`` (exclusive): the byte offset of its first
    voxel in a slice, each slice's bytes from there to its last voxel, and which slices it covers."""
    x = label.shape[0]
    size = dtype.itemsize
    j0, j1 = min(b[1].start for b in group), max(b[1].stop for b in group)
    i0, i1 = min(b[0].start for b in group), max(b[0].stop for b in group)
    rows = np.zeros((last - first, j1 - j0, x), dtype=dtype)  # (K, rows, X) in C order: i fastest
    covered = np.zeros(last - first, dtype=bool)
    for b in group:
        k0, k1 = max(b[2].start, first), min(b[2].stop, last)
        if k0 >= k1:
            continue
        part = np.ascontiguousarray(label[b[0], b[1], k0:k1])  # (X', Y', K'): runs along k are contiguous
        rows[k0 - first:k1 - first, b[1].start - j0:b[1].stop - j0, b[0]] = part.transpose(2, 1, 0)
        covered[k0 - first:k1 - first] = True
    lead = (j0 * x + i0) * size  # zero bytes of a slice before the group's first voxel
    span = ((j1 - j0 - 1) * x + i1 - i0) * size
    data = [rows[n].reshape(-1).view(np.uint8)[i0 * size:][:span].tobytes() if covered[n] else b""
            for n in range(last - first)]
    return lead, data, covered


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


#: The largest zero member kept (bytes); longer runs of zeros repeat it.
_ZERO_MEMBER_MAX = 1 << 20


@functools.lru_cache(maxsize=32)
def _zero_member(nbytes: int) -> bytes:
    """One gzip member holding ``nbytes`` zero bytes (compressed once per size, then kept)."""
    return zlib.compress(bytes(nbytes), GZIP_LEVEL, 16 + zlib.MAX_WBITS)  # 16+: a gzip member


def _zero_members(nbytes: int) -> Iterator[bytes]:
    """Gzip members holding ``nbytes`` zero bytes in all: the 1 MiB member repeated, then one kept
    member per set bit of the rest (at most 21 sizes are ever compressed)."""
    for _ in range(nbytes // _ZERO_MEMBER_MAX):
        yield _zero_member(_ZERO_MEMBER_MAX)
    rest = nbytes % _ZERO_MEMBER_MAX
    while rest:
        bit = rest & -rest
        yield _zero_member(bit)
        rest -= bit


def _write_gzip_members(out: BinaryIO, head: bytes, runs: Iterator[tuple[int, bytes]]) -> None:
    """``head`` (its own member), then each run's zeros as kept members (:func:`_zero_members`)
    and its data as one member: only the label's rows are ever compressed."""
    out.write(zlib.compress(head, GZIP_LEVEL, 16 + zlib.MAX_WBITS))
    for zeros, data in runs:
        for member in _zero_members(zeros):
            out.write(member)
        if data:
            out.write(zlib.compress(data, GZIP_LEVEL, 16 + zlib.MAX_WBITS))


def _write_body(out: BinaryIO, runs: Iterator[tuple[int, bytes]], gzip: bool) -> None:
    """The runs raw (zeros as a hole the file system fills with zeros) or as ONE gzip stream
    (NRRD's reader, teem, wants one)."""
    if not gzip:
        for zeros, data in runs:
            out.seek(zeros, os.SEEK_CUR)
            out.write(data)
        out.truncate()  # a trailing hole counts in the file's size
        return
    stream = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = memoryview(bytes(_ZERO_MEMBER_MAX))
    for zeros, data in runs:
        while zeros:
            step = min(zeros, _ZERO_MEMBER_MAX)
            out.write(stream.compress(block[:step]))
            zeros -= step
        out.write(stream.compress(data))
    out.write(stream.flush())


def write_label(label: np.ndarray, affine: np.ndarray, path: str | os.PathLike, dtype: str | np.dtype = "uint8",
                compress: bool | None = None, boxes: Sequence[Box] | None = None) -> Path:
    """Write an (X, Y, Z) label on the grid ``affine`` (4 x 4, voxel index -> RAS mm) to ``path``.

    Args:
        label: the label's class values (bool or integers; cast to ``dtype``).
        affine: voxel (i, j, k) to RAS millimetres, as MONAI and nibabel hold it.
        path: ends in ``.nii.gz``, ``.nii`` or ``.nrrd`` (the format).
        dtype: the stored type (``uint8`` unless a client asks otherwise).
        compress: NRRD only: gzip level 1 (default: raw, as MONAI Label writes NRRD); a
            ``.nii.gz`` is always gzip level 1 and a ``.nii`` never compressed.
        boxes: (i, j, k) boxes that together hold every non-zero voxel of ``label`` (the
            caller knows where its answer is; voxels outside them are written as 0); default:
            the label's bounding box.

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
    runs = runs_i_fastest(label, dtype, boxes)
    with open(path, "wb") as out:
        if suffix == ".nii.gz":  # gzip members: the header, the label's rows, zeros from kept members
            _write_gzip_members(out, header, runs)
        else:  # a NRRD header stays readable text, only its data may be compressed; a .nii is raw
            out.write(header)
            _write_body(out, runs, gzip)
    return path


def write_label_temporary(label: np.ndarray, affine: np.ndarray, suffix: str = ".nii.gz",
                          dtype: str | np.dtype = "uint8", compress: bool | None = None,
                          boxes: Sequence[Box] | None = None) -> str:
    """:func:`write_label` to a new temporary file with ``suffix``; its path (the caller removes it)."""
    handle, name = tempfile.mkstemp(suffix=suffix)
    os.close(handle)
    try:
        write_label(label, affine, name, dtype, compress, boxes)
    except BaseException:
        os.unlink(name)
        raise
    return name


__all__ = ["GZIP_LEVEL", "SUFFIXES", "Box", "check_boxes", "foreground_box", "runs_i_fastest",
           "suffix_of", "write_label", "write_label_temporary"]
