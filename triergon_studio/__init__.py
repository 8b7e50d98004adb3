"""Tri-Ergon Studio: Foley generation with multi-modal prompts and L/R loudness control."""

__version__ = "0.1.0"
