"""Importance weights of the minibatch estimators of the aggregate posterior.

Both estimators of Chen et al. (2018), Sec. 3 and Appendix C, approximate

    q(z_i) = (1/N) sum_{n=1}^{N} q(z_i | x_n)

from a minibatch of B datapoints, where ``z_i ~ q(z | x_i)`` and ``x_i`` is in the
batch, by a weighted sum over the batch:  q(z_i) ~= sum_j w_ij q(z_i | x_j).

Both weight matrices have one value on the diagonal (the sample's own component)
and one value everywhere else, so they are represented by two scalars.  The dense
matrix is available for inspection and tests (:func:`importance_weight_matrix`).
"""

import math

import torch

ESTIMATORS = ("mss", "mws")


def check_estimator(estimator):
    """Raise a clear error for an unknown estimator name; return the name."""
    if estimator not in ESTIMATORS:
        raise ValueError(
            f"Unknown estimator {estimator!r}: use estimator='mss' (minibatch stratified "
            f"sampling, the default) or estimator='mws' (minibatch weighted sampling)."
        )
    return estimator


def log_importance_weights(estimator, batch_size, dataset_size):
    """Log-weights ``(log_w_diag, log_w_off)`` of an estimator.

    Parameters
    ----------
    estimator : {"mss", "mws"}
        ``"mws"``, minibatch weighted sampling, the paper's formula
        ``log q(z_i) ~= logsumexp_j log q(z_i|x_j) - log(N B)``: every weight is 1/(N B).
        ``"mss"``, minibatch stratified sampling: the sample's own component is one
        stratum with weight 1/N; the other N-1 datapoints are a second stratum, of which
        the B-1 other batch members are a uniform sample without replacement, each with
        weight (N-1) / (N (B-1)).  Rows sum to 1, the estimate of q(z_i) is unbiased, and
        it is exact when the batch is the whole dataset (B = N).
    batch_size : int
        B, the number of datapoints in the batch.
    dataset_size : int
        N, the number of datapoints in the dataset (N >= B).

    Returns
    -------
    (float, float)
        Log of the diagonal weight and log of the off-diagonal weight.

    Notes
    -----
    The paper's appendix further stratifies the N-1 other datapoints, which gives one
    off-diagonal weight per row the value (N-M)/(N M) (M = B-1) and the rest 1/M. The
    expectation is the same; our equal weights have lower variance for exchangeable
    draws and make the estimate exact at B = N. The reference code's version of that
    matrix puts 1/N down column 0 instead of the diagonal, which makes its ``--mss``
    behave like MWS up to a constant; here the diagonal is the sample's own component.
    """
    check_estimator(estimator)
    B, N = int(batch_size), int(dataset_size)
    if B < 1:
        raise ValueError(f"batch_size must be at least 1, got {B}.")
    if N < B:
        raise ValueError(
            f"The dataset size N={N} is smaller than the batch size B={B}. Pass the size of "
            f"the whole dataset, e.g. pyro.plate('data', size=len(dataset), subsample=idx), "
            f"or dataset_size=len(dataset)."
        )
    if estimator == "mws":
        w = -math.log(N) - math.log(B)
        return w, w
    if B == 1:
        raise ValueError(
            "estimator='mss' needs at least 2 datapoints per batch (got a batch of 1): use a "
            "larger batch (the TC estimate needs large batches anyway), drop the last "
            "incomplete batch, or use estimator='mws'."
        )
    return -math.log(N), math.log(N - 1) - math.log(N) - math.log(B - 1)


def importance_weight_matrix(estimator, batch_size, dataset_size, dtype=torch.float64):
    """The dense [B, B] weight matrix ``w_ij`` (not log), for inspection and tests."""
    log_w_diag, log_w_off = log_importance_weights(estimator, batch_size, dataset_size)
    B = int(batch_size)
    W = torch.full((B, B), math.exp(log_w_off), dtype=dtype)
    W.diagonal().fill_(math.exp(log_w_diag))
    return W
