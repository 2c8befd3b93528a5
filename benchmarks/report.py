"""How every benchmark hands its result over: JSON on stdout and, when asked, in a file (atomically)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lib.atomic import write_atomically  # noqa: E402


def emit(report: dict, out: Path | None = None) -> dict:
    """Print ``report`` as indented JSON, write the same text to ``out`` if given; return ``report``."""
    text = json.dumps(report, indent=2)
    if out is not None:
        write_atomically(Path(out), lambda tmp: tmp.write_text(text))
    print(text)
    return report
