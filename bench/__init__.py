"""Reproducible benchmarks: run from the project root as ``python -m bench.<name>`` (see README)."""
