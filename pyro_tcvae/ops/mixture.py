"""Log-densities of samples under a weighted mixture of factorized components.

For samples z_i (i < S) and components j (j < N) with per-dimension log-densities
``lp[i, j, d] = log q(z_id | j)``, this module computes

    log q(z_i)  = logsumexp_j (log w_ij + sum_d lp[i, j, d])   (joint)
    log q(z_id) = logsumexp_j (log w_ij + lp[i, j, d])         (marginal of dim d)

with weights that take one value on the "diagonal" (component i is sample i's own)
and one value elsewhere (see :mod:`pyro_tcvae.ops.weights`).  The work is done in
chunks of samples, so memory stays at O(chunk * N * D); under autograd each chunk is
recomputed in the backward pass (activation checkpointing) instead of being stored.

The ELBO's minibatch terms and the full-dataset metrics both call this module.
"""

import torch
from torch.utils.checkpoint import checkpoint

from .normal_mixture import normal_log_mixture

__all__ = ["log_mixture", "normal_log_mixture"]


def _chunk_terms(pairwise, i0, i1, log_w_diag, log_w_off):
    lp = pairwise(i0, i1)  # [R, c, N, D]
    R, c, N, D = lp.shape
    lw = lp.new_full((c, N), log_w_off)
    if log_w_diag is not None:
        k = torch.arange(c, device=lp.device)
        lw[k, i0 + k] = log_w_diag
    joint = torch.logsumexp(lp.sum(-1) + lw, -1)  # [R, c]
    marg = torch.logsumexp(lp + lw[..., None], -2)  # [R, c, D]
    return joint, marg


def log_mixture(pairwise, num_samples, log_w_diag, log_w_off, chunk_size=64):
    """Joint and per-dimension log mixture densities from a pairwise log-density.

    Parameters
    ----------
    pairwise : callable
        ``pairwise(i0, i1)`` returns the per-dimension log-densities of samples
        ``i0:i1`` under every component, a Tensor [R, i1 - i0, N, D].
    num_samples : int
        S, the number of samples.
    log_w_diag : float or None
        Log-weight of sample i's own component (component i); ``None`` for none.
    log_w_off : float
        Log-weight of every other component.
    chunk_size : int
        Samples per chunk.

    Returns
    -------
    log_q : Tensor [R, S]
    log_q_dims : Tensor [R, S, D]
    """
    joints, margs = [], []
    use_checkpoint = torch.is_grad_enabled()
    for i0 in range(0, num_samples, chunk_size):
        i1 = min(num_samples, i0 + chunk_size)
        if use_checkpoint:
            j, m = checkpoint(
                _chunk_terms, pairwise, i0, i1, log_w_diag, log_w_off, use_reentrant=False
            )
        else:
            j, m = _chunk_terms(pairwise, i0, i1, log_w_diag, log_w_off)
        joints.append(j)
        margs.append(m)
    return torch.cat(joints, 1), torch.cat(margs, 1)
