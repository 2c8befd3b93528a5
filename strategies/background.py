"""MONAI Label's scoring job as a background process: recognise it, and give it low CPU priority.

MONAI Label runs ``POST /scoring/<method>`` in a separate process (``python -m
monailabel.interfaces.utils.app -m scoring``) that builds the whole app before scoring. That
process takes Linux's idle scheduling class (``SCHED_IDLE``: it runs only on a core that no
other task wants), niceness :data:`SCORING_NICENESS` (where the idle class is not available)
and one torch thread as early as the app's ``main.py`` is imported, so clicks served meanwhile
keep their cores from its first second. Niceness alone is weak: a niceness-15 task still takes
about 1/25 of a busy core from a niceness-0 one, and every wake-up of a request thread finds it
running there.
Only the standard library is imported here: the point is to run before torch is imported.
"""

from __future__ import annotations

import os
import sys

#: Niceness the scoring process takes (the server keeps its own, usually 0).
SCORING_NICENESS = 15


def in_scoring_process(argv: list[str] | None = None) -> bool:
    """True in MONAI Label's background scoring process (``-m monailabel.interfaces.utils.app -m scoring``).

    The same module runs training and batch inference (``-m train``, ``-m batch_infer``): those are not scoring.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if getattr(spec, "name", None) != "monailabel.interfaces.utils.app":
        return False
    argv = sys.argv if argv is None else argv
    return any(flag in ("-m", "--method") and value == "scoring" for flag, value in zip(argv, argv[1:]))


def lower_priority(niceness: int = SCORING_NICENESS) -> str:
    """This process in the idle scheduling class where Linux has it and at niceness ``niceness`` at
    least (never lowered back); returns the scheduling class taken (``"idle"`` or ``"normal"``).

    Linux gives a policy and a niceness to the calling thread and the threads it starts afterwards,
    so call it before anything starts threads (torch's pool, the app's model loading).
    """
    if os.getpriority(os.PRIO_PROCESS, 0) < niceness:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    if hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "idle"
        except OSError:  # a container may refuse it; the niceness stands
            pass
    return "normal"


def enter_background_priority(niceness: int = SCORING_NICENESS) -> str:
    """:func:`lower_priority`, then one torch thread; returns the scheduling class taken."""
    policy = lower_priority(niceness)
    import torch  # after the priority: importing torch is itself seconds of CPU

    torch.set_num_threads(1)
    return policy
