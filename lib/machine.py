"""What a result was measured on: CPU model, cores, torch threads, GPU, versions.

Model cards print ``str(describe_machine())``; JSON reports store
``dataclasses.asdict(describe_machine())``.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class MachineDescription:
    """The machine a training or benchmark ran on.

    Attributes:
        cpu: the CPU model (from /proc/cpuinfo where there is one).
        cores: logical CPU cores (``os.cpu_count()``).
        torch_threads: threads torch uses for intra-op parallelism.
        gpu: the CUDA device's name, or None without one.
        torch: torch's version.
        python: Python's version.
        platform: the OS and its version (``platform.platform()``).
    """

    cpu: str
    cores: int | None
    torch_threads: int
    gpu: str | None
    torch: str
    python: str
    platform: str

    def __str__(self) -> str:
        """One line for a model card: CPU, cores, torch threads, GPU (if any), torch version."""
        gpu = f", GPU {self.gpu}" if self.gpu else ""
        return f"{self.cpu}, {self.cores} cores, {self.torch_threads} torch threads{gpu}, torch {self.torch}"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo; ``platform``'s guess where that is missing."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu


def describe_machine() -> MachineDescription:
    """Describe this machine as torch is set up now (call it after ``torch.set_num_threads``)."""
    import torch  # here, not at the top: a command's --help should not wait for torch

    return MachineDescription(
        cpu=cpu_model(),
        cores=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        torch=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform(),
    )
