"""Uploaded files: copied to a private temporary folder under a name the server chooses, and
removed on every path (success, client error, server error).

Only the file name's suffix is taken from the client (``.nii.gz``, ``.nrrd``...), and only
from a list of accepted ones; the client's path and name are never used.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fastapi import HTTPException, UploadFile

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd")
LABEL_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd")
#: OHIF's raw labelmap (one uint8 per voxel of the image, i fastest), accepted where the route says so.
RAW_LABEL_SUFFIX = ".bin"
CHUNK_BYTES = 1 << 20


def upload_suffix(filename: str | None, accepted: Sequence[str], what: str, default: str = ".nii.gz") -> str:
    """The accepted suffix the client's file name ends with (``default`` when it sent none).

    Raises:
        HTTPException: 415 naming the accepted suffixes.
    """
    if not filename:
        return default
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for suffix in sorted(accepted, key=len, reverse=True):
        if base.endswith(suffix) and len(base) > len(suffix):
            return suffix
    raise HTTPException(status_code=415, detail=f"{what} file name must end with one of {list(accepted)}")


class UploadFolder:
    """A private folder for this server's uploads; every file in it belongs to one request."""

    def __init__(self, path: str | os.PathLike, max_bytes: int = 2 << 30) -> None:
        """Args: path: the folder (emptied now: what is there was left by a killed server);
        max_bytes: the largest upload accepted."""
        self.path = Path(path)
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        self.max_bytes = max_bytes

    def files(self) -> list[Path]:
        """The files now in the folder (for tests: none once every request has answered)."""
        return sorted(self.path.iterdir())

    @contextmanager
    def saved(self, upload: UploadFile, suffix: str, what: str) -> Iterator[Path]:
        """The upload copied to ``<folder>/<random><suffix>``; removed when the block ends.

        Raises:
            HTTPException: 413 when it is larger than ``max_bytes``, 400 when empty.
        """
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self.path)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                upload.file.seek(0)
                copied = 0
                while chunk := upload.file.read(CHUNK_BYTES):
                    copied += len(chunk)
                    if copied > self.max_bytes:
                        raise HTTPException(status_code=413, detail=f"{what} is larger than {self.max_bytes} bytes")
                    out.write(chunk)
            if copied == 0:
                raise HTTPException(status_code=400, detail=f"{what} file is empty")
            yield path
        finally:
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
