"""Classical interactive baselines, seeded by the same clicks as every method.

- :class:`RandomWalkerSegmenter` (scikit-image's random walker)
- :class:`GraphCutSegmenter` (numpymaxflow's interactive graph cut)
"""

from lib.evaluation.baselines.graph_cut import GraphCutSegmenter
from lib.evaluation.baselines.random_walker import RandomWalkerSegmenter

__all__ = ["GraphCutSegmenter", "RandomWalkerSegmenter"]
