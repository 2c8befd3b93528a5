"""The engine of the radiotherapy contouring app.

Everything here is importable and testable without a MONAI Label server, 3D Slicer
or a GUI. Arrays are in the order MONAI and nibabel load them: spatial axes
(X, Y, Z) = voxel index (i, j, k) of the file on disk, channels first when present.
"""
