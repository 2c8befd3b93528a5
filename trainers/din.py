"""Train DIN from the datastore's final labels (the server's /train).

The same model space (:mod:`lib.din.preprocess`: that of the served weights, CT or STIR),
patches, training clicks and guides (:class:`lib.din.samples.RandDinPatchd`: a patch around a
tumour with probability 0.5, the model space's click sampler, ExpDT guides concatenated to
the image) and loss (weighted
cross-entropy 1 : 3, Adam 3e-4, betas (0.9, 0.99)) as ``python -m lib.din.train``. MONAI's
``SupervisedTrainer`` takes one step per batch; the best checkpoint is published to the
served path atomically (:class:`trainers.publish.PublishesAtomically`).
"""

from __future__ import annotations

import torch
from ignite.metrics import Metric
from monai.handlers import MeanDice, from_engine
from monai.inferers import SimpleInferer
from monai.transforms import Activationsd, AsDiscreted
from monailabel.tasks.train.basic_train import BasicTrainTask, Context

from lib.din.guides import GuideSettings
from lib.din.preprocess import model_space
from lib.din.samples import RandDinPatchd, click_sampler
from lib.din.train import PAPER_BETAS, PAPER_LR, loss_function
from lib.labels import LABELS
from trainers.publish import PublishesAtomically


class DinTrainer(PublishesAtomically, BasicTrainTask):
    """Trains (or fine-tunes) the DIN network on every image with a final label.

    Args:
        model_dir: where MONAI Label keeps this trainer's checkpoints.
        network: the served network (trained in place, then published).
        publish_path: the weights path the infer task serves (written atomically).
        settings: the guide encoding (that of the served weights).
        load_path: weights to start from.
        modality: the model space (``"ct"`` or ``"mri_stir"``): pre-processing and training clicks.
    """

    def __init__(
        self,
        model_dir: str,
        network: torch.nn.Module,
        publish_path: str,
        settings: GuideSettings | None = None,
        load_path: str | None = None,
        modality: str = "ct",
        **kwargs,
    ):
        super().__init__(
            model_dir,
            description="Train DIN on saved final GTV labels (simulated DIN training clicks)",
            load_path=load_path,
            publish_path=publish_path,
            labels=["gtv"],
            amp=False,
            disable_meta_tracking=False,
            **kwargs,
        )
        self._network = network
        self.settings = settings or GuideSettings()
        self.space = model_space(modality)

    def network(self, context: Context):
        return self._network

    def optimizer(self, context: Context):
        lr = float(context.request.get("lr", PAPER_LR))
        return torch.optim.Adam(context.network.parameters(), lr=lr, betas=PAPER_BETAS)

    def loss_function(self, context: Context):
        return loss_function()

    def train_pre_transforms(self, context: Context):
        sampler = click_sampler(self.space.modality)
        return [*self.space.transforms(), RandDinPatchd(self.settings, LABELS["gtv"], sampler=sampler)]

    def train_post_transforms(self, context: Context):
        return [
            Activationsd(keys="pred", softmax=True),
            AsDiscreted(keys=("pred", "label"), argmax=(True, False), to_onehot=(2, 2)),
        ]

    def val_pre_transforms(self, context: Context):
        return self.train_pre_transforms(context)

    def val_inferer(self, context: Context):
        return SimpleInferer()

    def train_key_metric(self, context: Context) -> dict[str, Metric]:
        return {self.TRAIN_METRIC_MEAN_DICE: MeanDice(output_transform=from_engine(["pred", "label"]),
                                                      include_background=False)}

    def val_key_metric(self, context: Context) -> dict[str, Metric]:
        return {self.VAL_METRIC_MEAN_DICE: MeanDice(output_transform=from_engine(["pred", "label"]),
                                                    include_background=False)}
