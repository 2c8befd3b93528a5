"""What the server's JSON answers say, for the module's panel: propagation reports, slice suggestions.

The propagation report shows every key the server returns, generically: the keys that
matter to a user first (which path answered, why, what changed, seconds), then the rest;
MONAI Label's own bookkeeping (label names, centroids) is left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

#: Shown first, in this order, when the answer has them.
FIRST_KEYS = ("path", "reason", "changed", "seconds", "fusion")
#: MONAI Label adds these to every answer; they say nothing about this one.
HIDDEN_KEYS = ("label_names", "centroids")
#: Words in the path / fusion / reason that say the preferred path did not answer.
FALLBACK_WORDS = ("fallback", "fell back", "direct", "off:", "paste")


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def report_lines(result: Mapping[str, Any], request_seconds: Optional[float] = None) -> List[str]:
    """``key: value`` lines for every key of a propagation answer, the important ones first."""
    keys = [k for k in FIRST_KEYS if k in result] + sorted(k for k in result if k not in FIRST_KEYS)
    lines = []
    for key in keys:
        if key in HIDDEN_KEYS:
            continue
        value = result[key]
        if key == "latencies" and isinstance(value, Mapping) and "total" in value:
            lines.append(f"server seconds: {value['total']}")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            lines.append(f"{key}: {len(value)}")
            lines.extend(f"  {n + 1}. {_short(dict(v))}" for n, v in enumerate(value))
        else:
            lines.append(f"{key}: {_short(value)}")
    if request_seconds is not None:
        lines.append(f"round trip: {request_seconds:.2f} s")
    return lines


def fallback_note(result: Mapping[str, Any]) -> Optional[str]:
    """A warning when the answer says a fallback path answered (words in path / fusion / reason), else None."""
    for key in ("path", "fusion", "reason"):
        value = result.get(key)
        if isinstance(value, str) and any(word in value.lower() for word in FALLBACK_WORDS):
            return f"not the preferred path: {key} = {value}"
    if result.get("fallback"):
        return f"fallback: {_short(result['fallback'])}"
    return None


@dataclass(frozen=True)
class Suggestion:
    """The server's ranked slices to check: ``slices`` as (index, score), best first, across IJK ``axis``."""

    axis: int
    slices: List[tuple]

    @property
    def best(self) -> tuple:
        """(index, score) of the best slice."""
        return self.slices[0]


def parse_suggestion(result: Mapping[str, Any], shape_ijk: Sequence[int], exclude: Sequence[int] = ()) -> Suggestion:
    """A :class:`Suggestion` from a ``slice_suggestion`` answer ``{"axis": a, "slices": [{"index", "score"}]}``.

    Raises:
        ValueError: the answer is not of that form, names a slice outside the volume, or
            suggests nothing that was not already edited.
    """
    if "slices" not in result and isinstance(result.get("result"), Mapping):
        result = result["result"]  # an answer that wraps the task's result
    axis, entries = result.get("axis"), result.get("slices")
    if axis not in (0, 1, 2) or not isinstance(entries, list):
        raise ValueError(f"the server's suggestion is not {{'axis': 0..2, 'slices': [...]}}: {_short(dict(result))}")
    slices = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("index"), int):
            raise ValueError(f"a suggested slice is not {{'index': int, 'score': number}}: {_short(entry)}")
        index = int(entry["index"])
        if not 0 <= index < shape_ijk[axis]:
            raise ValueError(f"the server suggested slice {index}, outside 0..{shape_ijk[axis] - 1} of axis {axis}")
        if index not in exclude:
            slices.append((index, float(entry.get("score", float("nan")))))
    if not slices:
        raise ValueError("the server suggested no slice that was not already edited")
    return Suggestion(int(axis), slices)


def offers(info: Mapping[str, Any], model: str) -> bool:
    """Whether ``/info`` lists the infer task ``model``."""
    return model in (info.get("models") or {})


def propagation_models(info: Mapping[str, Any]) -> List[str]:
    """The server's slice-propagation tasks in ``/info`` (``slice_propagation`` first)."""
    models = info.get("models") or {}
    names = [n for n in models if "propagation" in n.lower()]
    return sorted(names, key=lambda n: (n != "slice_propagation", n))


def model_labels(info: Mapping[str, Any], model: str) -> Dict[str, int]:
    """``{label name: value}`` of ``model`` (a list of names means values 1, 2, ...)."""
    labels = ((info.get("models") or {}).get(model) or {}).get("labels") or info.get("labels") or {}
    if isinstance(labels, Mapping):
        return {str(k): int(v) for k, v in labels.items()}
    return {str(name): n + 1 for n, name in enumerate(labels)}


__all__ = [
    "Suggestion", "fallback_note", "model_labels", "offers", "parse_suggestion", "propagation_models", "report_lines",
]
