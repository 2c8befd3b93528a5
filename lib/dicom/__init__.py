"""DICOM for the PACS path: phantoms as CT / PET series and labels as DICOM SEG (pydicom, highdicom).

The voxel grid of a volume (i, j, k) maps to DICOM as: slice k is one instance, its pixel
row is j and its pixel column is i (``pixel_array[j, i] == volume[i, j, k]``), which is
also how SimpleITK, MONAI Label's converter and OHIF's cornerstone index a series.
"""
