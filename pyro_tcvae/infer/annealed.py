"""AnnealedVAE (Burgess et al. 2018, "Understanding disentangling in beta-VAE").

The objective per datapoint is

    log p(x|z) - gamma * |KL - C(step)|,   C(step) = C_max * min(1, step / capacity_steps),

where KL is the batch mean of KL(q(z|x) || p(z)) (estimated per sample as
log q(z|x) - log p(z), the sum MI + TC + dwKL of the decomposition), as in
disentanglement_lib: the encoder is pushed to carry C nats, a capacity raised
linearly during training.
"""


from .sites import masked_mean
from .tc_elbo import TraceTC_ELBO


def capacity_at(step, capacity, capacity_steps):
    """C(step) = C_max * min(1, step / capacity_steps), in nats."""
    return float(capacity) * min(1.0, float(step) / float(capacity_steps))


class TraceAnnealedVAE_ELBO(TraceTC_ELBO):
    """AnnealedVAE's objective as a Pyro ELBO.

    Parameters
    ----------
    gamma : float
        Weight of ``|KL - C|`` (Burgess et al. use 1000), >= 0.
    capacity : float
        C_max in nats, >= 0.
    capacity_steps : int
        Steps over which C rises linearly from 0 to C_max.
    estimator, dataset_size, data_plate, **elbo_kwargs :
        As in :class:`~pyro_tcvae.TraceTC_ELBO`; the decomposition (MI, TC, dwKL) is
        reported in :attr:`last_terms` beside ``capacity`` and ``kl_penalty``.

    Attributes
    ----------
    step : int
        The step that sets C; :meth:`loss_and_grads` adds one after each call (a
        training loop may set it, e.g. on resume).
    """

    def __init__(self, gamma=1000.0, capacity=25.0, capacity_steps=100_000, estimator="mss",
                 dataset_size=None, data_plate=None, **elbo_kwargs):
        for name, value in (("gamma", gamma), ("capacity", capacity)):
            if not float(value) >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if int(capacity_steps) < 1:
            raise ValueError(f"capacity_steps must be >= 1, got {capacity_steps!r}")
        super().__init__(estimator=estimator, dataset_size=dataset_size,
                         data_plate=data_plate, **elbo_kwargs)
        self.gamma, self.capacity = float(gamma), float(capacity)
        self.capacity_steps = int(capacity_steps)
        self.step = 0

    def current_capacity(self):
        return capacity_at(self.step, self.capacity, self.capacity_steps)

    def _mixture_grad(self):
        return False  # KL = MI + TC + dwKL telescopes: log q(z) cancels

    def _penalty(self, views, mi, tc, dwkl, scale, mask):
        kl = mi + tc + dwkl                                   # [R, B] log q(z|x) - log p(z)
        w = scale if mask is None else scale * mask
        total = w.sum()
        kl_mean = (w * kl).sum() / total.clamp(min=1e-30)     # batch mean of the KL
        C = self.current_capacity()
        penalty = self.gamma * (kl_mean - C).abs()
        # the base loss holds + total * kl_mean: replace it by + total * penalty
        correction = total * (penalty - kl_mean)
        return correction, {"capacity": C, "kl_penalty": float(penalty.detach()),
                            "kl_batch": float(masked_mean(kl.detach(), mask))}

    def _objective(self, t):
        return t["log_likelihood"] - t["kl_penalty"] - t["kl_global"]

    def loss_and_grads(self, model, guide, *args, **kwargs):
        loss = super().loss_and_grads(model, guide, *args, **kwargs)
        self.step += 1
        return loss
