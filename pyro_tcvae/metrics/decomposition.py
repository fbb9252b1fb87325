"""The ELBO decomposition over a whole dataset (Chen et al. 2018, Sec. 3).

With n uniform over the N items and z ~ q(z | x_n):

    E[log p(x|z)] - KL  with  KL = E[log q(z|x) - log p(z)] = MI + TC + dwKL,
    MI   = E[log q(z|x) - log q(z)]             index-code mutual information
    TC   = E[log q(z) - sum_d log q(z_d)]       total correlation
    dwKL = E[sum_d log q(z_d) - log p(z)]       dimension-wise KL

q(z) and q(z_d) are the aggregate posterior over all N items, evaluated against every
item's posterior (exact) or a stratified subset of them.  Expectations are Monte Carlo
averages over S items drawn without replacement, one z each, so MI + TC + dwKL equals
the KL estimate exactly; standard errors are over the S per-sample values.
"""

import math

import torch

from .aggregate import choose_items, log_aggregate
from .posterior import encode_dataset, index_posterior

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


def decomposition_terms(posterior, prior, num_samples=None, max_components=200_000, seed=0):
    """MI, TC, dwKL and KL (nats per item) of a dataset's posteriors, no likelihood.

    Parameters
    ----------
    posterior : Distribution, batch shape [N, D]
    prior : Distribution with event shape [D] (the model's p(z))
    num_samples : int, optional
        S items, drawn without replacement (default: all N).
    max_components : int or None
        Components of the aggregate posterior (None: all N, exact).
    seed : int

    Returns
    -------
    (terms, stderr, per_sample): dicts of floats, floats, and Tensors [S].
    """
    N = posterior.batch_shape[0]
    samples, comps, exact = choose_items(N, num_samples, max_components, seed)
    return _terms(posterior, torch.arange(N), samples, comps, exact, prior, seed)


def _terms(post, pos, samples, comps, exact, prior, seed):
    """Terms per sample. ``pos`` maps items to positions in ``post``."""
    N = pos.shape[0]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        q = index_posterior(post, pos[samples])
        z = q.sample()
    if callable(prior) and not isinstance(prior, torch.distributions.Distribution):
        prior = prior(z)
    is_sample = torch.zeros(N, dtype=torch.bool)
    is_sample[samples] = True
    rest = comps[~is_sample[comps]]
    log_qz, log_qzd = log_aggregate(post, pos[samples], z, pos[rest], N, joint=True)
    with torch.no_grad():
        log_q_cond = q.log_prob(z).sum(-1)
        log_p = prior.log_prob(z)
    log_prod = log_qzd.sum(-1)
    per = {
        "mi": log_q_cond - log_qz,          # log q(z|x) - log q(z)
        "tc": log_qz - log_prod,            # log q(z) - sum_d log q(z_d)
        "dwkl": log_prod - log_p,           # sum_d log q(z_d) - log p(z)
        "kl": log_q_cond - log_p,           # = mi + tc + dwkl
        "z": z,
    }
    terms, err = _summarize({k: v for k, v in per.items() if k != "z"})
    terms["num_components"] = int(len(comps))
    terms["exact"] = exact
    return terms, err, per


def elbo_decomposition(model, data, num_samples=10_000, max_components=200_000, seed=0,
                       batch_size=1024, progress=True):
    """The full-dataset ELBO and its decomposition for a VAE.

    Parameters
    ----------
    model : the :class:`~pyro_tcvae.models.VAE` (``encode``, ``decoder``, ``prior``,
        ``likelihood``, ``x_shape``)
    data : GroundTruthData (any dataset with ``images(indices)``)
    num_samples, max_components, seed : see :func:`decomposition_terms`

    Returns
    -------
    dict
        ``log_likelihood``, ``mi``, ``tc``, ``dwkl``, ``kl``, ``elbo`` (nats per item),
        ``stderr`` (a dict of their standard errors), ``num_samples``,
        ``num_components``, ``exact``.
    """
    N = len(data)
    samples, comps, exact = choose_items(N, num_samples, max_components, seed)
    needed = torch.unique(torch.cat([samples, comps]))
    post = encode_dataset(model, data, needed, batch_size=batch_size, progress=progress)
    pos = torch.full((N,), -1, dtype=torch.long)
    pos[needed] = torch.arange(len(needed))
    terms, err, per = _terms(post, pos, samples, comps, exact,
                             lambda z: model.prior.distribution(z), seed)
    z, ll = per.pop("z"), []
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            sl = slice(start, start + batch_size)
            lik = model.likelihood.distribution(model.decoder(z[sl]), model.x_shape)
            ll.append(lik.log_prob(data.images(samples[sl])))
    per["log_likelihood"] = torch.cat(ll)
    per["elbo"] = per["log_likelihood"] - per["kl"]
    more, more_err = _summarize({k: per[k] for k in ("log_likelihood", "elbo")})
    terms.update(more)
    err.update(more_err)
    terms["stderr"] = err
    terms["num_samples"] = len(samples)
    return terms
