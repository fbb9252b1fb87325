"""Objectives as Pyro ELBOs: the TC-decomposed ELBO of beta-TCVAE (and beta-VAE), and the
field's baselines on the same decomposition: FactorVAE, AnnealedVAE, DIP-VAE-I/II."""

from .annealed import TraceAnnealedVAE_ELBO, capacity_at
from .dip import TraceDIPVAE_ELBO, batch_covariance, dip_penalty
from .factorvae import TraceFactorVAE_ELBO, discriminator_mlp, permute_dims
from .tc_elbo import TraceMeanFieldTC_ELBO, TraceTC_ELBO

__all__ = ["TraceTC_ELBO", "TraceMeanFieldTC_ELBO", "TraceFactorVAE_ELBO",
           "TraceAnnealedVAE_ELBO", "TraceDIPVAE_ELBO", "batch_covariance", "capacity_at",
           "dip_penalty", "discriminator_mlp", "permute_dims"]
