"""The slice ranker: which slice's edit, once propagated, is expected to gain most (NOT served).

Measured and not adopted: fit on 40 phantoms (seeds 824-863), it recovered 0.34 of the
oracle's gain over random on the 24 validation phantoms (800-823), where the served rule
(``scores.suggestion_scores``) recovers 0.57; fit leaving one phantom out over all 64, 0.27
against the served rule's 0.36 (``results/slice_suggestion_rules/README.md``). Kept as the
tool to try richer features with (``lib.active_learning.fit_slice_ranker``).

A linear score of the slice's features (:mod:`lib.active_learning.slice_features`: what the
automatic model's test-time-augmentation ensemble believes about the label on that slice and
its neighbours), fit by ridge regression to what slice-edit propagation actually gained: per
training image, every candidate slice's whole-volume DSC after one propagated edit there
(a gain table, ``lib.active_learning.slice_gain_table``), standardised within the image
(only the order of an image's slices matters). The ranker never reads the truth when it
serves; the truth only made its training targets, on phantoms held apart from the
validation and test phantoms (``lib.active_learning.fit_slice_ranker``).

Candidates are the slices where the label holds the structure or the ensemble's mean
probability exceeds :data:`SEEN_PROBABILITY` somewhere; every other slice scores 0. A
candidate's score is ``exp(w . z)`` (``z`` the standardised features): positive, ordered as the
expected gain, and summed over structures when several are ranked together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lib.active_learning.scores import check_structures
from lib.active_learning.slice_features import FEATURES, slice_features
from lib.atomic import write_atomically

#: Mean probability above which a slice is one the model sees the structure on.
SEEN_PROBABILITY = 0.05

@dataclass(frozen=True)
class SliceRanker:
    """Standardisation and weights of the linear slice score.

    Attributes:
        mean, scale: (F,) feature means and standard deviations over the training slices.
        weights: (F,) the ridge weights on the standardised features.
        features: the feature names, as :data:`FEATURES` when fit.
        info: how it was fit (command, data, ridge, validation), kept with the weights.
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    features: tuple[str, ...] = FEATURES
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if tuple(self.features) != FEATURES:
            raise ValueError(f"ranker features {list(self.features)} differ from this code's {list(FEATURES)}")
        for name in ("mean", "scale", "weights"):
            if np.asarray(getattr(self, name)).shape != (len(FEATURES),):
                raise ValueError(f"ranker {name} must hold {len(FEATURES)} values")

    def linear(self, features: np.ndarray) -> np.ndarray:
        """(N,) the linear score ``w . z`` of (N, F) features."""
        return ((np.asarray(features, np.float64) - self.mean) / self.scale) @ self.weights

    def to_json(self) -> dict:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "info": self.info}

    @classmethod
    def from_json(cls, data: dict) -> SliceRanker:
        return cls(np.asarray(data["mean"], np.float64), np.asarray(data["scale"], np.float64),
                   np.asarray(data["weights"], np.float64), tuple(data["features"]), dict(data.get("info", {})))


def load_ranker(path: str | Path) -> SliceRanker:
    """The ranker saved at ``path`` (JSON written by :func:`save_ranker`)."""
    return SliceRanker.from_json(json.loads(Path(path).read_text()))


def save_ranker(ranker: SliceRanker, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(ranker.to_json(), indent=1) + "\n"))


def standardised_gains(dsc: np.ndarray) -> np.ndarray:
    """(n,) one image's DSC after an edit on each candidate, minus their mean, over their spread (+ 1e-3)."""
    dsc = np.asarray(dsc, np.float64)
    return (dsc - dsc.mean()) / (dsc.std() + 1e-3)


def fit_ranker(images: Sequence[tuple[np.ndarray, np.ndarray]], ridge: float, info: dict | None = None) -> SliceRanker:
    """Ridge regression of standardised gains on standardised features.

    Args:
        images: per training image, its candidates' (n, F) features and (n,) DSC after one
            propagated edit on each.
        ridge: the L2 penalty (>= 0) on the weights of the standardised features.
    """
    if ridge < 0 or not images:
        raise ValueError(f"need at least one image and ridge >= 0, got {len(images)} and {ridge}")
    x = np.concatenate([np.asarray(f, np.float64) for f, _ in images])
    y = np.concatenate([standardised_gains(d) for _, d in images])
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / scale
    weights = np.linalg.solve(z.T @ z + ridge * np.eye(z.shape[1]), z.T @ y)
    return SliceRanker(mean, scale, weights, FEATURES, dict(info or {}, ridge=ridge, images=len(images),
                                                            slices=len(y)))


def seen_slices(probability: np.ndarray, label: np.ndarray, axis: int, structure: int) -> np.ndarray:
    """(N,) bool: slices along ``axis`` where ``label`` (X, Y, Z) holds ``structure`` or ``probability``
    (X, Y, Z) exceeds :data:`SEEN_PROBABILITY`."""
    seen = (np.asarray(label) == structure) | (np.asarray(probability) > SEEN_PROBABILITY)
    return np.moveaxis(seen, axis, 0).reshape(seen.shape[axis], -1).any(1)


def ranked_scores(probabilities: np.ndarray, label: np.ndarray, axis: int, structures: Sequence[int],
                  ranker: SliceRanker) -> np.ndarray:
    """(N,) float64 per-slice scores along ``axis`` (module doc): 0 off the candidates.

    Args:
        probabilities: (C, X, Y, Z) the ensemble's mean class probabilities.
        label: (X, Y, Z) the label to be edited (the user's or the model's).
        axis: slice axis 0, 1 or 2.
        structures: class values ranked (summed).
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 4 or probabilities.shape[1:] != np.asarray(label).shape:
        raise ValueError(f"probabilities {probabilities.shape} must be (C, *label shape {np.asarray(label).shape})")
    out = np.zeros(probabilities.shape[1 + axis])
    for c in check_structures(structures, probabilities.shape[0]):
        linear = ranker.linear(slice_features(probabilities[c], label, axis, c))
        out += np.where(seen_slices(probabilities[c], label, axis, c), np.exp(np.clip(linear, -30.0, 30.0)), 0.0)
    return out
