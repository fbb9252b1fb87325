"""DIP-VAE-I and DIP-VAE-II (Kumar, Sattigeri, Balakrishnan 2018, "Variational
Inference of Disentangled Latent Concepts from Unlabeled Observations").

The ELBO minus a penalty that pushes a covariance towards the identity:

    lambda_od * sum_{i != j} Cov_ij^2 + lambda_d * sum_i (Cov_ii - 1)^2

- DIP-VAE-I: Cov = Cov_batch[mu(x)], the covariance of the encoder means;
- DIP-VAE-II: Cov = E_batch[Sigma(x)] + Cov_batch[mu(x)], the covariance of the
  aggregate posterior q(z), with Sigma(x) the (diagonal) covariance of q(z|x).

As in disentanglement_lib, the penalty is computed on the batch and added once per
batch (scaled to the dataset like the ELBO's terms).
"""

import torch

from .tc_elbo import TraceTC_ELBO

KINDS = ("i", "ii")


def batch_covariance(mean, weights=None):
    """Covariance over the batch of ``mean`` [R, B, D] (biased, E[m m^T] - E[m] E[m]^T),
    optionally with per-datapoint ``weights`` [R, B]: [R, D, D]."""
    if weights is None:
        weights = torch.ones(mean.shape[:2], dtype=mean.dtype, device=mean.device)
    w = weights / weights.sum(-1, keepdim=True).clamp(min=1e-30)
    centre = (w[..., None] * mean).sum(1, keepdim=True)               # [R, 1, D]
    dev = mean - centre
    return torch.einsum("rb,rbi,rbj->rij", w, dev, dev)


def dip_penalty(cov, lambda_od, lambda_d):
    """lambda_od * sum of squared off-diagonal entries + lambda_d * sum (diag - 1)^2,
    per leading index: cov [..., D, D] -> [...]."""
    diag = torch.diagonal(cov, dim1=-2, dim2=-1)
    off = cov - torch.diag_embed(diag)
    return lambda_od * off.pow(2).sum((-2, -1)) + lambda_d * (diag - 1).pow(2).sum(-1)


class TraceDIPVAE_ELBO(TraceTC_ELBO):
    """DIP-VAE's objective as a Pyro ELBO.

    Parameters
    ----------
    lambda_od : float
        Weight of the off-diagonal entries, >= 0.
    lambda_d : float, optional
        Weight of the diagonal; default ``10 * lambda_od`` for DIP-VAE-I and
        ``lambda_od`` for DIP-VAE-II (Kumar et al.).
    kind : {"i", "ii"}
    estimator, dataset_size, data_plate, **elbo_kwargs :
        As in :class:`~pyro_tcvae.TraceTC_ELBO`; ``last_terms`` reports the
        decomposition beside ``dip_penalty`` (per batch, in nats).

    DIP-VAE-I needs the mean of q(z|x), DIP-VAE-II its mean and variance: any
    reparameterized family with both in closed form (Normal, Laplace, ...); others are
    refused with a clear error.
    """

    def __init__(self, lambda_od=10.0, lambda_d=None, kind="i", estimator="mss",
                 dataset_size=None, data_plate=None, **elbo_kwargs):
        if kind not in KINDS:
            raise ValueError(f"kind must be 'i' or 'ii', got {kind!r}")
        lambda_d = (10.0 if kind == "i" else 1.0) * lambda_od if lambda_d is None else lambda_d
        for name, value in (("lambda_od", lambda_od), ("lambda_d", lambda_d)):
            if not float(value) >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        super().__init__(estimator=estimator, dataset_size=dataset_size,
                         data_plate=data_plate, **elbo_kwargs)
        self.kind = kind
        self.lambda_od, self.lambda_d = float(lambda_od), float(lambda_d)

    def _mixture_grad(self):
        return False

    def covariance(self, views, mask=None):
        """The covariance the penalty acts on, [R, D, D]."""
        purpose = f"DIP-VAE-{self.kind.upper()}"
        mean = torch.cat([v.moment("mean", purpose) for v in views], -1)      # [R, B, D]
        weights = None if mask is None else mask.to(mean.dtype)
        cov = batch_covariance(mean, weights)
        if self.kind == "ii":
            var = torch.cat([v.moment("variance", purpose) for v in views], -1)
            w = torch.ones_like(var[..., 0]) if weights is None else weights
            w = w / w.sum(-1, keepdim=True).clamp(min=1e-30)
            cov = cov + torch.diag_embed((w[..., None] * var).sum(1))
        return cov

    def _penalty(self, views, mi, tc, dwkl, scale, mask):
        penalty = dip_penalty(self.covariance(views, mask), self.lambda_od, self.lambda_d)  # [R]
        w = scale if mask is None else scale * mask
        correction = (w.sum(-1) * penalty).sum()   # once per batch, scaled like the ELBO
        return correction, {"dip_penalty": float(penalty.detach().mean())}

    def _objective(self, t):
        return t["elbo"] - t["dip_penalty"]  # the batch's penalty counts once per datapoint
