"""Online corrective training (RootPainter3D): learn from corrections while the user annotates.

- :mod:`lib.online.annotation`: the corrective annotation format and its conversions.
- :mod:`lib.online.loss`: Dice + cross-entropy on annotated voxels only.
- :mod:`lib.online.patches`: annotated images in model space, patch sampling, annotated tiles.
- :mod:`lib.online.dataset`: the persistent train / validation split and the epoch length.
- :mod:`lib.online.validate`: Dice over the annotated voxels of the validation images.
- :mod:`lib.online.state`: the trainer's saved state and its status file.
- :mod:`lib.online.trainer`: the continuous train / validate / save / restart loop.
- :mod:`lib.online.timing`: the interaction event log and annotation time per image.
"""
