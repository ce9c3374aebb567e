"""Benchmarks at the scale of DESIGN.md §11, run through the real stack: `python -m bench`."""
