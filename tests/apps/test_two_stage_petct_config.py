"""``--conf two_stage_modality petct``: the 2S-ICR config defaults to the shipped PET-CT stages."""

from __future__ import annotations

import os

from apps.radiotherapy.configs.two_stage import (
    SHIPPED_PETCT_REFINEMENT,
    SHIPPED_PETCT_STAGE1,
    SHIPPED_STAGE1,
    TwoStageConfig,
)


def config(tmp_path, **conf) -> TwoStageConfig:
    task = TwoStageConfig()
    task.init("two_stage", str(tmp_path), conf, None)
    return task


def test_petct_defaults_to_the_petct_stages_and_ct_keeps_its_own(tmp_path):
    petct = config(tmp_path, two_stage_modality="petct")
    assert petct.channels == 2
    assert petct.stage1 == [str(SHIPPED_PETCT_STAGE1)]
    assert petct.refinement[0] == str(SHIPPED_PETCT_REFINEMENT) and not petct.ensemble
    ct = config(tmp_path)
    assert ct.channels == 1 and ct.stage1 == [str(SHIPPED_STAGE1)]


def test_listed_members_still_win_on_petct(tmp_path):
    task = config(tmp_path, two_stage_modality="petct", two_stage_stage1="a.pt,b.pt", two_stage_refinement="c.pt,d.pt")
    absolute = [os.path.abspath(p) for p in ("a.pt", "b.pt", "c.pt", "d.pt")]
    assert task.stage1 == absolute[:2] and task.refinement == absolute[2:] and task.ensemble


def test_relative_weights_keep_their_meaning_when_the_working_directory_changes(tmp_path, monkeypatch):
    """ITK's lazy import changes the working directory for a moment in whichever thread touches it
    first: a relative weights path checked then made 2S-ICR vanish from /info (CI, stop 21)."""
    monkeypatch.chdir(SHIPPED_STAGE1.parents[2])  # the repository, where the shipped paths are relative
    relative = os.path.relpath(SHIPPED_STAGE1)
    task = config(tmp_path, two_stage_stage1=relative, two_stage_refinement=relative)
    served = task.infer()["two_stage"]
    assert served.is_valid()
    monkeypatch.chdir(tmp_path)
    assert served.is_valid() and task.stage1 == [str(SHIPPED_STAGE1)]
