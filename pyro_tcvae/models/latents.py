"""Posterior (latent) families: raw encoder outputs [B, k*D] -> a distribution [B, D].

Every family is reparameterized and factorizes per dimension, as the TC-decomposed
ELBO needs.  Scales are ``softplus(h) + min_scale``: positive, finite, and smooth.
"""

import torch
import torch.nn.functional as F
import pyro.distributions as dist

MIN_SCALE = 1e-4


def _loc_scale(h, D):
    return h[..., :D], F.softplus(h[..., D:2 * D]) + MIN_SCALE


class Latent:
    """A posterior family. ``num_params`` raw numbers per latent dimension."""

    name = None
    num_params = 2

    def __call__(self, h, D):
        raise NotImplementedError

    def config(self):
        return {"name": self.name}


class NormalLatent(Latent):
    name = "normal"

    def __call__(self, h, D):
        return dist.Normal(*_loc_scale(h, D))


class LaplaceLatent(Latent):
    name = "laplace"

    def __call__(self, h, D):
        return dist.Laplace(*_loc_scale(h, D))


class StudentTLatent(Latent):
    """Student's t with fixed degrees of freedom ``df``."""

    name = "studentt"

    def __init__(self, df=5.0):
        self.df = float(df)

    def __call__(self, h, D):
        loc, scale = _loc_scale(h, D)
        return dist.StudentT(torch.full_like(loc, self.df), loc, scale)

    def config(self):
        return {"name": self.name, "df": self.df}


class RelaxedBernoulliLatent(Latent):
    """Relaxed (concrete) Bernoulli in (0, 1) with a fixed ``temperature``; one logit
    per dimension."""

    name = "relaxed_bernoulli"
    num_params = 1

    def __init__(self, temperature=0.5):
        self.temperature = float(temperature)

    def __call__(self, h, D):
        logits = h[..., :D].clamp(-15.0, 15.0)
        return dist.RelaxedBernoulli(torch.tensor(self.temperature, dtype=h.dtype,
                                                  device=h.device), logits=logits)

    def config(self):
        return {"name": self.name, "temperature": self.temperature}


LATENTS = {c.name: c for c in (NormalLatent, LaplaceLatent, StudentTLatent,
                               RelaxedBernoulliLatent)}


def make_latent(spec, **kwargs):
    """A :class:`Latent` from a name ("normal", "laplace", "studentt",
    "relaxed_bernoulli"), a config dict, or an instance."""
    if isinstance(spec, Latent):
        return spec
    if isinstance(spec, dict):
        kwargs = {**{k: v for k, v in spec.items() if k != "name"}, **kwargs}
        spec = spec["name"]
    if spec not in LATENTS:
        raise ValueError(f"unknown latent family {spec!r}; choose from {sorted(LATENTS)}")
    return LATENTS[spec](**kwargs)
