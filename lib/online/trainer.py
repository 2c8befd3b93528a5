"""The continuous online trainer: train on annotated patches, validate, keep the best, restart.

RootPainter3D's loop (one epoch at a time, until stopped or the budget is spent):

1. list the annotated images and refresh the dataset; new or changed data resets
   epochs-without-progress and re-scores the saved model on the (possibly grown)
   validation set, so the comparison below is on the same images;
2. train one epoch of ``epoch_length`` patches centred on annotation (masked Dice + CE);
3. validate: Dice over the validation images' annotated voxels;
4. save ``best.pt`` if the score beats the saved model's. Without a validation image there
   is nothing to select on, so every epoch is saved (and counts as progress);
5. after ``restart_after`` epochs without progress, start again from random weights
   (``best.pt`` is kept; a restarted model must beat it to replace it).

Files in ``work_dir`` (all written atomically): ``best.pt`` ({"model": state_dict}),
``state.json`` (counters, to resume), ``status.json`` (for another process to read) and,
by default, ``split.json`` (the dataset's train / validation assignment).
A new trainer on the same ``work_dir`` resumes from ``best.pt`` and ``state.json``; the
optimiser's moments are not kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lib.atomic import save_weights_atomic
from lib.online.dataset import AnnotatedImage, OnlineDataset
from lib.online.loss import masked_dice_ce
from lib.online.patches import ModelSpaceCase, crop_patch, random_patch_corner
from lib.online.state import (
    BEST_FILE,
    SPLIT_FILE,
    STATE_FILE,
    STATUS_FILE,
    TrainerState,
    status_record,
    write_json_atomically,
)
from lib.online.validate import validation_dice

NetworkFactory = Callable[[], torch.nn.Module]
ImageLister = Callable[[], Iterable[AnnotatedImage | tuple[str, str, bool]]]
Validator = Callable[[torch.nn.Module, Sequence[ModelSpaceCase]], "float | None"]
StopSignal = threading.Event | Callable[[], bool]


@dataclass(frozen=True)
class TrainerConfig:
    """Settings of :class:`OnlineTrainer`.

    Attributes:
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: patches per step (2 on the CPU; RootPainter3D used 4 on two GPUs).
        restart_after: epochs without progress before restarting from random weights.
        seed: seeds weight initialisation (with the restart count) and patch sampling (with
            the epoch), so a run replays exactly.
        device: torch device to train on.
        fixed_epoch_length: patches per epoch instead of the paper's rule (short test runs).
        idle_poll_s: seconds between looks for data while there is no training image.
    """

    lr: float = 2e-3
    weight_decay: float = 1e-5
    batch_size: int = 2
    restart_after: int = 60
    seed: int = 0
    device: str = "cpu"
    fixed_epoch_length: int | None = None
    idle_poll_s: float = 1.0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.restart_after < 1:
            raise ValueError(f"batch_size and restart_after must be >= 1, got {self.batch_size}, {self.restart_after}")
        if self.fixed_epoch_length is not None and self.fixed_epoch_length < 1:
            raise ValueError(f"fixed_epoch_length must be >= 1, got {self.fixed_epoch_length}")


class OnlineTrainer:
    """Trains continuously on whatever annotations exist; one instance per ``work_dir``.

    Args:
        work_dir: folder of best.pt, state.json, status.json (created if absent).
        network_factory: makes a freshly initialised network, (B, 1, X, Y, Z) -> (B, 3, X, Y, Z) logits.
        dataset: the annotated images; ``None``: an :class:`OnlineDataset` on ``work_dir/split.json``.
        list_images: called once per epoch, returns the current (image, annotation, full) triples.
        config: training settings.
        validate: scores a network on the validation cases (``None`` without any); default
            :func:`lib.online.validate.validation_dice` on ``config.device``.

    Torch's thread count is left as the caller set it.
    """

    def __init__(
        self,
        work_dir: str | Path,
        network_factory: NetworkFactory,
        dataset: OnlineDataset | None = None,
        list_images: ImageLister = lambda: (),
        config: TrainerConfig = TrainerConfig(),
        validate: Validator | None = None,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.network_factory = network_factory
        self.dataset = dataset if dataset is not None else OnlineDataset(self.work_dir / SPLIT_FILE)
        self.list_images = list_images
        self.config = config
        self.validate = validate or (lambda network, cases: validation_dice(network, cases, config.device))
        state_path = self.work_dir / STATE_FILE
        self.state = TrainerState.load(state_path) if state_path.exists() else TrainerState()
        self.network = self._fresh_network()
        if self.best_path.exists():
            self.network.load_state_dict(self._load_best())
        self.optimizer = self._optimizer()
        self._lock = threading.Lock()
        self._run_state, self._epoch_length, self._error = "idle", None, None
        self._set_sizes = (0, 0)  # (train, val) images, read by status() from other threads

    @property
    def best_path(self) -> Path:
        """Where the best weights are saved, {"model": state_dict}."""
        return self.work_dir / BEST_FILE

    def _load_best(self) -> dict:
        return torch.load(self.best_path, map_location=self.config.device, weights_only=True)["model"]

    def _fresh_network(self) -> torch.nn.Module:
        """Randomly initialised network, seeded by (seed, restarts), without touching the global RNG."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed * 1_000_003 + self.state.restarts)
            return self.network_factory().to(self.config.device)

    def _optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.network.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)

    # -- status ---------------------------------------------------------------------------

    def status(self) -> dict:
        """state ("idle" / "training" / "stopped"), epoch, best_val_dice, train_images, val_images,
        epochs_without_progress, restarts, epoch_length, last_saved (unix s) and a few more."""
        with self._lock:
            return status_record(self.state, self._run_state, *self._set_sizes, self._epoch_length, self._error)

    def _publish(self, run_state: str | None = None) -> None:
        if run_state is not None:
            with self._lock:
                self._run_state = run_state
        write_json_atomically(self.status(), self.work_dir / STATUS_FILE)

    # -- the loop -------------------------------------------------------------------------

    def run(
        self, stop: StopSignal, budget_epochs: int | None = None, budget_seconds: float | None = None
    ) -> dict:
        """Train epoch after epoch until ``stop`` is set or a budget is spent; return the status.

        Args:
            stop: an Event, or a callable returning True to stop. Checked between training steps;
                an interrupted epoch is dropped (neither validated nor counted).
            budget_epochs: stop after this many completed epochs (``None``: no limit).
            budget_seconds: start no epoch after this many seconds (``None``: no limit). A
                started epoch is finished. Waiting for a first image counts here but not
                towards ``budget_epochs``.

        Raises:
            whatever the dataset, the network or the file system raises (status.json then
            holds the message, state "stopped").
        """
        should_stop = stop.is_set if isinstance(stop, threading.Event) else stop
        start, done = time.monotonic(), 0
        self._error = None
        try:
            while not should_stop():
                if budget_epochs is not None and done >= budget_epochs:
                    break
                if budget_seconds is not None and time.monotonic() - start >= budget_seconds:
                    break
                self._refresh()
                if not self.dataset.train_images:
                    self._publish("idle")
                    self._wait(stop)
                    continue
                self._publish("training")
                if not self._train_epoch(should_stop):
                    break
                self._end_epoch(self.validate(self.network, self._val_cases()))
                done += 1
        except Exception as error:
            self._error = f"{type(error).__name__}: {error}"
            raise
        finally:
            self._publish("stopped")
        return self.status()

    def _wait(self, stop: StopSignal) -> None:
        if isinstance(stop, threading.Event):
            stop.wait(self.config.idle_poll_s)
        else:
            time.sleep(self.config.idle_poll_s)

    def _val_cases(self) -> list[ModelSpaceCase]:
        return [self.dataset.case(image) for image in self.dataset.val_images]

    def _refresh(self) -> None:
        """New data: reset the progress counter and score the saved model on today's validation set."""
        if not self.dataset.refresh(self.list_images()):
            return
        self.state.epochs_without_progress = 0
        if self.best_path.exists():
            saved = self._fresh_network()
            saved.load_state_dict(self._load_best())
            self.state.best_val_dice = self.validate(saved, self._val_cases())
        length = self.config.fixed_epoch_length or self.dataset.epoch_length()
        with self._lock:
            self._epoch_length = length
            self._set_sizes = (len(self.dataset.train_images), len(self.dataset.val_images))

    def _train_epoch(self, should_stop: Callable[[], bool]) -> bool:
        """One epoch of patches; False if stopped part-way (the epoch is then dropped)."""
        length = self._epoch_length
        rng = np.random.default_rng([self.config.seed, self.state.epoch])
        losses = []
        self.network.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed * 1_000_003 + self.state.epoch)
            for first in range(0, length, self.config.batch_size):
                if should_stop():
                    return False
                images, classes, annotated = self._batch(min(self.config.batch_size, length - first), rng)
                self.optimizer.zero_grad()
                loss = masked_dice_ce(self.network(images), classes, annotated)
                loss.backward()
                self.optimizer.step()
                losses.append(float(loss.detach()))
        self.state.last_loss = float(np.mean(losses))
        return True

    def _batch(self, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 1, *TRAIN_PATCH) images, (B, *TRAIN_PATCH) classes and annotated masks, on the device."""
        patches = []
        for _ in range(size):
            case = self.dataset.case(self.dataset.sample_image(rng))
            patches.append(crop_patch(case, random_patch_corner(case, rng)))
        images, classes, annotated = (np.stack(parts) for parts in zip(*patches))
        device = self.config.device
        return (torch.as_tensor(images, device=device), torch.as_tensor(classes, device=device),
                torch.as_tensor(annotated, device=device))

    def _end_epoch(self, score: float | None) -> None:
        """Count the epoch, save on a new best (or always without validation), restart when stuck."""
        state = self.state
        state.epoch += 1
        state.last_val_dice = score
        if score is None or state.best_val_dice is None or score > state.best_val_dice:
            self._save_best(score)
            state.best_val_dice = score
            state.epochs_without_progress = 0
        else:
            state.epochs_without_progress += 1
        if state.epochs_without_progress >= self.config.restart_after:
            state.restarts += 1
            state.epochs_without_progress = 0
            self.network = self._fresh_network()
            self.optimizer = self._optimizer()
        state.save(self.work_dir / STATE_FILE)
        self._publish()

    def _save_best(self, score: float | None) -> None:
        weights = {key: value.detach().cpu() for key, value in self.network.state_dict().items()}
        save_weights_atomic(weights, self.best_path, epoch=self.state.epoch, val_dice=score)
        self.state.last_saved = time.time()
