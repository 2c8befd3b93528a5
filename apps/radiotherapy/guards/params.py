"""Checks on the JSON a client sends as ``params`` (infer, train, strategies, scoring).

- :func:`json_object`: the form field parses as a JSON object (not a list, string, number, null).
- :func:`check_no_paths`: no string anywhere in it names a server path (``/``, ``\\``, ``~``
  at the start, or ``..``): inference runs only on datastore images, sessions and uploads.
- :func:`check_infer_params`: the keys MONAI Label and every click model of this app share
  have their types: click indices are integers, flags are booleans,
  ``image``/``label`` cannot be set from params, result format and device are from a list.
Each raises ``ValueError`` naming the key and what it got.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from lib.names import check_name

#: Keys only the server sets (a client's value could name a server file).
SERVER_KEYS = ("image", "image_path", "session", "description", "pred", "result_file")
FLAGS = ("reset", "use_cache", "save_label")
RESULT_EXTENSIONS = (".nii.gz", ".nii", ".nrrd")
RESULT_DTYPES = ("uint8", "uint16", "int16", "int32", "float32")
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def json_object(text: str | None, what: str = "params") -> dict[str, Any]:
    """``text`` parsed as a JSON object (empty text is ``{}``)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(value).__name__} {text[:80]!r}")
    return value


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith("~") or ".." in text or "\x00" in text


def check_no_paths(value: object, where: str = "params") -> None:
    """Raise if a string in ``value`` (searched through dicts and lists) looks like a path."""
    if isinstance(value, str):
        if _looks_like_path(value):
            raise ValueError(f"{where} must not name a server path, got {value[:120]!r}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_no_paths(str(key), f"{where} key")
            check_no_paths(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for n, item in enumerate(value):
            check_no_paths(item, f"{where}[{n}]")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fractional_or_bool(value: object) -> bool:
    """A boolean, or a finite number with a fractional part (NaN and inf are the parser's to name)."""
    if isinstance(value, bool):
        return True
    return isinstance(value, float) and math.isfinite(value) and value != int(value)


def check_clicks(value: object, key: str) -> None:
    """Refuse [i, j, k] points with fractional or boolean indices.

    The click models' own parser answers everything else about clicks (not a list, not a point,
    outside the image) with its own 422; this only adds what it lets through.
    """
    if not isinstance(value, list):
        return
    for n, point in enumerate(value):
        if isinstance(point, list) and any(_fractional_or_bool(c) for c in point):
            raise ValueError(f"params.{key}[{n}] must be [i, j, k] integer voxel indices, got {point!r}")


def check_flag(value: object, key: str) -> None:
    if isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false")):
        return
    raise ValueError(f"params.{key} must be true or false, got {value!r}")


def check_infer_params(params: Mapping[str, Any], labels: Mapping[str, int]) -> None:
    """The shared infer keys (see the module doc); ``labels`` are the app's label names."""
    for key in SERVER_KEYS:
        if key in params:
            raise ValueError(f"params.{key} cannot be set by a client (name the image in the URL or upload it)")
    if "label" in params and params["label"] not in labels:
        raise ValueError(
            f"params.label must be one of the app's label names {sorted(labels)}, got {params['label']!r}; "
            "upload a label file as the request's 'label' field"
        )
    for key in ("foreground", "background", *labels):
        if key in params:
            check_clicks(params[key], key)
    for key in FLAGS:
        if key in params:
            check_flag(params[key], key)
    if "label_tag" in params:
        check_name(params["label_tag"], "params.label_tag")
    if "result_extension" in params and params["result_extension"] not in RESULT_EXTENSIONS:
        raise ValueError(f"params.result_extension must be one of {list(RESULT_EXTENSIONS)}")
    if "result_dtype" in params and params["result_dtype"] not in RESULT_DTYPES:
        raise ValueError(f"params.result_dtype must be one of {list(RESULT_DTYPES)}")
    if "device" in params and not (isinstance(params["device"], str) and _DEVICE.fullmatch(params["device"])):
        raise ValueError(f"params.device must be 'cpu' or 'cuda[:n]', got {params['device']!r}")
