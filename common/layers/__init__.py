"""Reusable Keras layers, one idea per file (registered under the "rnnsuite" package for saving)."""
