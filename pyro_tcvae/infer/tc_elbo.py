"""The TC-decomposed ELBO of beta-TCVAE (Chen et al., 2018) as Pyro ELBOs.

For a datapoint x_n with local latent z ~ q(z | x_n) the KL term of the ELBO splits as
(Chen et al., Eq. 2, per sample):

    log q(z|x_n) - log p(z)
      =  [log q(z|x_n) - log q(z)]                  index-code mutual information (MI)
       + [log q(z) - sum_d log q(z_d)]              total correlation (TC)
       + [sum_d log q(z_d) - log p(z)]              dimension-wise KL (dwKL)

where q(z) = (1/N) sum_m q(z|x_m) is the aggregate posterior, estimated from the
minibatch (``estimator="mss"`` or ``"mws"``, see :mod:`pyro_tcvae.ops.weights`).
The objective per datapoint is

    log p(x|z) - alpha * MI - beta * TC - gamma * dwKL,

implemented as the base ELBO's estimate plus the correction

    -[(alpha - 1) MI + (beta - 1) TC + (gamma - 1) dwKL] * scale

per datapoint, so ``alpha = beta = gamma = 1`` is the base ELBO exactly (loss and
gradients).  With a prior that does not factorize over dimensions the third term is
E[sum_d log q(z_d) - log p(z)], which is not a KL between marginals but still makes
the three terms sum to the KL term.
"""

import math
import warnings

import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoGuide
from pyro.infer.util import torch_item

from ..ops.checks import describe_rows, nonfinite_rows
from ..ops.mixture import log_mixture, normal_log_mixture
from ..ops.weights import check_estimator, log_importance_weights
from . import distributed
from .sites import (
    SiteView,
    check_local_site,
    find_data_plate,
    in_plate,
    is_subsampled,
    latent_guide_sites,
    masked_mean,
    warn_once,
)

TERM_NAMES = ("log_likelihood", "mi", "tc", "dwkl", "kl", "kl_global", "elbo", "objective")


class _TCMixin:
    """The TC decomposition, mixed into a Pyro ELBO whose particle hook it extends."""

    def __init__(
        self,
        alpha=1.0,
        beta=1.0,
        gamma=1.0,
        estimator="mss",
        dataset_size=None,
        data_plate=None,
        aggregate="auto",
        memory=0,
        **elbo_kwargs,
    ):
        check_estimator(estimator)
        if int(memory) != memory or memory < 0:
            raise ValueError(f"memory must be an integer >= 0 (past posterior components "
                             f"kept for the estimate of q(z)), got {memory!r}.")
        distributed.check_aggregate(aggregate)
        for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
            if not math.isfinite(float(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}.")
            if float(value) < 0:
                warnings.warn(f"{type(self).__name__}: {name}={value} is negative, so the "
                              f"objective rewards the term it weighs instead of penalizing "
                              f"it; pass a weight >= 0 unless that is what you mean.",
                              stacklevel=2)
        if dataset_size is not None and int(dataset_size) < 1:
            raise ValueError(f"dataset_size must be a positive integer, got {dataset_size!r}.")
        super().__init__(**elbo_kwargs)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.estimator = estimator
        self.dataset_size = None if dataset_size is None else int(dataset_size)
        self.data_plate = data_plate
        self.aggregate = aggregate
        self.memory = int(memory)
        self._bank = None  # (loc, scale) [M, D] of past batches' posteriors, newest last
        self._global_step = False
        self.last_terms = None
        self._particle_terms = []
        self._last_traces = None

    # ------------------------------------------------------------------ traces
    def _get_trace(self, model, guide, args, kwargs):
        if isinstance(guide, AutoGuide):
            raise ValueError(
                f"{type(guide).__name__} is an AutoGuide: it packs or point-estimates the "
                f"latents, so q(z) and the TC terms are meaningless. Write an amortized "
                f"guide (an encoder that samples the local latents inside the data plate)."
            )
        try:
            model_trace, guide_trace = super()._get_trace(model, guide, args, kwargs)
        except (ValueError, RuntimeError) as e:
            _raise_if_nonfinite_args(type(self).__name__, args, kwargs, e)
            raise
        for trace in (model_trace, guide_trace):
            for name, site in trace.nodes.items():
                if site["type"] == "sample" and site["infer"].get("enumerate"):
                    check_local_site(name, site)  # raises the enumeration error
        return model_trace, guide_trace

    def _num_vectorized(self):
        return self.num_particles if self.vectorize_particles else 1

    def _resolve_dataset_size(self, frame, batch_size):
        if self.dataset_size is not None:
            return self.dataset_size
        if is_subsampled(frame):
            return int(frame.full_size)
        if self.num_particles and batch_size > 1:
            warn_once(
                self,
                "unsubsampled",
                f"The data plate {frame.name!r} is not subsampled, so TraceTC_ELBO takes the "
                f"batch as the whole dataset (N = B = {batch_size}). If it is a minibatch, "
                f"give the plate the dataset size: pyro.plate({frame.name!r}, size=N, "
                f"subsample=idx), or pass dataset_size=N.",
            )
        return batch_size

    def _site_views(self, model_trace, guide_trace, frame):
        views = []
        for name in latent_guide_sites(guide_trace):
            gsite = guide_trace.nodes[name]
            if not in_plate(gsite, frame):
                continue
            check_local_site(name, gsite)
            msite = model_trace.nodes.get(name)
            if msite is None or msite["type"] != "sample" or msite["is_observed"]:
                raise ValueError(
                    f"Latent site {name!r} of the guide has no latent counterpart in the model: "
                    f"sample it in the model too (inside the same data plate)."
                )
            views.append(SiteView(name, gsite, msite, frame))
        left = torch.broadcast_shapes(*[v.site_left for v in views])
        for v in views:
            v.set_left(left)
        if len({v.B for v in views}) != 1:
            raise ValueError("The local latent sites disagree on the data plate's batch size.")
        return views

    # ------------------------------------------------------------------ terms
    def _log_mixture_terms(self, views, N, gathered=False, training=False):
        """log q(z_i) and sum_d log q(z_id), each [R, B]; ``gathered``: against the
        components of every rank (local first), see :mod:`.distributed`; with
        ``memory``, against the remembered components of past batches too, and a
        ``training`` step's components are remembered."""
        normal = [v.normal_params() for v in views]
        if self.memory and not all(p is not None for p in normal):
            raise ValueError("memory > 0 keeps past posteriors as Normal components: it "
                             "needs Normal posteriors at every local latent site; use "
                             "memory=0 with other families.")
        if all(p is not None for p in normal):
            z = torch.cat([v.value() for v in views], -1)
            loc = torch.cat([p[0] for p in normal], -1)
            scale = torch.cat([p[1] for p in normal], -1)
            if gathered:
                loc = distributed.gather_local_first(loc, 1)
                scale = distributed.gather_local_first(scale, 1)
            current = loc.shape[1]
            if self.memory:
                loc, scale = self._with_memory(loc, scale, N)
            log_w_diag, log_w_off = log_importance_weights(self.estimator, loc.shape[1], N)
            log_qz, log_qz_dims = normal_log_mixture(z, loc, scale, log_w_diag, log_w_off)
            if self.memory and training:
                self._remember(loc[0, :current], scale[0, :current])
        else:
            B = views[0].B * (distributed.world_size() if gathered else 1)
            log_w_diag, log_w_off = log_importance_weights(self.estimator, B, N)
            # gathered once, outside the checkpointed chunks (a recomputation in the
            # backward pass must not call collectives again)
            bases = [distributed.gather_distribution(v.base, v.guide_site["value"].shape, v.pos)
                     if gathered else None for v in views]

            def pairwise(i0, i1):
                return torch.cat([v.pairwise(i0, i1, base) for v, base in zip(views, bases)], -1)

            log_qz, log_qz_dims = log_mixture(pairwise, views[0].B, log_w_diag, log_w_off)
        return log_qz, log_qz_dims.sum(-1)

    # ------------------------------------------------------------------ memory
    def _with_memory(self, loc, scale, N):
        """The components [R, B + M, D]: this batch's first (their own-component weight
        stays on the diagonal), then the remembered ones (no gradient), at most N in
        all.  The estimator's weights then treat them as one larger batch."""
        if self._bank is None or self._bank[0].shape[-1] != loc.shape[-1]:
            return loc, scale
        room = max(0, N - loc.shape[1])
        bank_loc, bank_scale = (t[-room:] if room else t[:0] for t in self._bank)
        R = loc.shape[0]
        bank_loc = bank_loc.to(loc.dtype).expand(R, -1, -1)
        bank_scale = bank_scale.to(scale.dtype).expand(R, -1, -1)
        return torch.cat([loc, bank_loc], 1), torch.cat([scale, bank_scale], 1)

    def _remember(self, loc, scale):
        """Append this batch's posteriors [B, D] (detached; half precisions kept as
        float32) and keep the newest ``memory`` rows."""
        low = (torch.float16, torch.bfloat16)
        loc, scale = (t.detach().float() if t.dtype in low else t.detach()
                      for t in (loc, scale))
        bank = self._bank
        if bank is not None and bank[0].shape[-1] == loc.shape[-1]:
            if torch.equal(bank[0][-loc.shape[0]:], loc):
                return  # the same batch again (another particle of this step)
            loc, scale = torch.cat([bank[0], loc]), torch.cat([bank[1], scale])
        self._bank = (loc[-self.memory:], scale[-self.memory:])

    def state_dict(self):
        """The remembered components (for an exact resume), when ``memory`` > 0."""
        state = super().state_dict() if hasattr(super(), "state_dict") else {}
        if self.memory and self._bank is not None:
            state = {**state, "memory": [t.cpu() for t in self._bank]}
        return state

    def load_state_dict(self, state):
        if hasattr(super(), "load_state_dict"):
            super().load_state_dict({k: v for k, v in state.items() if k != "memory"})
        if self.memory and "memory" in state:
            self._bank = tuple(state["memory"])

    def _tc_terms(self, model_trace, guide_trace):
        """The correction to the base loss (a scalar tensor) and the step's terms.

        Terms are tensors [R, B] per datapoint (MI, TC, dwKL) and per-datapoint
        scalars; see :meth:`decompose` for their meaning.
        """
        frame = find_data_plate(guide_trace, self.data_plate)
        views = self._site_views(model_trace, guide_trace, frame)
        B = views[0].B
        gathered = self._global_step = distributed.is_global(self.aggregate)
        if gathered:  # the mixture runs over the global batch
            distributed.check_equal_batches(B, views[0].value().device)
            B = B * distributed.world_size()
        N = self._resolve_dataset_size(frame, B)
        training = torch.is_grad_enabled()
        with torch.set_grad_enabled(training and self._mixture_grad()):
            log_qz, log_prod_qz = self._log_mixture_terms(views, N, gathered, training)
        log_q_cond = sum(v.per_datapoint(v.guide_site["unscaled_log_prob"],
                                         len(v.guide_site["fn"].event_shape)) for v in views)
        log_p = sum(v.per_datapoint(v.model_site["unscaled_log_prob"],
                                    len(v.model_site["fn"].event_shape)) for v in views)
        # the decomposition of the KL term (Chen et al. 2018, Sec. 3), per datapoint [R, B]
        mi = log_q_cond - log_qz  # index-code MI:  log q(z|x) - log q(z)
        tc = log_qz - log_prod_qz  # total correlation:  log q(z) - sum_d log q(z_d)
        dwkl = log_prod_qz - log_p  # dimension-wise KL:  sum_d log q(z_d) - log p(z)
        scale, mask = views[0].row_weight()
        for v in views[1:]:
            s2, m2 = v.row_weight()
            if not torch.equal(s2, scale) or (mask is None) != (m2 is None) or (
                mask is not None and not torch.equal(m2, mask)
            ):
                raise ValueError(
                    f"Local latent sites {views[0].name!r} and {v.name!r} have different "
                    f"scales or masks; the TC across them needs one weight per datapoint. "
                    f"Apply poutine.scale / poutine.mask to all local latents alike."
                )
        terms = self._report(model_trace, guide_trace, frame, N, mi, tc, dwkl, mask)
        correction, extra = self._penalty(views, mi, tc, dwkl, scale, mask)
        terms.update(extra)
        terms["objective"] = self._objective(terms)
        return correction, terms

    # ------------------------------------------------------------------ the objective
    # Subclasses change these three to weigh other penalties on the same decomposition.
    def _mixture_grad(self):
        """Whether the objective differentiates through log q(z) (the mixture kernel)."""
        return (self.alpha, self.beta, self.gamma) != (1.0, 1.0, 1.0)

    def _penalty(self, views, mi, tc, dwkl, scale, mask):
        """(correction added to the base loss, a scalar tensor; extra terms, floats).

        beta-TCVAE: ``[(alpha - 1) MI + (beta - 1) TC + (gamma - 1) dwKL] * scale`` per
        datapoint, summed."""
        if not self._mixture_grad():
            return torch.zeros((), dtype=mi.dtype, device=mi.device), {}
        per_point = (self.alpha - 1) * mi + (self.beta - 1) * tc + (self.gamma - 1) * dwkl
        if mask is not None:
            per_point = per_point * mask
        return (scale * per_point).sum(), {}

    def _objective(self, t):
        """The objective per datapoint (float) from the step's terms."""
        return (t["log_likelihood"] - self.alpha * t["mi"] - self.beta * t["tc"]
                - self.gamma * t["dwkl"] - t["kl_global"])

    def _report(self, model_trace, guide_trace, frame, N, mi, tc, dwkl, mask):
        """Per-datapoint terms in nats (floats), every constant kept."""
        P = self._num_vectorized()
        ll = 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample" or not site["is_observed"]:
                continue
            lp = site["unscaled_log_prob"].detach()
            if in_plate(site, frame) and lp.dim() + frame.dim >= 0:
                ll += torch_item(lp.sum()) / math.prod(lp.shape[: lp.dim() + frame.dim + 1])
            else:
                ll += torch_item(lp.sum()) / (N * P)
        kl_global = 0.0
        for name in latent_guide_sites(guide_trace):
            gsite = guide_trace.nodes[name]
            if in_plate(gsite, frame) or name not in model_trace.nodes:
                continue
            msite = model_trace.nodes[name]
            kl_global += torch_item(
                gsite["unscaled_log_prob"].detach().sum() - msite["unscaled_log_prob"].detach().sum()
            ) / (N * P)
        t = {
            "mi": torch_item(masked_mean(mi.detach(), mask)),
            "tc": torch_item(masked_mean(tc.detach(), mask)),
            "dwkl": torch_item(masked_mean(dwkl.detach(), mask)),
        }
        t["log_likelihood"] = ll
        t["kl"] = t["mi"] + t["tc"] + t["dwkl"]
        t["kl_global"] = kl_global
        t["elbo"] = ll - t["kl"] - kl_global
        return t

    # ------------------------------------------------------------------ ELBO API
    def _differentiable_loss_particle(self, model_trace, guide_trace):
        loss, surrogate = super()._differentiable_loss_particle(model_trace, guide_trace)
        correction, terms = self._tc_terms(model_trace, guide_trace)
        self._particle_terms.append(terms)
        self._last_traces = (model_trace, guide_trace)
        return loss + torch_item(correction), surrogate + correction

    def _finish(self, loss, args, kwargs):
        terms = self._particle_terms
        traces, self._last_traces = self._last_traces, None
        self._particle_terms = []
        if terms:
            self.last_terms = {k: sum(t[k] for t in terms) / len(terms) for k in terms[0]}
            self.last_terms["loss"] = torch_item(loss)
            if self._global_step:  # means over every rank's datapoints
                self.last_terms = distributed.mean_over_ranks(self.last_terms)
        value = torch_item(loss)
        if not math.isfinite(value):
            name = type(self).__name__
            site = _nonfinite_site(traces)
            _raise_if_nonfinite_args(name, args, kwargs, None, site)
            where = f": {site}" if site else ""
            raise ValueError(
                f"{name}: the loss is not finite ({value}){where}; terms of this step: "
                f"{self.last_terms}. Usual causes: a learning rate too high, posterior scales "
                f"that reach 0 or inf (parameterize them as softplus(h) + 1e-4 or exp of a "
                f"clamped value), or data outside the likelihood's support (e.g. 0..255 "
                f"images given to a Bernoulli likelihood: scale them to [0, 1])."
            )
        return loss

    def loss(self, model, guide, *args, **kwargs):
        """An estimate of the loss (the negative weighted objective), a float.

        The step's terms are left in :attr:`last_terms`.
        """
        self._particle_terms = []
        loss = 0.0
        with torch.no_grad():
            for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
                loss_particle, _ = self._differentiable_loss_particle(model_trace, guide_trace)
                loss = loss + loss_particle / self.num_particles
        return self._finish(loss, args, kwargs)

    def loss_and_grads(self, model, guide, *args, **kwargs):
        """Loss (float) and gradients (``.backward()``) of the weighted objective."""
        self._particle_terms = []
        return self._finish(super().loss_and_grads(model, guide, *args, **kwargs), args, kwargs)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        """The loss as a differentiable tensor."""
        self._particle_terms = []
        return self._finish(super().differentiable_loss(model, guide, *args, **kwargs), args,
                            kwargs)

    def decompose(self, model, guide, *args, **kwargs):
        """The terms of the objective, in nats per datapoint, averaged over particles.

        Returns
        -------
        dict
            ``log_likelihood``: E[log p(x|z)] of the observed sites (observed sites
            outside the data plate are divided by N); ``mi``, ``tc``, ``dwkl``: the
            three parts of the local KL, with the estimator's constants (log N, log B)
            kept; ``kl`` = mi + tc + dwkl = E[log q(z|x) - log p(z)]; ``kl_global``:
            E[log q - log p] of global latents divided by N; ``elbo`` =
            log_likelihood - kl - kl_global; ``objective`` = log_likelihood
            - alpha mi - beta tc - gamma dwkl - kl_global; ``loss`` = the value
            :meth:`loss` returns (a total over the dataset, with poutine.scale applied).
        """
        self.loss(model, guide, *args, **kwargs)
        return dict(self.last_terms)


def _raise_if_nonfinite_args(name, args, kwargs, error=None, site=None):
    """Raise a ValueError naming the arguments of the model and guide that hold NaN or
    inf (the usual cause of a failed step); return when they are all finite."""
    found = []
    for label, value in [*((f"argument {i}", a) for i, a in enumerate(args)),
                         *((f"argument {k!r}", v) for k, v in kwargs.items())]:
        if torch.is_tensor(value) and value.is_floating_point():
            count, rows = nonfinite_rows(value)
            if count:
                found.append(f"{label} (shape {list(value.shape)}) has {count} NaN or "
                             f"infinite values, in rows {describe_rows(rows)}")
    if not found:
        return
    detail = f" ({site})" if site else ""
    first = str(error).splitlines()[0][:120] if error is not None else ""
    cause = f" (The step failed with: {first})" if first else ""
    raise ValueError(f"{name}: the data given to the model and guide is not finite: "
                     f"{'; '.join(found)}{detail}. Remove or repair those items.{cause}"
                     ) from error


def _nonfinite_site(traces):
    """A description of the first site whose value or log-density is NaN or infinite
    (the model's observed sites first, then the guide's and the model's latents), or
    None."""
    if traces is None:
        return None
    model_trace, guide_trace = traces
    order = [("model", model_trace, True), ("guide", guide_trace, False),
             ("model", model_trace, False)]
    for which, trace, observed in order:
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or bool(site["is_observed"]) != observed:
                continue
            kind = "observed site" if observed else "latent site"
            count, _ = nonfinite_rows(site["value"])
            if count:
                return (f"the {kind} {name!r} of the {which} holds {count} NaN or infinite "
                        f"values")
            lp = site.get("log_prob")
            if torch.is_tensor(lp) and nonfinite_rows(lp)[0]:
                return (f"the log-density of the {kind} {name!r} of the {which} is NaN or "
                        f"infinite (a value outside the support, or non-finite parameters)")
    return None


class TraceTC_ELBO(_TCMixin, Trace_ELBO):
    """beta-TCVAE's TC-decomposed ELBO on top of :class:`~pyro.infer.Trace_ELBO`.

    Parameters
    ----------
    alpha, beta, gamma : float
        Weights of the index-code mutual information, the total correlation and the
        dimension-wise KL. ``beta=6`` (others 1) is beta-TCVAE as in the paper;
        ``alpha = beta = gamma = b`` is beta-VAE; all 1 is the plain ELBO.
    estimator : {"mss", "mws"}
        Minibatch stratified sampling (default) or minibatch weighted sampling.
    dataset_size : int, optional
        N. By default it is the data plate's ``size`` when the plate is subsampled
        (``pyro.plate("data", size=N, subsample=idx)`` or ``subsample_size=B``).
    data_plate : str, optional
        Name of the plate over datapoints, when the guide's latents sit in several.
    aggregate : {"auto", "global", "local"}
        Under torch.distributed data parallelism (each process a slice of the global
        batch): ``"global"`` scores each process's samples against the posterior
        components of the *global* batch (all-gathered, gradients flowing back to their
        owners; B in the estimator's weights is the global batch, N comes from the
        plate), ``"local"`` against its own slice only. ``"auto"`` (default) is global
        under an initialized process group of more than one process, else local (one
        process: the same thing). :attr:`last_terms` are then means over all ranks.
    memory : int
        0 (default): q(z) is estimated from the batch alone, as in the paper.  M > 0:
        also from the Normal posteriors (loc, scale) of the last M datapoints of past
        training steps, kept detached, as if the batch were B + M datapoints (the
        estimator's weights are those of a batch of B + M).  At B << N the batch
        estimate of the joint q(z) is almost all the sample's own component once the
        posteriors are narrow, so the TC penalty loses its signal; the memory gives
        each sample neighbours.  Needs Normal posteriors; the components are those of
        a slightly older encoder; :meth:`state_dict` carries them for an exact resume.
    **elbo_kwargs
        Passed to :class:`~pyro.infer.Trace_ELBO` (``num_particles``,
        ``vectorize_particles``, ``max_plate_nesting``, ...).

    Notes
    -----
    The local latents (guide sample sites inside the data plate) must be
    reparameterized and factorize per dimension; several local sites share one
    TC across all their dimensions; latents outside the data plate are global and get
    the plain ELBO. ``poutine.scale`` on the latents scales their correction too, and a
    per-datapoint ``poutine.mask`` drops a datapoint's terms (it still belongs to the
    aggregate posterior). After every call the step's terms are in
    :attr:`last_terms` (see :meth:`decompose`).
    """


class TraceMeanFieldTC_ELBO(_TCMixin, TraceMeanField_ELBO):
    """The same objective on top of :class:`~pyro.infer.TraceMeanField_ELBO`.

    The base term uses the analytic KL(q(z|x) || p(z)) where one is registered, which
    lowers the variance of the gradients; the correction is the same Monte-Carlo
    estimate as in :class:`TraceTC_ELBO`, so the expected objective is identical.
    The reported terms are the Monte-Carlo ones for both classes.
    """
