"""The scoring process's low priority, taken in a real child process (the server's own stays as it is)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# the child imports no torch: in the idle class on a busy machine it would wait for a free core
CHILD = """
import os
from strategies.background import lower_priority
policy = lower_priority()
print(policy, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0) == os.SCHED_IDLE)
"""


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux's idle scheduling class only")
def test_scoring_priority_is_the_idle_class_and_nice():
    before = (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0))
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
                         cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})
    policy, niceness, idle = out.stdout.split()
    assert policy == "idle" and idle == "True"
    assert int(niceness) >= 15
    assert (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)) == before  # this process untouched
