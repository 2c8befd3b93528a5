"""Interactive graph cut baseline (Boykov and Jolly 2001, numpymaxflow).

Unary terms: a foreground probability per voxel from the clicks only,

- an intensity model: smoothed histograms of the voxels under the foreground seeds and under
  the background seeds (the background clicks' balls and the ROI border), and
- a spatial prior: DIN's exponential distance guide (ExpDT, in mm) of the foreground clicks,
  lowered near background clicks (with a narrower ExpDT, so a background click next to the
  object does not erase the prior inside it), so that voxels far from every foreground
  click lean to background (tumours sit next to organs of the same density);

combined as independent evidence (a product of odds). Hard seeds at the clicks and the ROI
border (as the random walker's). Pairwise terms: numpymaxflow's
``exp(-(I_p - I_q)^2 / (2 sigma^2))``, weight ``lamda``, 6-connectivity. The answer is a hard mask returned as a {0, 1} probability.
Stateless, and all background with no foreground click.

Defaults were chosen on training phantoms (seeds 0-5, GTV, ``din_evaluation`` user, 12 clicks;
never on the held-out seeds 900+): ``lamda`` 2, ``sigma`` 0.1, prior sigmas 12 mm (foreground)
and 5 mm (background). A larger ``lamda`` shrinks small tumours to the seeds (graph cut's
shrinking bias); a wider background prior makes DSC drop after background clicks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpymaxflow

from lib.evaluation.baselines.seeds import CT_WINDOW_HU, SEED_RADIUS_MM, click_seeds, normalised_ct
from lib.evaluation.protocol import Case
from lib.guidance import exp_distance_map
from lib.interaction.clicks import Click, split_clicks

_EPS = 0.02  # keeps the spatial prior away from 0 and 1
#: The intensity model's probability is kept in [INTENSITY_CLIP, 1 - INTENSITY_CLIP], less sure than the
#: prior's extremes, so far from every click the prior wins (a look-alike organ stays background).
INTENSITY_CLIP = 0.05


def histogram_likelihood(intensity: np.ndarray, samples: np.ndarray, bins: int = 32, pseudo: float = 1.0) -> np.ndarray:
    """Likelihood of each voxel's intensity under a smoothed histogram of ``samples``.

    Args:
        intensity: (X, Y, Z) float in [0, 1].
        samples: 1D intensities in [0, 1] (the seeds').
        bins: histogram bins over [0, 1].
        pseudo: count added to every bin (Laplace smoothing), so unseen intensities are unlikely,
            not impossible.

    Returns:
        (X, Y, Z) float64 density, summing to 1 over the bins.
    """
    counts, _ = np.histogram(samples, bins=bins, range=(0.0, 1.0))
    density = (counts + pseudo) / (counts.sum() + pseudo * bins)
    index = np.clip((intensity * bins).astype(int), 0, bins - 1)
    return density[index]


def click_prior(
    clicks: Sequence[Click],
    shape: Sequence[int],
    spacing: Sequence[float],
    sigma_mm: float,
    background_sigma_mm: float,
) -> np.ndarray:
    """Spatial foreground prior in [_EPS, 1 - _EPS]: high near foreground clicks, low near background ones.

    Args:
        clicks: the clicks, voxel indices (i, j, k).
        shape: (X, Y, Z) size in voxels.
        spacing: voxel size in mm along (X, Y, Z).
        sigma_mm: ExpDT sigma of the foreground clicks, mm (isotropic).
        background_sigma_mm: ExpDT sigma of the background clicks, mm (isotropic).

    Returns:
        (X, Y, Z) float64, ``g_fg * (1 - g_bg)`` squeezed into [_EPS, 1 - _EPS], with g the ExpDT maps.
    """
    foreground, background = split_clicks(clicks)
    g_fg = exp_distance_map(foreground, shape, sigma=sigma_mm, spacing=spacing)
    g_bg = exp_distance_map(background, shape, sigma=background_sigma_mm, spacing=spacing)
    return _EPS + (1.0 - 2.0 * _EPS) * g_fg.astype(np.float64) * (1.0 - g_bg)


def combine_odds(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Posterior of two independent probabilities of the same event: p q / (p q + (1 - p)(1 - q))."""
    yes = p * q
    return yes / (yes + (1.0 - p) * (1.0 - q))


def graph_cut_mask(
    intensity: np.ndarray,
    foreground_probability: np.ndarray,
    foreground_seeds: np.ndarray,
    background_seeds: np.ndarray,
    lamda: float,
    sigma: float,
) -> np.ndarray:
    """Min cut of the seeded graph.

    Args:
        intensity: (X, Y, Z) float in [0, 1].
        foreground_probability: (X, Y, Z) unary foreground probability in (0, 1).
        foreground_seeds, background_seeds: (X, Y, Z) bool hard seeds.
        lamda: weight of the pairwise (smoothness) terms against the unary ones.
        sigma: intensity difference scale of the pairwise terms (same units as ``intensity``).

    Returns:
        (X, Y, Z) float32 in {0, 1}.
    """
    image = intensity[None].astype(np.float32)
    prob = np.stack([1.0 - foreground_probability, foreground_probability]).astype(np.float32)
    seeds = np.stack([background_seeds, foreground_seeds]).astype(np.float32)
    cut = numpymaxflow.maxflow_interactive(image, prob, seeds, float(lamda), float(sigma), 6)
    return np.asarray(cut, dtype=np.float32).reshape(intensity.shape)


@dataclass
class GraphCutSegmenter:
    """:class:`lib.evaluation.protocol.InteractiveSegmenter` by an interactive graph cut.

    Attributes:
        lamda: smoothness weight (numpymaxflow's ``lamda``).
        sigma: intensity scale of the smoothness term, in normalised units (1 = 400 HU).
        prior_sigma_mm: reach of each foreground click's spatial prior (ExpDT sigma), mm.
        background_prior_sigma_mm: reach of each background click's spatial prior, mm.
        seed_radius_mm: each click seeds a ball of this radius, mm.
        window: CT window (low, high) in HU mapped to [0, 1].
        name: the method's name in reports.
    """

    lamda: float = 2.0
    sigma: float = 0.1
    prior_sigma_mm: float = 12.0
    background_prior_sigma_mm: float = 5.0
    seed_radius_mm: float = SEED_RADIUS_MM
    window: tuple[float, float] = CT_WINDOW_HU
    name: str = "graph_cut"

    def segment(self, case: Case, clicks: Sequence[Click], previous: np.ndarray | None) -> np.ndarray:
        """(X, Y, Z) float32 mask in {0, 1} after ``clicks``; zeros with no foreground click."""
        if not any(c.positive for c in clicks):
            return np.zeros(case.spatial_shape, dtype=np.float32)
        return self.cut(normalised_ct(case.image, self.window), clicks, case.spacing)

    def cut(self, intensity: np.ndarray, clicks: Sequence[Click], spacing: Sequence[float]) -> np.ndarray:
        """The graph cut of an intensity already scaled to [0, 1] (any modality).

        Args:
            intensity: (X, Y, Z) float in [0, 1].
            clicks: voxel indices (i, j, k) of ``intensity``, at least one foreground click.
            spacing: voxel size (X, Y, Z) mm (seed balls and the spatial prior are in mm).

        Returns:
            (X, Y, Z) float32 in {0, 1}; the array border is a background seed.
        """
        foreground, background = click_seeds(clicks, intensity.shape, spacing, self.seed_radius_mm)
        return self.cut_seeded(intensity, clicks, spacing, foreground, background)

    def cut_seeded(self, intensity: np.ndarray, clicks: Sequence[Click], spacing: Sequence[float],
                   foreground: np.ndarray, background: np.ndarray) -> np.ndarray:
        """:meth:`cut` with the hard seeds given (``foreground`` / ``background``: (X, Y, Z) bool, the
        background's voxels also the intensity model's background samples): (X, Y, Z) float32 in {0, 1}."""
        probability = self.unary(intensity, clicks, spacing, foreground, background)
        return graph_cut_mask(intensity, probability, foreground, background, self.lamda, self.sigma)

    def unary(self, intensity: np.ndarray, clicks: Sequence[Click], spacing: Sequence[float],
              foreground: np.ndarray, background: np.ndarray) -> np.ndarray:
        """(X, Y, Z) foreground probability before the smoothness term: the seeds' intensity
        histograms (``foreground`` / ``background`` bool seed masks) combined with the clicks'
        spatial prior (odds multiplied)."""
        likes_fg = histogram_likelihood(intensity, intensity[foreground])
        likes_bg = histogram_likelihood(intensity, intensity[background])
        from_intensity = np.clip(likes_fg / (likes_fg + likes_bg), INTENSITY_CLIP, 1.0 - INTENSITY_CLIP)
        return combine_odds(from_intensity, click_prior(
            clicks, intensity.shape, spacing, self.prior_sigma_mm, self.background_prior_sigma_mm
        ))
