"""Write files so that no reader ever sees half of one: write a temporary file beside it, then rename.

``os.replace`` within one folder is atomic, so a server serving ``weights.pt`` or a datastore
file reads either the old file or the new one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file to ``path``.

    The temporary file keeps ``path``'s suffixes (``.nii.gz``...) so writers that choose a
    format by extension still do, and is made world-readable (``mkstemp`` makes it owner-only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix="".join(path.suffixes), dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_weights_atomic(state_dict: dict, path: str | Path, **extra: object) -> Path:
    """Save ``{"model": state_dict, **extra}`` (what MONAI Label's infer tasks load) atomically."""
    return write_atomically(path, lambda tmp: torch.save({"model": state_dict, **extra}, tmp))


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (to tell which weights a derived model was made for)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Temporary files of :func:`copy_atomically` end with this (no reader's pattern matches it).
PARTIAL_SUFFIX = ".partial"


def _replace_with(dest: Path, write: Callable[[object], object], mode: str) -> Path:
    """Write ``dest`` through a hidden ``.<name>.<random>.partial`` beside it: ``write(file)``,
    flush to disk, rename. A crash leaves at most such a file (see :func:`remove_partials`)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=PARTIAL_SUFFIX, dir=dest.parent)
    try:
        with os.fdopen(fd, mode) as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def copy_atomically(source: str | Path, dest: str | Path) -> Path:
    """Copy ``source`` to ``dest`` so that ``dest`` is always either absent/old or the whole new file.

    The hidden ``.partial`` name matches no datastore pattern such as ``*.nii.gz``.
    """

    def write(out) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)

    return _replace_with(Path(dest), write, "wb")


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a hidden ``.partial`` file and a rename."""
    return _replace_with(Path(path), lambda out: out.write(text), "w")


def remove_partials(folder: str | Path) -> list[Path]:
    """Delete the ``.partial`` files a crash left in ``folder`` and its subfolders; return them."""
    removed = sorted(Path(folder).rglob(f".*{PARTIAL_SUFFIX}"))
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
