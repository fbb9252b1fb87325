"""Likelihoods p(x | z) from raw decoder outputs, with support checks on the data."""

import math

import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops.checks import describe_rows, nonfinite_rows


def check_finite(x, what="the data x"):
    """Raise a ValueError naming the batch rows of x [B, ...] that hold NaN or inf."""
    count, rows = nonfinite_rows(x)
    if count:
        raise ValueError(f"{what} has {count} NaN or infinite values, in {len(rows)} of its "
                         f"{x.shape[0]} rows (rows {describe_rows(rows)}); remove or repair "
                         f"those items")


class Likelihood(nn.Module):
    """Base class. ``distribution(raw, x_shape)`` has event shape ``x_shape``.

    ``check(x)`` validates the data with one pass over x and an error that names the
    fix (the VAE calls it while Pyro's validation is on); the distributions are built
    with ``validate_args=False``, since Pyro's own validation repeats that work (several
    passes over the [B, 64*64] batch, about 5% of a training step at batch 2048).
    """

    name = None

    def distribution(self, raw, x_shape):
        raise NotImplementedError

    def mean(self, raw, x_shape):
        """The likelihood's mean (what an image "looks like"), ``[B, *x_shape]``."""
        raise NotImplementedError

    def check(self, x):
        """Raise a clear error when x is outside the likelihood's support."""
        check_finite(x)

    def config(self):
        return {"name": self.name}


class BernoulliLikelihood(Likelihood):
    """Bernoulli on logits, for binary images (the paper's dSprites likelihood)."""

    name = "bernoulli"

    def distribution(self, raw, x_shape):
        return dist.Bernoulli(logits=raw.reshape(-1, *x_shape),
                              validate_args=False).to_event(len(x_shape))

    def mean(self, raw, x_shape):
        return torch.sigmoid(raw).reshape(-1, *x_shape)

    def check(self, x):
        if not bool(((x == 0) | (x == 1)).all()):  # NaN fails too
            super().check(x)
            lo, hi = float(x.min()), float(x.max())
            hint = ("0..255 images: divide by 255 and use likelihood='continuous_bernoulli' or "
                    "'gaussian'") if hi > 1 else ("grey levels in [0, 1]: use "
                                                  "likelihood='continuous_bernoulli' or 'gaussian'")
            raise ValueError(f"the Bernoulli likelihood needs binary data (0 or 1), but x has "
                             f"values in [{lo:g}, {hi:g}]. For {hint}.")


class ContinuousBernoulliLikelihood(Likelihood):
    """Continuous Bernoulli on logits (Loaiza-Ganem & Cunningham 2019), for grey levels
    in [0, 1]."""

    name = "continuous_bernoulli"

    def distribution(self, raw, x_shape):
        logits = raw.reshape(-1, *x_shape).clamp(-30.0, 30.0)
        return dist.ContinuousBernoulli(logits=logits,
                                        validate_args=False).to_event(len(x_shape))

    def mean(self, raw, x_shape):
        return self.distribution(raw, x_shape).base_dist.mean

    def check(self, x):
        if not bool(((x >= 0) & (x <= 1)).all()):  # NaN fails too
            super().check(x)
            raise ValueError(f"the continuous Bernoulli likelihood needs data in [0, 1], but x "
                             f"has values in [{float(x.min()):g}, {float(x.max()):g}]"
                             + (": divide 0..255 images by 255." if float(x.max()) > 1 else "."))


class GaussianLikelihood(Likelihood):
    """Normal with the decoder output as mean and one standard deviation for all
    pixels: learned (``sigma=None``, the default) or fixed."""

    name = "gaussian"

    def __init__(self, sigma=None):
        super().__init__()
        self.fixed_sigma = None if sigma is None else float(sigma)
        if self.fixed_sigma is None:
            self.raw_sigma = nn.Parameter(torch.tensor(math.log(math.expm1(0.3))))

    def sigma(self):
        if self.fixed_sigma is not None:
            return self.fixed_sigma
        return F.softplus(self.raw_sigma) + 1e-3

    def distribution(self, raw, x_shape):
        return dist.Normal(raw.reshape(-1, *x_shape), self.sigma(),
                           validate_args=False).to_event(len(x_shape))

    def mean(self, raw, x_shape):
        return raw.reshape(-1, *x_shape)

    def config(self):
        return {"name": self.name, "sigma": self.fixed_sigma}


LIKELIHOODS = {c.name: c for c in (BernoulliLikelihood, ContinuousBernoulliLikelihood,
                                   GaussianLikelihood)}


def make_likelihood(spec):
    """A :class:`Likelihood` from a name, a config dict or an instance."""
    if isinstance(spec, Likelihood):
        return spec
    kwargs = {}
    if isinstance(spec, dict):
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        spec = spec["name"]
    if spec not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {spec!r}; choose from {sorted(LIKELIHOODS)}")
    return LIKELIHOODS[spec](**kwargs)
