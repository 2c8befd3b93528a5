"""What the online trainer keeps across a restart of its process (state.json) and shows (status.json).

Both files are written atomically (temporary file + rename), so a process killed at any
moment leaves the previous or the next version, never half of one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lib.atomic import write_atomically

STATE_FILE = "state.json"
STATUS_FILE = "status.json"
BEST_FILE = "best.pt"
SPLIT_FILE = "split.json"


@dataclass
class TrainerState:
    """Counters of the online trainer.

    Attributes:
        epoch: epochs completed (validated) since the work folder was created.
        best_val_dice: validation Dice of the saved model (best.pt) on the validation set as it
            was last scored; ``None`` before any validation.
        epochs_without_progress: epochs since new data or a new best.
        restarts: times training restarted from random weights.
        last_saved: unix time (s) best.pt was last written; ``None`` if never.
        last_val_dice: validation Dice of the model in training after the last epoch.
        last_loss: mean training loss of the last epoch.
    """

    epoch: int = 0
    best_val_dice: float | None = None
    epochs_without_progress: int = 0
    restarts: int = 0
    last_saved: float | None = None
    last_val_dice: float | None = None
    last_loss: float | None = None

    @classmethod
    def load(cls, path: str | Path) -> TrainerState:
        """Read a state file written by :meth:`save`; unknown keys are ignored."""
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def save(self, path: str | Path) -> None:
        """Write atomically as JSON."""
        write_json_atomically(asdict(self), path)


def write_json_atomically(data: dict, path: str | Path) -> None:
    """Write ``data`` as indented JSON without a reader ever seeing half a file."""
    text = json.dumps(data, indent=1)
    write_atomically(path, lambda tmp: tmp.write_text(text))


def read_status(work_dir: str | Path) -> dict | None:
    """The status the trainer last wrote in ``work_dir`` (for another process), or ``None``."""
    path = Path(work_dir) / STATUS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def status_record(state: TrainerState, run_state: str, train_images: int, val_images: int,
                  epoch_length: int | None, error: str | None = None) -> dict:
    """The status dictionary: run state ("idle" / "training" / "stopped"), counters and set sizes."""
    return {
        "state": run_state,
        "epoch": state.epoch,
        "best_val_dice": state.best_val_dice,
        "last_val_dice": state.last_val_dice,
        "last_loss": state.last_loss,
        "train_images": train_images,
        "val_images": val_images,
        "epochs_without_progress": state.epochs_without_progress,
        "restarts": state.restarts,
        "epoch_length": epoch_length,
        "last_saved": state.last_saved,
        "updated": time.time(),
        "error": error,
    }
