"""A ready VAE (model + guide) with pluggable networks, priors, latent families and
likelihoods."""

from .latents import (LaplaceLatent, Latent, NormalLatent, RelaxedBernoulliLatent,
                      StudentTLatent, make_latent)
from .likelihoods import (BernoulliLikelihood, ContinuousBernoulliLikelihood,
                          GaussianLikelihood, Likelihood, make_likelihood)
from .nets import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, SmallMLP
from .priors import DistributionPrior, FlowPrior, LaplacePrior, NormalPrior, Prior, make_prior
from .vae import VAE

__all__ = [
    "VAE",
    "Prior", "NormalPrior", "LaplacePrior", "FlowPrior", "DistributionPrior", "make_prior",
    "Latent", "NormalLatent", "LaplaceLatent", "StudentTLatent", "RelaxedBernoulliLatent",
    "make_latent",
    "Likelihood", "BernoulliLikelihood", "ContinuousBernoulliLikelihood", "GaussianLikelihood",
    "make_likelihood",
    "MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder", "SmallMLP",
]
