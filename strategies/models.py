"""Which weights a model name serves (the newest existing file of its list, as MONAI Label's
infer tasks choose) and the networks of its uncertainty ensemble."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch

from lib.active_learning.record import model_version
from lib.segmentation.evaluate import load_network


class ServedModels:
    """Model name -> candidate weights files, oldest first (e.g. shipped, then server-trained).

    Args:
        paths: ``{"segmentation": [shipped, trained], "online": [best.pt]}``.
    """

    def __init__(self, paths: Mapping[str, Sequence[str]]) -> None:
        self.paths = {name: list(p) for name, p in paths.items()}
        self._networks: dict[tuple, torch.nn.Module] = {}

    def weights(self, model: str) -> str | None:
        """The served weights of ``model`` (last existing of its list), None without any.

        Raises:
            ValueError: an unknown model name (named with the known ones).
        """
        if model not in self.paths:
            raise ValueError(f"unknown model {model!r} for uncertainty; known: {sorted(self.paths)}")
        return next((p for p in reversed(self.paths[model]) if os.path.exists(p)), None)

    def version(self, model: str) -> str | None:
        """:func:`lib.active_learning.record.model_version` of the served weights, or None."""
        weights = self.weights(model)
        return model_version(weights) if weights else None

    def network(self, model: str) -> torch.nn.Module:
        """The served network (loaded once per weights version)."""
        weights = self.weights(model)
        if weights is None:
            raise ValueError(f"model {model!r} has no weights yet")
        key = (model, weights, self.version(model))
        if key not in self._networks:
            self._networks = {k: v for k, v in self._networks.items() if k[0] != model}
            self._networks[key] = load_network(weights)
        return self._networks[key]
