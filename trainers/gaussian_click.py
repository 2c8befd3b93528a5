"""Train the Gaussian-click model from the datastore's final labels (the server's /train).

The same procedure as ``python -m lib.gaussian_click.train``: the same model-space transforms
and one-structure windows (:mod:`lib.gaussian_click.samples`), and the same click loop
(:func:`lib.gaussian_click.click_loop.simulate_interactions`) run as the ignite engine's
``iteration_update``: K prediction rounds add simulated clicks, then MONAI's own
``SupervisedTrainer`` iteration takes one step on (image + guidance, truth) with the Dice
loss; Adam, lr 1e-4 fixed. Validation gives each window its first simulated click only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ignite.metrics import Metric
from monai.handlers import MeanDice, from_engine
from monai.inferers import SimpleInferer
from monai.transforms import Activationsd, AsDiscreted
from monailabel.tasks.train.basic_train import BasicTrainTask, Context

from lib.gaussian_click.click_loop import simulate_interactions
from lib.gaussian_click.samples import RandStructureSampled, structure_values
from lib.imaging.prepare import model_space_transforms
from lib.gaussian_click.train import PAPER_LR, PAPER_SEED, dice_loss
from trainers.publish import PublishesAtomically


class ClickInteraction:
    """Ignite ``iteration_update``: simulated clicks in prediction mode, then the engine's iteration.

    Args:
        max_interactions: K, the number of prediction rounds.
        seed: seed of the simulated user.
    """

    def __init__(self, max_interactions: int, seed: int = PAPER_SEED) -> None:
        self.max_interactions = max_interactions
        self.rng = np.random.default_rng(seed)

    def __call__(self, engine, batchdata: dict) -> dict:
        images = batchdata["image"].to(engine.state.device)
        truths = batchdata["label"][:, 0].detach().cpu().numpy() > 0.5
        guidance, _ = simulate_interactions(engine.network, images, truths, self.max_interactions, self.rng)
        batchdata["image"] = torch.cat([images, guidance], dim=1)
        return engine._iteration(engine, batchdata)


class GaussianClickTrainer(PublishesAtomically, BasicTrainTask):
    """Trains (or fine-tunes) the Gaussian-click network on every image with a final label.

    Args:
        model_dir: where MONAI Label keeps this trainer's checkpoints.
        network: the served network (trained in place, then published).
        publish_path: the weights path the infer task serves (written atomically).
        dims: 2 or 3.
        exclude: structures left out of training.
        load_path: weights to start from.
    """

    def __init__(
        self,
        model_dir: str,
        network: torch.nn.Module,
        publish_path: str,
        dims: int = 2,
        exclude: Sequence[str] = (),
        load_path: str | None = None,
        **kwargs,
    ):
        super().__init__(
            model_dir,
            description=f"Train the Gaussian-click {dims}D model on saved final labels (simulated clicks)",
            load_path=load_path,
            publish_path=publish_path,
            labels=list(structure_values(exclude)),
            amp=False,
            disable_meta_tracking=False,
            **kwargs,
        )
        self._network = network
        self.dims = dims
        self.structures = structure_values(exclude)

    def network(self, context: Context):
        return self._network

    def optimizer(self, context: Context):
        return torch.optim.Adam(context.network.parameters(), lr=float(context.request.get("lr", PAPER_LR)))

    def loss_function(self, context: Context):
        return dice_loss()

    def train_pre_transforms(self, context: Context):
        return [*model_space_transforms(self.dims), RandStructureSampled(self.dims, self.structures)]

    def train_post_transforms(self, context: Context):
        return [Activationsd(keys="pred", sigmoid=True), AsDiscreted(keys="pred", threshold=0.5)]

    def val_pre_transforms(self, context: Context):
        return self.train_pre_transforms(context)

    def val_inferer(self, context: Context):
        return SimpleInferer()

    def train_iteration_update(self, context: Context):
        return ClickInteraction(int(context.request.get("max_interactions", 5)))

    def val_iteration_update(self, context: Context):
        return ClickInteraction(1)

    def train_key_metric(self, context: Context) -> dict[str, Metric]:
        # one output channel: the foreground IS channel 0, so it must be included
        return {self.TRAIN_METRIC_MEAN_DICE: MeanDice(output_transform=from_engine(["pred", "label"]),
                                                      include_background=True)}

    def val_key_metric(self, context: Context) -> dict[str, Metric]:
        return {self.VAL_METRIC_MEAN_DICE: MeanDice(output_transform=from_engine(["pred", "label"]),
                                                    include_background=True)}
