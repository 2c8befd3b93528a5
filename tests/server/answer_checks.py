"""What every answer's JSON must say about its cost: ``stages_ms`` (infers/answer.py), not timing values."""

from __future__ import annotations

STAGES = ("prepare", "network", "post", "write")


def assert_stage_times(result: dict) -> None:
    """``stages_ms`` has the four stages and the total, none negative, the stages summing to at most the total."""
    stages = result["stages_ms"]
    assert set(stages) == {*STAGES, "total"}, stages
    assert all(stages[k] >= 0 for k in stages), stages
    assert sum(stages[k] for k in STAGES) <= stages["total"], stages
    assert "latencies" in result  # MONAI Label's own split stays beside it
