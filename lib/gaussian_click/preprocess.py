"""Kept for old imports: the image preparation now lives in :mod:`lib.imaging.prepare`."""

from lib.imaging.prepare import *  # noqa: F401,F403
from lib.imaging.prepare import __all__  # noqa: F401
