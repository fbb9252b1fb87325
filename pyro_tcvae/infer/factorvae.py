"""FactorVAE (Kim & Mnih 2018, "Disentangling by Factorising").

The objective per datapoint is the ELBO minus ``gamma * TC``, with the total correlation
estimated by the density-ratio trick: a discriminator D tells samples of q(z) from
samples of prod_j q(z_j) (each latent dimension permuted independently across a batch),
and

    TC(z) = KL(q(z) || prod_j q(z_j)) ~ E_q(z)[log D(z) - log(1 - D(z))]
          = E_q(z)[logit_real(z) - logit_permuted(z)]    (D with two logits).

One training step (Kim & Mnih, Algorithm 2): the VAE's gradient on one batch, with D
fixed (its parameters enter the VAE's loss detached, so the VAE step never trains D);
then one Adam step of D on the codes of that batch (detached, so D's step never touches
the VAE) against the permuted codes of a second batch (``second_batch=(x2, idx2)``,
passed through ``SVI.step``), or of the same batch when none is given (as
disentanglement_lib does).  Both variants exist in the wild; the training loop of
:mod:`pyro_tcvae.runs` uses two batches, as the paper.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from pyro import poutine
from torch.func import functional_call

from .sites import SiteView, find_data_plate, in_plate, latent_guide_sites, masked_mean
from .tc_elbo import TraceTC_ELBO


def discriminator_mlp(z_dim, hidden=1000, layers=6, slope=0.2):
    """Kim & Mnih's discriminator: ``layers`` hidden layers of ``hidden`` units with
    LeakyReLU(``slope``), then two logits (real, permuted).  z [B, D] -> [B, 2]."""
    sizes = [int(z_dim)] + [int(hidden)] * int(layers)
    mods = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        mods += [nn.Linear(a, b), nn.LeakyReLU(slope)]
    mods.append(nn.Linear(sizes[-1], 2))
    return nn.Sequential(*mods)


def permute_dims(z, generator=None):
    """Each column of z [B, D] permuted independently across the batch: a sample of
    prod_j q(z_j) when the rows are samples of q(z)."""
    order = torch.argsort(torch.rand(z.shape, generator=generator, device=z.device), dim=0)
    return torch.gather(z, 0, order)


def input_size(module):
    """in_features of the first nn.Linear in ``module`` (None when there is none)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            return m.in_features
    return None


class TraceFactorVAE_ELBO(TraceTC_ELBO):
    """FactorVAE's objective as a Pyro ELBO, with its discriminator.

    Parameters
    ----------
    gamma : float
        Weight of the discriminator's TC estimate (Kim & Mnih: about 35 on dSprites), >= 0.
    discriminator : nn.Module, optional
        z [B, D] -> two logits [B, 2] (real, permuted).  Default: built at the first
        step with :func:`discriminator_mlp` on the latent's size.
    discriminator_lr, discriminator_betas : its Adam's (Kim & Mnih: 1e-4, (0.5, 0.9)).
    precision : {"fp32", "bf16"}
        "bf16" runs D (its forward passes for the VAE's loss and for its own update,
        and their backward passes) under bfloat16 autocast, as the VAE's networks run
        with ``VAE(precision="bf16")``; its logits are cast to float32 before the TC
        estimate and the cross-entropy, and its parameters and Adam state stay float32.
    estimator, dataset_size, data_plate, **elbo_kwargs :
        As in :class:`~pyro_tcvae.TraceTC_ELBO`: the MSS (or MWS) estimate of the same
        batch's TC is reported beside the discriminator's, so the two can be compared.

    Notes
    -----
    After each step :attr:`last_terms` holds, beside the usual terms,
    ``tc_discriminator`` (D's TC estimate on the batch), ``discriminator_loss`` and
    ``discriminator_accuracy`` (of the update just made, on real and permuted codes).
    :meth:`state_dict` / :meth:`load_state_dict` carry D and its optimizer (for
    checkpoints).  D is trained in :meth:`loss_and_grads` only; :meth:`loss` and
    :meth:`decompose` evaluate.
    """

    def __init__(self, gamma=35.0, discriminator=None, discriminator_lr=1e-4,
                 discriminator_betas=(0.5, 0.9), estimator="mss", dataset_size=None,
                 data_plate=None, precision="fp32", **elbo_kwargs):
        if not float(gamma) >= 0:
            raise ValueError(f"gamma must be >= 0, got {gamma!r}")
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        self.precision = precision
        super().__init__(estimator=estimator, dataset_size=dataset_size,
                         data_plate=data_plate, **elbo_kwargs)
        self.gamma = float(gamma)
        self.discriminator_lr = float(discriminator_lr)
        self.discriminator_betas = tuple(discriminator_betas)
        self.discriminator, self.discriminator_optim = None, None
        if discriminator is not None:
            self._set_discriminator(discriminator)
        self._codes = []

    # ------------------------------------------------------------------ the discriminator
    def _set_discriminator(self, module):
        self.discriminator = module
        self.discriminator_optim = torch.optim.Adam(
            module.parameters(), lr=self.discriminator_lr, betas=self.discriminator_betas)

    def _discriminator_for(self, z):
        """D, made on first use for codes z [..., D]; its input size checked."""
        D = z.shape[-1]
        if self.discriminator is None:
            self._set_discriminator(discriminator_mlp(D).to(z.device))
        size = input_size(self.discriminator)
        if size is not None and size != D:
            raise ValueError(f"the discriminator takes {size} inputs, but the latent code has "
                             f"{D} dimensions: build it for z_dim={D} (e.g. "
                             f"discriminator_mlp({D}))")
        return self.discriminator

    def state_dict(self):
        """The discriminator's and its optimizer's state (empty before the first step)."""
        if self.discriminator is None:
            return {}
        return {"discriminator": self.discriminator.state_dict(),
                "optim": self.discriminator_optim.state_dict()}

    def load_state_dict(self, state):
        if not state:
            return
        if self.discriminator is None:
            raise ValueError("give the discriminator (or run a step) before loading its state")
        self.discriminator.load_state_dict(state["discriminator"])
        self.discriminator_optim.load_state_dict(state["optim"])

    def _logits(self, z, disc, params=None):
        """D's logits [..., 2] of codes z [..., D] (with ``params`` in place of its own
        when given), under bf16 autocast when ``precision="bf16"``; float32 out."""
        def run():
            return disc(z) if params is None else functional_call(disc, params, (z,))
        if self.precision == "fp32":
            return run()
        with torch.autocast(z.device.type, dtype=torch.bfloat16):
            return run().float()

    # ------------------------------------------------------------------ the objective
    def _mixture_grad(self):
        return False  # the MSS terms are reported, not weighted

    def _penalty(self, views, mi, tc, dwkl, scale, mask):
        z = torch.cat([v.value() for v in views], -1)                       # [R, B, D]
        if z.shape[1] < 2:
            raise ValueError("FactorVAE permutes each latent dimension across the batch: it "
                             "needs a batch of at least 2")
        disc = self._discriminator_for(z)
        fixed = {k: v.detach() for k, v in disc.named_parameters()}        # the VAE's step
        logits = self._logits(z, disc, fixed)                               # never trains D
        tc_d = logits[..., 0] - logits[..., 1]                              # [R, B]
        if torch.is_grad_enabled():  # a training step: D learns from every particle's codes
            self._codes.append(z.detach().reshape(-1, z.shape[-1]))
        per_point = self.gamma * tc_d if mask is None else self.gamma * tc_d * mask
        return (scale * per_point).sum(), {
            "tc_discriminator": float(masked_mean(tc_d.detach(), mask))}

    def _objective(self, t):
        return t["elbo"] - self.gamma * t["tc_discriminator"]

    def _codes_of(self, guide, args, kwargs):
        """Codes z [n, D] of the local latents of a guide run on another batch."""
        with torch.no_grad(), poutine.block(hide_types=["param"]):
            trace = poutine.trace(guide).get_trace(*args, **kwargs)
        frame = find_data_plate(trace, self.data_plate)
        views = []
        for name in latent_guide_sites(trace):
            site = trace.nodes[name]
            if in_plate(site, frame):
                views.append(SiteView(name, site, None, frame))
        z = torch.cat([v.value() for v in views], -1)                       # [R, B, D]
        return z.reshape(-1, z.shape[-1])

    def differentiable_loss(self, model, guide, *args, **kwargs):
        """The VAE's loss as a tensor (D fixed, not updated)."""
        self._codes = []
        return super().differentiable_loss(model, guide, *args, **kwargs)

    def loss_and_grads(self, model, guide, *args, second_batch=None, **kwargs):
        """The VAE's loss and gradients (D fixed), then one update of D.

        ``second_batch``: the arguments ``(x2, idx2)`` of the guide for a second batch,
        whose codes, permuted, are D's negatives (Kim & Mnih); without it the codes of
        the same batch are permuted.
        """
        self._codes = []
        loss = super().loss_and_grads(model, guide, *args, **kwargs)
        real = torch.cat(self._codes)
        fake_source = real if second_batch is None else self._codes_of(guide, second_batch, {})
        fake = permute_dims(fake_source)
        disc = self.discriminator
        logits_real, logits_fake = self._logits(real, disc), self._logits(fake, disc)
        real_class = torch.zeros(len(real), dtype=torch.long, device=real.device)   # class 0
        permuted_class = torch.ones(len(fake), dtype=torch.long, device=fake.device)  # class 1
        d_loss = 0.5 * (F.cross_entropy(logits_real, real_class)
                        + F.cross_entropy(logits_fake, permuted_class))
        self.discriminator_optim.zero_grad(set_to_none=True)
        d_loss.backward()
        self.discriminator_optim.step()
        with torch.no_grad():
            acc = 0.5 * ((logits_real.argmax(-1) == 0).float().mean()
                         + (logits_fake.argmax(-1) == 1).float().mean())
        self.last_terms["discriminator_loss"] = float(d_loss.detach())
        self.last_terms["discriminator_accuracy"] = float(acc)
        self._codes = []
        return loss
