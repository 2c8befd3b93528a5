"""Bookkeeping every training loop shares: the best checkpoint and the run files."""

from lib.training.run_files import BestCheckpoint, write_run_files

__all__ = ["BestCheckpoint", "write_run_files"]
