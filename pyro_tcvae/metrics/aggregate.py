"""The aggregate posterior of a group of items, evaluated at samples.

For a group G of items (the whole dataset, or the items with factor k = v) the
aggregate posterior is q_G(z) = (1/|G|) sum_{n in G} q(z | x_n).  Sample i was drawn
from its own item's posterior, z_i ~ q(z | x_{n_i}) with n_i in G.  Its log-density
(joint and per dimension) is computed against the own component plus the other
group members included as components: all of them (exact), or a uniform random
subset (stratified sampling, as the "mss" estimator of the ELBO: weight 1/|G| on
the own component, (|G|-1)/(|G| (M-1)) on each of the M-1 others). Both use the
mixture kernels of :mod:`pyro_tcvae.ops`.
"""

import math
from dataclasses import dataclass

import torch

from ..ops.mixture import log_mixture
from ..ops.normal_mixture import normal_log_mixture
from ..ops.weights import log_importance_weights
from .posterior import index_posterior, strip_independent


def choose_items(N, num_samples, max_components, seed):
    """Random samples and mixture components for the full-dataset estimators.

    Returns (samples [S] distinct items, components [M] items, exact): the components
    are all N items when ``max_components`` is None or >= N.
    """
    g = torch.Generator().manual_seed(seed)
    S = N if num_samples is None else min(int(num_samples), N)
    samples = torch.randperm(N, generator=g)[:S]
    exact = max_components is None or N <= max_components
    comps = torch.arange(N) if exact else torch.randperm(N, generator=g)[:int(max_components)]
    return samples, comps, exact


@dataclass
class SampledMarginals:
    """Samples of the aggregate posterior and their per-dimension log-densities, which
    MIG (its H(z_j)) and the decomposition (its q(z_d)) both need: computed once by
    :func:`sampled_marginals` and handed to both, they are computed once, not twice.

    ``samples`` [S] items and ``components`` [M] items (from :func:`choose_items`),
    ``rest`` the components that are not samples, ``exact`` (every item a component),
    ``z`` [S, D] one draw from each sample's posterior, ``log_q_dims`` [S, D] =
    log q(z_sd) against the aggregate posterior of all N items, ``seed`` and ``N``.
    """

    samples: torch.Tensor
    components: torch.Tensor
    rest: torch.Tensor
    exact: bool
    z: torch.Tensor
    log_q_dims: torch.Tensor
    seed: int
    N: int

    def check(self, N, num_samples, max_components, seed):
        """Raise unless these were made for N items with these settings."""
        S = N if num_samples is None else min(int(num_samples), N)
        M = N if max_components is None or N <= max_components else int(max_components)
        if (self.N, len(self.samples), len(self.components), self.seed) != (N, S, M, seed):
            raise ValueError(
                f"the shared marginals were made for N={self.N}, S={len(self.samples)}, "
                f"M={len(self.components)}, seed={self.seed}, not N={N}, S={S}, M={M}, "
                f"seed={seed}: make them with sampled_marginals() and the same settings")


def draw_samples(posterior, samples, seed):
    """One draw z [S, D] from the posteriors of the items ``samples`` [S], seeded."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return index_posterior(posterior, samples).sample()


def sampled_marginals(posterior, num_samples=10_000, max_components=200_000, seed=0):
    """Draw S items and one z each, and compute log q(z_sd) against the aggregate
    posterior of all N items (``max_components`` stratified components, or all).

    Parameters
    ----------
    posterior : Distribution, batch shape [N, D]
    num_samples, max_components, seed : as :func:`choose_items`.

    Returns
    -------
    SampledMarginals
    """
    N = posterior.batch_shape[0]
    samples, comps, exact = choose_items(N, num_samples, max_components, seed)
    z = draw_samples(posterior, samples, seed)
    is_sample = torch.zeros(N, dtype=torch.bool)
    is_sample[samples] = True
    rest = comps[~is_sample[comps]]
    log_q_dims = log_aggregate(posterior, samples, z, rest, N, joint=False)[1]
    return SampledMarginals(samples, comps, rest, exact, z, log_q_dims, seed, N)


def log_aggregate(posterior, own, z, others, group_size, joint=True, chunk_elems=1 << 22):
    """log q_G(z_i) and log q_G(z_id) for samples of a group.

    Parameters
    ----------
    posterior : Distribution, batch shape [E, D]
        Posteriors of (at least) the items involved.
    own : LongTensor [S]
        Positions (in ``posterior``) of each sample's own item; distinct.
    z : Tensor [S, D]
        The samples, z_i ~ posterior[own[i]].
    others : LongTensor [M - S]
        Positions of the other group members used as components (none of ``own``).
    group_size : int
        |G|, the number of items in the group (>= S + len(others)).

    Returns
    -------
    log_q : Tensor [S] or None
    log_q_dims : Tensor [S, D]
    """
    S = own.shape[0]
    M = S + others.shape[0]
    if M > group_size:
        raise ValueError(f"{M} components for a group of {group_size} items")
    comps = index_posterior(posterior, torch.cat([own, others]))
    if M == 1:
        # one component: exact only for a group of one; otherwise the best available
        log_w_diag, log_w_off = -math.log(group_size), 0.0
    else:
        log_w_diag, log_w_off = log_importance_weights("mss", M, group_size)
    base = strip_independent(comps)
    with torch.no_grad():
        if type(base).__name__ == "Normal":
            j, m = normal_log_mixture(z[None], base.loc[None], base.scale[None], log_w_diag,
                                      log_w_off, joint=joint)
            return (None if j is None else j[0]), m[0]
        D = z.shape[-1]
        chunk = max(1, chunk_elems // max(1, M * D))

        def pairwise(i0, i1):
            return base.log_prob(z[i0:i1, None, :])[None]  # [1, c, M, D]

        j, m = log_mixture(pairwise, S, log_w_diag, log_w_off, chunk_size=chunk)
        return (j[0] if joint else None), m[0]
