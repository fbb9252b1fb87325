"""Figures: what a dataset's factors look like, and (later) what a model learned."""

from .factors import plot_factor_sweeps

__all__ = ["plot_factor_sweeps"]
