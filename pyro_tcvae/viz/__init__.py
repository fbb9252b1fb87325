"""Figures: a dataset's factors, what a model learned, runs and sweeps."""

from .factors import plot_factor_sweeps
from .model import (latent_kl, plot_latents_vs_factors, plot_reconstructions,
                    plot_training_curves, plot_traversals)
from .run import plot_mig_over_time, plot_run, plot_sweep

__all__ = ["latent_kl", "plot_factor_sweeps", "plot_latents_vs_factors", "plot_mig_over_time",
           "plot_reconstructions", "plot_run", "plot_sweep", "plot_training_curves", "plot_traversals"]
