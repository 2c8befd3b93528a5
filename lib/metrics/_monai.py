"""The one place masks become the tensors MONAI's metric functions expect."""

from __future__ import annotations

import numpy as np
import torch


def monai_batch(mask: np.ndarray) -> torch.Tensor:
    """An (X, Y, Z) bool mask as a (B=1, C=1, X, Y, Z) float32 tensor, one foreground channel.

    MONAI's metrics take one-hot batches; with a single channel, callers pass
    ``include_background=True`` so that channel (the foreground) is measured.
    """
    return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)[None, None])
