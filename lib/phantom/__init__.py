"""Deterministic CT / PET / MRI-STIR-like phantoms with tumour (GTV) and heart labels."""

from lib.phantom.config import LABELS, Modality, Orientation, PhantomConfig
from lib.phantom.generate import Phantom, generate_phantom

__all__ = ["LABELS", "Modality", "Orientation", "Phantom", "PhantomConfig", "generate_phantom"]
