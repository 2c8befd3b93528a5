"""Atomic writes: readers see the old file or the new one, never a half-written one."""

import stat

import pytest

from lib.atomic import write_atomically


def test_new_content_replaces_the_old_and_is_world_readable(tmp_path):
    path = tmp_path / "weights.nii.gz"
    path.write_text("old")
    write_atomically(path, lambda tmp: tmp.write_text("new"))
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044
    assert [p.name for p in tmp_path.iterdir()] == ["weights.nii.gz"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.pt"
    path.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, half_then_fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_temporary_file_keeps_the_suffixes_writers_choose_formats_by(tmp_path):
    seen = []
    write_atomically(tmp_path / "image.nii.gz", lambda tmp: (seen.append(tmp.name), tmp.write_text("x")))
    assert seen[0].endswith(".nii.gz")
