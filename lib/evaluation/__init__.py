"""The interactive evaluation harness: one protocol for every method, simulated users, reports.

- :class:`Case`, :class:`InteractiveSegmenter` (:mod:`lib.evaluation.protocol`)
- :func:`case_from_phantom`, :func:`phantom_cases` (:mod:`lib.evaluation.cases`)
- :func:`run_session`, :func:`replay_session`, :func:`evaluate` (:mod:`lib.evaluation.harness`)
- :func:`summarise` (:mod:`lib.evaluation.summary`), :func:`write_report` (:mod:`lib.evaluation.report`)
- :func:`make_segmenter`, :func:`register_segmenter` (:mod:`lib.evaluation.registry`)
- baselines in :mod:`lib.evaluation.baselines`; a live server in :mod:`lib.evaluation.remote`
- the command ``python -m lib.evaluation`` (:mod:`lib.evaluation.cli`)
"""

from lib.evaluation.cases import case_from_phantom, crop_case, phantom_cases, roi_box
from lib.evaluation.harness import evaluate, replay_session, run_session
from lib.evaluation.protocol import Case, InteractiveSegmenter, spacing_of
from lib.evaluation.registry import make_segmenter, register_segmenter, registered_names
from lib.evaluation.report import write_report
from lib.evaluation.simulators import SIMULATORS, get_simulator
from lib.evaluation.summary import summarise

__all__ = [
    "SIMULATORS",
    "Case",
    "InteractiveSegmenter",
    "case_from_phantom",
    "crop_case",
    "evaluate",
    "get_simulator",
    "make_segmenter",
    "phantom_cases",
    "register_segmenter",
    "registered_names",
    "replay_session",
    "roi_box",
    "run_session",
    "spacing_of",
    "summarise",
    "write_report",
]
