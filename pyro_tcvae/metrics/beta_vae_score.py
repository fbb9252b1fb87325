"""The BetaVAE score (Higgins et al. 2017, "beta-VAE: Learning basic visual concepts
with a constrained variational framework", Sec. 3).

One training point: fix factor k (uniform over the factors), draw ``batch_size``
pairs of items that share k's value (each pair its own value, the other factors
free), and average the absolute code differences,

    x = (1/B) sum_b |z(a_b) - z(b_b)|          [D],   label k.

In a disentangled code the dimension of factor k has a difference near 0, so a linear
classifier reads k off x.  The score is the classifier's accuracy on fresh points:
1 at best, 1/K (K factors) for a code that carries nothing.
"""

from dataclasses import dataclass

import numpy as np

from ._suite import (GroupSampler, MetricResult, bootstrap_stderr, check_batch_inputs,
                     document_inputs)


@dataclass
class BetaVAEResult(MetricResult):
    """``score``: accuracy on the evaluation points; ``stderr``: its bootstrap standard
    error over those points; ``train_score``: accuracy on the training points;
    ``factor_names``: the factors that were fixed (those that vary)."""

    score: float
    stderr: float
    train_score: float
    factor_names: tuple
    num_train: int
    num_eval: int
    batch_size: int


def pair_features(z, sampler, factor_index, batch_size, rng, chunk=1024):
    """BetaVAE points: mean absolute code difference over pairs sharing a factor's value.

    Parameters
    ----------
    z : ndarray [N, D]
    sampler : GroupSampler
        Over the factor classes [N, K] of the same items.
    factor_index : int ndarray [P]
        The fixed factor of each point.
    batch_size : int
        Pairs per point.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray [P, D]: (1/B) sum_b |z[a_b] - z[b_b]|, a_b uniform over the items, b_b uniform
    over the items whose factor k equals a_b's.
    """
    P, N = len(factor_index), len(z)
    out = np.empty((P, z.shape[1]))
    for s in range(0, P, chunk):
        k = np.repeat(factor_index[s:s + chunk, None], batch_size, 1)  # [p, B]
        a = rng.integers(0, N, k.shape)
        b = sampler.draw(k, sampler.f[a, k], rng)
        out[s:s + chunk] = np.abs(z[a] - z[b]).mean(1)
    return out


@document_inputs
def beta_vae_score(codes, factors, *, factor_sizes=None, factor_names=None, seed=0,
                   num_train=10_000, num_eval=5_000, batch_size=64, num_bootstrap=100):
    """The BetaVAE score of a code, with disentanglement_lib's protocol.

    Parameters
    ----------
    {inputs}
    seed : int
        Seeds the draws and the classifier.
    num_train, num_eval : int
        Training and evaluation points (protocol: 10,000 and 5,000).
    batch_size : int
        Pairs averaged per point (protocol: 64).
    num_bootstrap : int
        Bootstrap replicates over the evaluation points for ``stderr``.

    Returns
    -------
    BetaVAEResult

    Notes
    -----
    Protocol (disentanglement_lib ``beta_vae_sklearn``, unsupervised_study_v1 config):
    mean representation; 10,000 training and 5,000 evaluation points, each the mean
    absolute difference of 64 pairs; fixed factor uniform over the factors; classifier
    ``LogisticRegression`` with scikit-learn's defaults (C = 1, no feature scaling);
    score = evaluation accuracy.

    Departures, each for a reason:

    - Pairs are drawn from the given items, not rendered from sampled factors (the
      metric sees only codes): on a full grid this is the protocol's distribution, on
      a subset its empirical approximation (see :class:`~._suite.GroupSampler`).
    - Factors with one value among the items (dSprites' colour) are never the fixed
      factor: fixing them fixes nothing, so no classifier could find them.  Their
      chance level is 1/K over the K factors that vary.
    - The classifier is today's scikit-learn default (lbfgs, multinomial); the study of
      Locatello et al. (2019) ran scikit-learn < 0.22, whose default was liblinear
      one-vs-rest, which recent versions no longer offer for several classes.
      ``random_state=seed``.
    - ``stderr`` is a bootstrap over the evaluation points (the classifier fixed).
    """
    from sklearn.linear_model import LogisticRegression  # lazily: a slow import

    metric = "beta_vae_score"
    z, f, names, keep = check_batch_inputs(codes, factors, factor_sizes, factor_names, metric,
                                           batch_size, num_train, num_eval)
    rng = np.random.default_rng(seed)
    sampler = GroupSampler(f)
    ks = np.asarray(keep)
    y_train = ks[rng.integers(0, len(ks), num_train)]
    x_train = pair_features(z, sampler, y_train, batch_size, rng)
    y_eval = ks[rng.integers(0, len(ks), num_eval)]
    x_eval = pair_features(z, sampler, y_eval, batch_size, rng)
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"{metric}: the {num_train} training points fixed a single factor; "
                         f"pass a larger num_train=")
    clf = LogisticRegression(random_state=seed).fit(x_train, y_train)
    correct = (clf.predict(x_eval) == y_eval).astype(np.float64)
    stderr = bootstrap_stderr(lambda w: w @ correct / num_eval, num_eval, num_bootstrap, seed)
    return BetaVAEResult(
        score=float(correct.mean()), stderr=stderr,
        train_score=float((clf.predict(x_train) == y_train).mean()),
        factor_names=tuple(names[k] for k in keep), num_train=num_train, num_eval=num_eval,
        batch_size=batch_size)
