"""Figures only: a dataset's factors, what a model learned, and records of runs and
sweeps.  Nothing here knows a run folder (see :mod:`pyro_tcvae.runs`)."""

from .curves import plot_mig_over_time, plot_sweep
from .factors import plot_factor_sweeps
from .model import (is_image, latent_kl, plot_latents_vs_factors, plot_reconstructions,
                    plot_training_curves, plot_traversals)

__all__ = ["is_image", "latent_kl", "plot_factor_sweeps", "plot_latents_vs_factors", "plot_mig_over_time",
           "plot_reconstructions", "plot_sweep", "plot_training_curves", "plot_traversals"]
