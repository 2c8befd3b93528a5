"""DeepEdit-style reference for 2S-ICR: ONE network for automatic and interactive segmentation.

The 2S-ICR paper's claim (METHODS.md section 2): a DeepEdit model trained with click-free
iterations trades automatic accuracy against click response, whereas 2S-ICR's two stages do
not. This package trains that single model on PET-CT phantoms with MONAI's DeepEdit
transforms (:mod:`monai.apps.deepedit.transforms`) and serves it to the evaluation harness:

- :mod:`lib.deepedit.guidance`: the MONAI DeepEdit transforms as this project uses them
  (labels ``{"gtv": 1, "background": 0}``: two guidance channels, positive then negative clicks);
- :mod:`lib.deepedit.network`: the UNet (2S-ICR's shape) with image + 2 guidance channels in, 3 classes (background, GTV, heart) out;
- :mod:`lib.deepedit.train`: DeepEdit's training loop with a share of click-free iterations;
- :mod:`lib.deepedit.segmenter`: the harness segmenter and factories of the shipped variants.

Arrays: images (C, X, Y, Z) in model space (RAS, 3 x 3 x 6 mm; channel 0 CT windowed
[-200, 200] HU -> [-1, 1], channel 1 PET z-scored), labels (1, X, Y, Z), guidance points
``[d, x, y, z]`` (MONAI's: the first entry is not a coordinate).
"""
