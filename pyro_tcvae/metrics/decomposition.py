"""The ELBO decomposition over a whole dataset (Chen et al. 2018, Sec. 3).

With n uniform over the N items and z ~ q(z | x_n):

    E[log p(x|z)] - KL  with  KL = E[log q(z|x) - log p(z)] = MI + TC + dwKL,
    MI   = E[log q(z|x) - log q(z)]             index-code mutual information
    TC   = E[log q(z) - sum_d log q(z_d)]       total correlation
    dwKL = E[sum_d log q(z_d) - log p(z)]       dimension-wise KL

q(z) and q(z_d) are the aggregate posterior over all N items: the joint evaluated
against every item's posterior (exactly, for Normal posteriors), the marginals against
every item or a stratified subset of them.  Expectations are Monte Carlo
averages over S items drawn without replacement, one z each, so MI + TC + dwKL equals
the KL estimate exactly; standard errors are over the S per-sample values.
"""

import math

import torch

from ..ops.normal_mixture import normal_joint_log_mixture
from .aggregate import choose_items, draw_samples, log_aggregate
from .posterior import encode_dataset, index_posterior, strip_independent

TERMS = ("log_likelihood", "mi", "tc", "dwkl", "kl", "elbo")


def _summarize(per_sample):
    out, err = {}, {}
    S = None
    for name, v in per_sample.items():
        v = v.double()
        S = v.shape[0]
        out[name] = float(v.mean())
        err[name] = float(v.std() / math.sqrt(S)) if S > 1 else float("nan")
    return out, err


def decomposition_terms(posterior, prior, num_samples=None, max_components=200_000, seed=0,
                        marginals=None):
    """MI, TC, dwKL and KL (nats per item) of a dataset's posteriors, no likelihood.

    Parameters
    ----------
    posterior : Distribution, batch shape [N, D]
        Every item's posterior.
    prior : Distribution with event shape [D] (the model's p(z)), or a callable
        ``prior(z)`` returning one.
    num_samples : int, optional
        S items, drawn without replacement (default: all N).
    max_components : int or None
        Components of the per-dimension aggregate posteriors q(z_d) (None: all N).
        The joint q(z) of Normal posteriors is always exact (all N items): a joint
        density has few near neighbours per sample, and a subset of components biases
        it (by 0.14 nats on a near-injective dSprites code), while the 1-D marginals
        are not measurably affected. For other families the joint uses the same
        components as the marginals.
    seed : int
    marginals : SampledMarginals, optional
        The samples and their log q(z_d), from
        :func:`~pyro_tcvae.metrics.aggregate.sampled_marginals` with the same settings
        (the evaluation shares them with :func:`~pyro_tcvae.metrics.mig`); the same
        numbers as without, computed once.

    Returns
    -------
    (terms, stderr, per_sample): dicts of floats, floats, and Tensors [S] (plus the
    samples ``z`` [S, D] under ``per_sample["z"]``).
    """
    N = posterior.batch_shape[0]
    base = strip_independent(posterior)
    normal = type(base).__name__ == "Normal"
    if marginals is not None and normal:
        marginals.check(N, num_samples, max_components, seed)
        samples, comps, exact = marginals.samples, marginals.components, marginals.exact
        z, log_qzd = marginals.z, marginals.log_q_dims
    else:
        samples, comps, exact = choose_items(N, num_samples, max_components, seed)
        z = draw_samples(posterior, samples, seed)
        is_sample = torch.zeros(N, dtype=torch.bool)
        is_sample[samples] = True
        rest = comps[~is_sample[comps]]
        log_qz, log_qzd = log_aggregate(posterior, samples, z, rest, N, joint=not normal)
    q = index_posterior(posterior, samples)
    if callable(prior) and not isinstance(prior, torch.distributions.Distribution):
        prior = prior(z)
    if normal:
        log_qz = normal_joint_log_mixture(z, base.loc, base.scale)
    with torch.no_grad():
        log_q_cond = q.log_prob(z).sum(-1)
        log_p = prior.log_prob(z)
    log_prod = log_qzd.sum(-1)
    per = {
        "mi": log_q_cond - log_qz,          # log q(z|x) - log q(z)
        "tc": log_qz - log_prod,            # log q(z) - sum_d log q(z_d)
        "dwkl": log_prod - log_p,           # sum_d log q(z_d) - log p(z)
        "kl": log_q_cond - log_p,           # = mi + tc + dwkl
    }
    terms, err = _summarize(per)
    terms["num_components"] = int(len(comps))
    terms["exact"] = exact
    per["z"] = z
    per["items"] = samples
    return terms, err, per


def elbo_decomposition(model, data, num_samples=10_000, max_components=200_000, seed=0,
                       batch_size=1024, progress=True, posterior=None, marginals=None):
    """The full-dataset ELBO and its decomposition for a VAE.

    Encodes every item (the aggregate posterior needs them all), then estimates the
    terms from ``num_samples`` items (see :func:`decomposition_terms`) and the
    log-likelihood E[log p(x|z)] from the same items and samples.

    Parameters
    ----------
    model : the :class:`~pyro_tcvae.models.VAE` (``encode``, ``decoder``, ``prior``,
        ``likelihood``, ``x_shape``)
    data : GroundTruthData (any dataset with ``images(indices)``)
    posterior : Distribution [N, D], optional
        Every item's posterior, when already encoded (see :func:`encode_dataset`).
    marginals : SampledMarginals, optional
        See :func:`decomposition_terms`.

    Returns
    -------
    dict
        ``log_likelihood``, ``mi``, ``tc``, ``dwkl``, ``kl``, ``elbo`` (nats per item),
        ``stderr`` (a dict of their standard errors), ``num_samples``,
        ``num_components``, ``exact``.
    """
    post = posterior if posterior is not None else encode_dataset(
        model, data, batch_size=batch_size, progress=progress)
    terms, err, per = decomposition_terms(post, lambda z: model.prior.distribution(z),
                                          num_samples, max_components, seed,
                                          marginals=marginals)
    z, items, ll = per["z"], per["items"], []
    with torch.no_grad():
        for start in range(0, len(items), batch_size):
            sl = slice(start, start + batch_size)
            lik = model.likelihood.distribution(model.decoder(z[sl]), model.x_shape)
            ll.append(lik.log_prob(data.images(items[sl])))
    per["log_likelihood"] = torch.cat(ll)
    per["elbo"] = per["log_likelihood"] - per["kl"]
    more, more_err = _summarize({k: per[k] for k in ("log_likelihood", "elbo")})
    terms.update(more)
    err.update(more_err)
    terms["stderr"] = err
    terms["num_samples"] = len(items)
    return terms
