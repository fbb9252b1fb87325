"""Priors p(z) over the D latent dimensions.

A prior is an ``nn.Module`` (so learnable priors train with the VAE) whose
``distribution(like)`` returns a distribution with event shape [D]; ``like`` is any
tensor that fixes dtype and device.  Built in: ``"normal"``, ``"laplace"`` and
``"flow"`` (a learnable factorial flow); any Pyro distribution of the right shape is
accepted too, factorized or not.

Adding a prior: subclass :class:`Prior` and implement ``distribution``::

    class StudentTPrior(Prior):
        def __init__(self, z_dim, df=3.0):
            super().__init__(z_dim)
            self.df = df

        def distribution(self, like):
            zeros = like.new_zeros(self.z_dim)
            return dist.StudentT(self.df, zeros, 1.0).to_event(1)

    vae = VAE(x_shape=(64, 64), prior=StudentTPrior(10))
"""

import pyro.distributions as dist
import torch
import torch.nn as nn
from pyro.distributions.transforms import Spline


class Prior(nn.Module):
    """Base class: ``distribution(like)`` -> Distribution with event_shape [z_dim]."""

    name = None  # built-in priors have a name and can be rebuilt from their config

    def __init__(self, z_dim):
        super().__init__()
        self.z_dim = int(z_dim)

    def distribution(self, like):
        raise NotImplementedError

    def config(self):
        return None if self.name is None else {"name": self.name}


class NormalPrior(Prior):
    """Standard normal, N(0, I)."""

    name = "normal"

    def distribution(self, like):
        return dist.Normal(like.new_zeros(self.z_dim), 1.0).to_event(1)


class LaplacePrior(Prior):
    """Standard Laplace per dimension (location 0, scale 1)."""

    name = "laplace"

    def distribution(self, like):
        return dist.Laplace(like.new_zeros(self.z_dim), 1.0).to_event(1)


class FlowPrior(Prior):
    """A learnable factorial flow: per dimension, a monotone rational-quadratic spline
    (Durkan et al. 2019) applied to a standard normal.

    Each dimension's map is strictly increasing, so the prior is invertible, has an
    exact density and can be sampled (the reference code's planar flow has neither an
    inverse nor a sampler). Outside [-bound, bound] the map is the identity.
    """

    name = "flow"

    def __init__(self, z_dim, count_bins=8, bound=4.0):
        super().__init__(z_dim)
        self.count_bins, self.bound = int(count_bins), float(bound)
        self.spline = Spline(self.z_dim, count_bins=self.count_bins, bound=self.bound)

    def distribution(self, like):
        base = dist.Normal(like.new_zeros(self.z_dim), 1.0)
        return dist.TransformedDistribution(base, [self.spline]).to_event(1)

    def config(self):
        return {"name": self.name, "count_bins": self.count_bins, "bound": self.bound}


class DistributionPrior(Prior):
    """A fixed user-supplied distribution: event shape [D], or batch shape [D] (then
    its dimensions are taken as independent)."""

    def __init__(self, z_dim, distribution):
        super().__init__(z_dim)
        d = distribution
        if tuple(d.event_shape) == () and tuple(d.batch_shape) == (z_dim,):
            d = d.to_event(1)
        if tuple(d.event_shape) != (z_dim,) or tuple(d.batch_shape) != ():
            raise ValueError(
                f"a prior over {z_dim} latent dims needs event shape ({z_dim},) (or batch "
                f"shape ({z_dim},)), got batch {tuple(distribution.batch_shape)}, event "
                f"{tuple(distribution.event_shape)}"
            )
        self._dist = d

    def distribution(self, like):
        return self._dist


PRIORS = {c.name: c for c in (NormalPrior, LaplacePrior, FlowPrior)}


def make_prior(spec, z_dim):
    """A :class:`Prior` from a name, a config dict, a Prior, or a Distribution."""
    if isinstance(spec, Prior):
        if spec.z_dim != z_dim:
            raise ValueError(f"prior is over {spec.z_dim} dims but z_dim={z_dim}")
        return spec
    if isinstance(spec, torch.distributions.Distribution):
        return DistributionPrior(z_dim, spec)
    kwargs = {}
    if isinstance(spec, dict):
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        spec = spec["name"]
    if spec not in PRIORS:
        raise ValueError(f"unknown prior {spec!r}; choose from {sorted(PRIORS)}, or pass a "
                         f"Prior subclass or a Pyro distribution with event shape ({z_dim},)")
    return PRIORS[spec](z_dim, **kwargs)
