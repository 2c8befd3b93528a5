"""The number format a network's forward pass runs in: float32, or bfloat16 autocast where the CPU has it.

On a CPU with AMX (Intel Sapphire Rapids and later: the ``amx_bf16`` flag) bfloat16 matrix
units run 3D convolutions 2-4x faster than float32 (``benchmarks/precision.py``). Under
``torch.autocast`` the convolutions take bfloat16 inputs and weights while normalisations and
reductions stay float32; the network's output is cast back to float32 before any sigmoid,
softmax or threshold. Whether a method keeps its accuracy that way is measured, per method, by
the evaluation harness in both formats (``python -m lib.evaluation --methods m,m@bfloat16``,
:mod:`lib.evaluation.precision`); the infer tasks default to what was measured (``infers/answer.py``).

A network carries its format as the attribute ``inference_precision`` (:func:`set_precision`);
one without it runs in the format of the environment variable ``RADIOTHERAPY_PRECISION``
(``float32`` when unset): how the harness evaluates a method in bfloat16 without touching its
code. Every forward pass of a click method goes through :func:`forward`.

Formats: ``float32``, ``bfloat16`` (autocast; on a CPU without bfloat16 units it is slower,
not wrong), ``auto`` (bfloat16 on a CPU device with ``amx_bf16``, float32 otherwise: CUDA
stays float32, not measured here).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16", "auto")
#: The environment variable giving the format of networks that carry none.
ENVIRONMENT = "RADIOTHERAPY_PRECISION"
ATTRIBUTE = "inference_precision"


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo``; empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def has_bfloat16_units() -> bool:
    """Whether this CPU has AMX bfloat16 tiles (where bfloat16 autocast pays)."""
    return "amx_bf16" in cpu_flags()


def resolve(precision: str, device: str | torch.device = "cpu") -> str:
    """``float32`` or ``bfloat16`` for a requested format on ``device`` (``auto`` decided here).

    Raises:
        ValueError: a format not among :data:`PRECISIONS` (named).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bfloat16" if torch.device(device).type == "cpu" and has_bfloat16_units() else "float32"


def set_precision(network: torch.nn.Module, precision: str, device: str | torch.device = "cpu") -> str:
    """Give ``network`` the format its forward passes run in (see :func:`resolve`); the format set."""
    chosen = resolve(precision, device)
    object.__setattr__(network, ATTRIBUTE, chosen)  # a plain attribute, not a module or buffer
    return chosen


def precision_of(network: torch.nn.Module) -> str:
    """The format ``network``'s forward passes run in: its own, else the environment's, else float32."""
    own = getattr(network, ATTRIBUTE, None)
    if own is not None:
        return own
    return resolve(os.environ.get(ENVIRONMENT, "float32"))


@contextmanager
def autocast_for(network: torch.nn.Module, device_type: str = "cpu") -> Iterator[None]:
    """bfloat16 autocast around a block when ``network`` runs in bfloat16; nothing otherwise."""
    if precision_of(network) == "bfloat16":
        with torch.autocast(device_type, dtype=torch.bfloat16):
            yield
    else:
        yield


def forward(network: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``network(inputs)`` in the network's format, as float32."""
    with autocast_for(network, inputs.device.type):
        output = network(inputs)
    return output.float()


__all__ = ["ENVIRONMENT", "PRECISIONS", "autocast_for", "cpu_flags", "forward", "has_bfloat16_units",
           "precision_of", "resolve", "set_precision"]
