"""Simulated users: each method's click simulator, returning clicks (never encoded guidance).

Every simulator takes (X, Y, Z) bool or {0, 1} masks, draws randomness only from a
``numpy.random.Generator`` passed in, and returns :class:`lib.interaction.clicks.Click`
objects (or a :class:`SliceEdit`); encoding clicks as guidance maps is done elsewhere.

- :func:`exp_chamfer_click` (Gaussian-click paper): deep inside the larger kind of error.
- :func:`border_distance_click` (DeepGrow / 2S-ICR): multinomial over depth in the errors.
- :func:`din_training_clicks` (DIN training): many clicks in and around the true object.
- :func:`largest_error_region_click` (DIN evaluation): centre of the largest error region.
- :func:`worst_slice` / :func:`worst_slices` (slice-edit propagation): redraw the worst slice.
"""

from lib.simulators.border_distance import border_distance_click
from lib.simulators.din_evaluation import largest_error_region_click
from lib.simulators.din_training import DinTrainingSampler, din_training_clicks
from lib.simulators.gaussian_click import GaussianClickSimulator, exp_chamfer_click
from lib.simulators.slice_editor import SliceEdit, apply_edit, worst_slice, worst_slices

__all__ = [
    "DinTrainingSampler",
    "GaussianClickSimulator",
    "SliceEdit",
    "apply_edit",
    "border_distance_click",
    "din_training_clicks",
    "exp_chamfer_click",
    "largest_error_region_click",
    "worst_slice",
    "worst_slices",
]
