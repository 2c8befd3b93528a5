"""The automatic segmentation model (GTV and heart): network, transforms, training, evaluation."""
