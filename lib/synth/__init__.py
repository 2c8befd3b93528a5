"""Training data for click models that segment whatever is clicked, in whatever contrast.

Random shapes (:mod:`lib.synth.shapes`) in random label scenes (:mod:`lib.synth.scene`),
painted SynthSeg-style with TorchIO (:mod:`lib.synth.appearance`), mixed with phantoms at
random resolutions (:mod:`lib.synth.phantom_pool`) into training samples
(:mod:`lib.synth.samples`).
"""
