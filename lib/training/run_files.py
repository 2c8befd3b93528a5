"""The checkpoint and run-file bookkeeping of a training loop, in one place.

- :class:`BestCheckpoint`: keeps the best validation score, its step and result, and writes
  the network's weights to ``weights.pt`` (``{"model": state_dict, **meta}``, temp + rename)
  the moment the score improves, so a server reading the file never sees half of one and a
  run cut short still leaves its best weights. :meth:`BestCheckpoint.record` also keeps the
  validation rows (``history``, marked ``"best"``) and prints each as a JSON line.
  :meth:`BestCheckpoint.write_current` writes the network as it is now (``last.pt``) with the
  same entries.
- :func:`write_run_files`: ``metrics.json`` and ``MODEL_CARD.md`` at the end of a run, each
  atomically, the card written by the method's own card writer (``write_card(metrics, path)``,
  a plain write) from the metrics; other names for trainers that publish under a model's name.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import torch

from lib.atomic import save_weights_atomic, write_atomically


class BestCheckpoint:
    """The best checkpoint so far of one run.

    Args:
        path: where the best weights go (e.g. ``out / "weights.pt"``).
        meta: extra entries stored beside ``"model"`` (architecture, guidance, intensity policy...).
        keep_state: also keep a copy of the best state dict in memory (``state``).
    """

    def __init__(self, path: str | Path, meta: dict | None = None, keep_state: bool = False) -> None:
        self.path = Path(path)
        self.meta = dict(meta or {})
        self.keep_state = keep_state
        self.score = float("-inf")
        self.step = 0
        self.validation: dict | None = None
        self.state: dict | None = None
        self.history: list[dict] = []

    def offer(self, network: torch.nn.Module, score: float, step: int, validation: dict | None = None) -> bool:
        """Record a validation; write the weights when ``score`` beats the best so far.

        Returns:
            True when this was a new best (and the file was written).
        """
        if not score > self.score:
            return False
        state = copy.deepcopy(network.state_dict())
        save_weights_atomic(state, self.path, **self.meta)
        self.score, self.step, self.validation = float(score), int(step), validation
        self.state = state if self.keep_state else None
        return True

    def record(
        self, network: torch.nn.Module, row: dict, score: float, step: int, validation: dict | None = None
    ) -> bool:
        """:meth:`offer`, then ``row`` (with ``"best": True`` on a new best) appended to ``history``
        and printed as one JSON line.

        Returns:
            True when this was a new best.
        """
        improved = self.offer(network, score, step, validation)
        if improved:
            row["best"] = True
        self.history.append(row)
        print(json.dumps(row), flush=True)
        return improved

    def write_current(self, network: torch.nn.Module, path: str | Path) -> Path:
        """Write the network's weights as they are now to ``path``, with ``meta`` (e.g. ``last.pt``)."""
        return save_weights_atomic(copy.deepcopy(network.state_dict()), path, **self.meta)


def write_run_files(
    out: str | Path,
    metrics: dict,
    write_card: Callable[[dict, Path], object],
    metrics_name: str = "metrics.json",
    card_name: str = "MODEL_CARD.md",
) -> dict[str, Path]:
    """``out/metrics.json`` (indented JSON) and ``out/MODEL_CARD.md`` (``write_card(metrics, path)``), atomically.

    Returns:
        ``{"metrics": path, "card": path}``.
    """
    out = Path(out)
    metrics_path = write_atomically(out / metrics_name, lambda tmp: tmp.write_text(json.dumps(metrics, indent=2)))
    card_path = write_atomically(out / card_name, lambda tmp: write_card(metrics, tmp))
    return {"metrics": metrics_path, "card": card_path}


__all__ = ["BestCheckpoint", "write_run_files"]
