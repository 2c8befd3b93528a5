"""Segmenter names the evaluation command knows, and how to make each.

A factory is a callable returning an :class:`lib.evaluation.protocol.InteractiveSegmenter`,
or a ``"package.module:attribute"`` string naming one, imported only when asked for (so a
method's heavy imports, e.g. a network, cost nothing until it is evaluated). A method adds
itself with :func:`register_segmenter`, or the command line names it directly as
``--methods package.module:attribute``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

from lib.evaluation.protocol import InteractiveSegmenter

SegmenterFactory = Callable[..., InteractiveSegmenter]

_FACTORIES: dict[str, SegmenterFactory | str] = {
    "random_walker": "lib.evaluation.baselines.random_walker:RandomWalkerSegmenter",
    "graph_cut": "lib.evaluation.baselines.graph_cut:GraphCutSegmenter",
    "gaussian_click_2d": "lib.gaussian_click.segmenter:gaussian_click_2d",
    "gaussian_click_3d": "lib.gaussian_click.segmenter:gaussian_click_3d",
    "remote": "lib.evaluation.remote:RemoteSegmenter",
    "two_stage_ct": "lib.two_stage.segmenter:two_stage_ct",
    "two_stage_ct_stage1": "lib.two_stage.segmenter:two_stage_ct_stage1",
    "two_stage_ct_whole_answer_box": "lib.two_stage.segmenter:two_stage_ct_whole_answer_box",
    "two_stage_ct_near_30": "lib.two_stage.segmenter:two_stage_ct_near_30",
    "two_stage_ct_ensemble": "lib.two_stage.segmenter:two_stage_ct_ensemble",
    "two_stage_ct_p02": "lib.two_stage.segmenter:two_stage_ct_p02",
    "two_stage_ct_scratch": "lib.two_stage.segmenter:two_stage_ct_scratch",
    "two_stage_petct": "lib.two_stage.segmenter:two_stage_petct",
    "two_stage_petct_stage1": "lib.two_stage.segmenter:two_stage_petct_stage1",
    "two_stage_petct_ensemble": "lib.two_stage.segmenter:two_stage_petct_ensemble",
    "two_stage_petct_p02": "lib.two_stage.segmenter:two_stage_petct_p02",
    "deepedit_petct_p00": "lib.deepedit.segmenter:deepedit_petct_p00",
    "deepedit_petct_p25": "lib.deepedit.segmenter:deepedit_petct_p25",
    "deepedit_petct_p50": "lib.deepedit.segmenter:deepedit_petct_p50",
    "din": "lib.din.segmenter:din",
    "din_window": "lib.din.segmenter:din_window",
    "din_exp_short": "lib.din.segmenter:din_exp_short",
    "din_edt_short": "lib.din.segmenter:din_edt_short",
    "din_gdt_short": "lib.din.segmenter:din_gdt_short",
    "din_input_only_short": "lib.din.segmenter:din_input_only_short",
    "din_stir": "lib.din.segmenter:din_stir",
    "universal_click_3d": "lib.universal_click.segmenter:universal_click_3d",
    "universal_click_gc": "lib.universal_click.segmenter:universal_click_gc",
    "universal_click_gc_whole": "lib.universal_click.segmenter:universal_click_gc_whole",
}


def register_segmenter(name: str, factory: SegmenterFactory | str, replace: bool = False) -> None:
    """Make ``name`` known to :func:`make_segmenter`.

    Raises:
        ValueError: ``name`` is already registered and ``replace`` is False.
    """
    if name in _FACTORIES and not replace:
        raise ValueError(f"segmenter {name!r} is already registered")
    _FACTORIES[name] = factory


def registered_names() -> list[str]:
    """The registered segmenter names, sorted."""
    return sorted(_FACTORIES)


def _resolve(spec: str) -> SegmenterFactory:
    """Import ``"package.module:attribute"``."""
    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        raise ValueError(f"a segmenter factory path must be 'package.module:attribute', got {spec!r}")
    return getattr(importlib.import_module(module), attribute)


def _accepted(factory: SegmenterFactory, options: dict) -> dict:
    """The subset of ``options`` that ``factory``'s signature takes (all if it takes **kwargs)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return options
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return options
    return {k: v for k, v in options.items() if k in parameters}


def make_segmenter(name: str, **options: object) -> InteractiveSegmenter:
    """A new segmenter by registered name or ``"package.module:attribute"`` path.

    Args:
        name: a registered name or a factory path.
        options: keyword options; each factory gets those its signature accepts.

    A name ending in ``@bfloat16`` (or ``@float32``) is that method with its networks in that
    format (:mod:`lib.evaluation.precision`).

    Raises:
        ValueError: an unknown name, listing the known ones; an unknown format.
    """
    from lib.evaluation.precision import InPrecision, split_precision

    name, precision = split_precision(name)
    if precision is not None:
        return InPrecision(make_segmenter(name, **options), precision)  # type: ignore[return-value]
    if name in _FACTORIES:
        factory = _FACTORIES[name]
    elif ":" in name:
        factory = name
    else:
        raise ValueError(f"unknown segmenter {name!r}; known: {', '.join(registered_names())} "
                         "(or give a factory as package.module:attribute)")
    factory = _resolve(factory) if isinstance(factory, str) else factory
    return factory(**_accepted(factory, {k: v for k, v in options.items() if v is not None}))
