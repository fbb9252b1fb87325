"""The FactorVAE score (Kim and Mnih 2018, "Disentangling by factorising", Sec. 4).

One vote: fix factor k at one value (uniform over the factors, the value that of a
random item), draw ``batch_size`` items sharing it, and take the code dimension whose
variance over the batch, relative to its variance over all items, is smallest:

    d* = argmin_d Var_batch(z_d) / Var_all(z_d)      over the active dimensions,

a vote (d*, k).  The classifier is the majority vote: dimension d predicts the factor
that most often voted for it on the training votes.  The score is the accuracy of that
classifier on fresh votes: 1 at best, 1/K for a code that carries nothing.

Dividing by Var_all is the paper's normalisation of every dimension by its standard
deviation; dimensions collapsed to the prior (mean codes of standard deviation below
``prune_threshold``) are pruned first, since any tiny variance would win the argmin.
"""

from dataclasses import dataclass

import numpy as np

from ._suite import (GroupSampler, MetricResult, bootstrap_stderr, check_batch_inputs,
                     document_inputs)


@dataclass
class FactorVAEResult(MetricResult):
    """``score``: accuracy of the majority-vote classifier on the evaluation votes;
    ``stderr``: its bootstrap standard error over those votes; ``train_score``: on the
    training votes.  ``votes`` [K', D]: training votes of each scored factor (rows,
    ``factor_names``) for each dimension; ``majority`` [D]: the factor each dimension
    predicts (index into ``factor_names``); ``active`` [D]: the dimensions kept;
    ``global_std`` [D]: their standard deviation over the items."""

    score: float
    stderr: float
    train_score: float
    votes: np.ndarray
    majority: np.ndarray
    active: np.ndarray
    global_std: np.ndarray
    factor_names: tuple
    num_train: int
    num_eval: int
    batch_size: int


def batch_votes(z, sampler, factor_index, batch_size, global_var, active, rng, chunk=1024):
    """FactorVAE votes: the dimension of least relative variance in batches that fix a
    factor's value.

    Parameters
    ----------
    z : ndarray [N, D]
    sampler : GroupSampler
    factor_index : int ndarray [P]
        The fixed factor of each vote.
    batch_size : int
    global_var : ndarray [D]
        Var_all(z_d) (ddof=1).
    active : bool ndarray [D]
        Dimensions allowed to win (at least one).
    rng : numpy.random.Generator

    Returns
    -------
    int ndarray [P]: d* of each vote, an index into the D dimensions.
    """
    P, N = len(factor_index), len(z)
    dims = np.flatnonzero(active)
    out = np.empty(P, dtype=np.int64)
    for s in range(0, P, chunk):
        k = np.repeat(factor_index[s:s + chunk, None], batch_size, 1)  # [p, B]
        anchor = rng.integers(0, N, len(k))
        items = sampler.draw(k, np.repeat(sampler.f[anchor, k[:, 0], None], batch_size, 1), rng)
        local = z[items][..., dims].var(1, ddof=1)  # [p, D']
        out[s:s + chunk] = dims[np.argmin(local / global_var[dims], 1)]
    return out


@document_inputs
def factor_vae_score(codes, factors, *, factor_sizes=None, factor_names=None, seed=0,
                     num_train=10_000, num_eval=5_000, batch_size=64,
                     num_variance_estimate=10_000, prune_threshold=0.05, num_bootstrap=100):
    """The FactorVAE score of a code, with disentanglement_lib's protocol.

    Parameters
    ----------
    {inputs}
    seed : int
        Seeds every draw.
    num_train, num_eval : int
        Training and evaluation votes (protocol: 10,000 and 5,000).
    batch_size : int
        Items per vote (protocol: 64).
    num_variance_estimate : int
        Items for Var_all (protocol: 10,000; all items when fewer are given).
    prune_threshold : float
        Dimensions whose standard deviation over the items is below this are pruned
        (protocol: 0.05).
    num_bootstrap : int
        Bootstrap replicates over the evaluation votes for ``stderr``.

    Returns
    -------
    FactorVAEResult

    Notes
    -----
    Protocol (disentanglement_lib ``factor_vae_score``, unsupervised_study_v1 config):
    mean representation; Var_all from 10,000 items (ddof=1); prune dimensions of
    standard deviation < 0.05; 10,000 training and 5,000 evaluation votes of 64 items
    each (Var_batch with ddof=1); majority-vote classifier; score = evaluation
    accuracy.  With no active dimension the score is 0, as there.

    Departures, each for a reason:

    - Batches are drawn from the given items (see :class:`~._suite.GroupSampler`):
      exact on a full grid, an approximation on a subset.  Var_all uses
      ``num_variance_estimate`` distinct items (all of them when fewer), not draws with
      replacement.
    - The pruning threshold applies to the standard deviation of the raw mean codes, as
      disentanglement_lib does (after normalising by it, every dimension has standard
      deviation 1, so a threshold there would prune nothing).
    - Factors with one value among the items (dSprites' colour) never vote: a batch that
      fixes them fixes nothing.  Chance level is 1/K over the K factors that vary.
    - disentanglement_lib takes the argmin among the active dimensions and records it as
      if it indexed all dimensions, which misfiles votes once a dimension is pruned;
      here the winner is mapped back to its own dimension.
    - ``stderr`` is a bootstrap over the evaluation votes (the classifier fixed).
    """
    metric = "factor_vae_score"
    z, f, names, keep = check_batch_inputs(codes, factors, factor_sizes, factor_names, metric,
                                           batch_size, num_train, num_eval)
    rng = np.random.default_rng(seed)
    N, D = z.shape
    var_items = rng.permutation(N)[:min(N, num_variance_estimate)]
    global_var = z[var_items].var(0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    K = len(keep)
    common = dict(global_std=np.sqrt(global_var), active=active,
                  factor_names=tuple(names[k] for k in keep), num_train=num_train,
                  num_eval=num_eval, batch_size=batch_size)
    if not active.any():
        return FactorVAEResult(score=0.0, stderr=0.0, train_score=0.0,
                               votes=np.zeros((K, D), np.int64),
                               majority=np.zeros(D, np.int64), **common)
    sampler = GroupSampler(f)
    ks = np.asarray(keep)
    row_train = rng.integers(0, K, num_train)  # index into keep
    d_train = batch_votes(z, sampler, ks[row_train], batch_size, global_var, active, rng)
    row_eval = rng.integers(0, K, num_eval)
    d_eval = batch_votes(z, sampler, ks[row_eval], batch_size, global_var, active, rng)
    votes = np.zeros((K, D), np.int64)
    np.add.at(votes, (row_train, d_train), 1)
    majority = votes.argmax(0)  # [D]: the factor each dimension predicts
    correct = (majority[d_eval] == row_eval).astype(np.float64)
    stderr = bootstrap_stderr(lambda w: w @ correct / num_eval, num_eval, num_bootstrap, seed)
    return FactorVAEResult(
        score=float(correct.mean()), stderr=stderr,
        train_score=float((majority[d_train] == row_train).mean()), votes=votes,
        majority=majority, **common)
