"""Modularity and explicitness (Ridgeway and Mozer 2018, "Learning deep disentangled
embeddings with the F-statistic loss", Sec. 3).

Modularity: each dimension should carry information about at most one factor.  With
m_dk = I(z_d; v_k) (z_d discretised) and theta_d = max_k m_dk,

    delta_d = sum_{k != k*} m_dk^2 / (theta_d^2 (K - 1)),   modularity = (1/D) sum_d (1 - delta_d),

(a dimension with theta_d = 0 scores 0).  A factor spread over several dimensions is
not penalised (that is compactness, which the paper leaves out); a dimension that
carries nothing scores whatever its MI estimation noise makes of it, and one whose
codes are all equal (no MI at all) scores 0.

Explicitness: how well a linear classifier on the whole code predicts each factor, as
the one-vs-rest ROC AUC averaged over the factor's classes and then over factors: 1 at
best, 0.5 for a code that carries nothing.  It measures information, not its
arrangement: an invertible linear mix of a code keeps it.
"""

from dataclasses import dataclass

import numpy as np

from ._suite import (MetricResult, bootstrap_weights, check_training_values, discrete_mi,
                     discretize, document_inputs, split_inputs)


@dataclass
class ModularityResult(MetricResult):
    """``score``: modularity, ``stderr`` its standard error (over random halves of the
    training items); ``explicitness``
    and ``explicitness_stderr``; ``mi`` [D, K']: the discrete MI (nats) behind
    modularity; ``per_dimension`` [D]: 1 - delta_d; ``explicitness_per_factor`` [K']."""

    score: float
    stderr: float
    explicitness: float
    explicitness_stderr: float
    mi: np.ndarray
    per_dimension: np.ndarray
    explicitness_per_factor: np.ndarray
    factor_names: tuple
    num_train: int
    num_test: int
    num_bins: int


def modularity_per_dimension(mi):
    """1 - delta_d of an MI matrix [..., D, K] -> [..., D] (0 where a row is all 0; 1
    for a nonzero row when K = 1)."""
    sq = np.asarray(mi, dtype=np.float64) ** 2
    top = sq.max(-1)
    K = sq.shape[-1]
    delta = np.divide(sq.sum(-1) - top, top * max(K - 1, 1), out=np.ones_like(top),
                      where=top > 0)
    return np.where(top > 0, 1 - delta, 0.0)


def modularity_from_mi(mi):
    """Modularity of an MI matrix [..., D, K]: the mean over dimensions of 1 - delta_d.

    Returns a float (or an array [...] for batched input)."""
    out = modularity_per_dimension(mi).mean(-1)
    return float(out) if np.ndim(out) == 0 else out


def halves_stderr(z, f, num_bins, num_halves, seed):
    """Standard error of modularity from random halves of the items (no repeats).

    Parameters
    ----------
    z : ndarray [n, D]
        The training items' codes.
    f : int ndarray [n, K]
        Their (varying) factor classes.
    num_bins : int
    num_halves : int
        Halves to score (pairs of complementary halves of ``num_halves // 2`` random
        splits); fewer than 2 gives NaN.
    seed : int

    Returns
    -------
    float: the standard deviation of modularity over the halves, each discretised
    over its own range as a fresh training set would be.

    Notes
    -----
    This is the delete-d jackknife with d = n/2 (Shao and Wu 1989): the variance of a
    statistic over random halves of the n items around their mean estimates its
    variance at n.  A bootstrap (the multinomial weights of the other metrics) repeats
    items, which a histogram MI counts as evidence of dependence, and keeps the bins of
    the whole set; on the dSprites-like
    code of ``benchmarks/bench_metrics.py`` with slightly noisy inactive dimensions
    the halves gave 0.007-0.008 against 0.0081, the spread over 60 fresh training sets
    of 10,000 items (the bootstrap with the bins fixed: 0.006-0.007).
    """
    if num_halves < 2:
        return float("nan")
    rng = np.random.default_rng([seed, 7907])
    n, half = len(z), len(z) // 2
    reps = []
    for _ in range((num_halves + 1) // 2):
        perm = rng.permutation(n)
        for items in (perm[:half], perm[half:2 * half]):
            reps.append(modularity_from_mi(discrete_mi(discretize(z[items], num_bins),
                                                       f[items])))
    return float(np.std(reps[:num_halves], ddof=1))


def weighted_auc(scores, positive, weights):
    """ROC AUC of ``scores`` [n] for the labels ``positive`` (bool [n]), per row of item
    weights [B, n] -> [B] (ties count one half; NaN where a class has no weight)."""
    order = np.argsort(scores, kind="stable")
    s, pos, w = scores[order], positive[order], weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # tie groups
    wp = np.add.reduceat(w * pos, starts, axis=1)
    wn = np.add.reduceat(w * ~pos, starts, axis=1)
    below = np.cumsum(wn, 1) - wn  # negative weight strictly below each group
    with np.errstate(invalid="ignore", divide="ignore"):
        return (wp * (below + 0.5 * wn)).sum(1) / (wp.sum(1) * wn.sum(1))


def _explicitness(proba, classes, y, weights):
    """Mean one-vs-rest AUC over the classes with test positives and negatives [B]."""
    aucs = [weighted_auc(proba[:, c], y == label, weights) for c, label in enumerate(classes)
            if 0 < (y == label).sum() < len(y)]
    return np.nanmean(aucs, 0) if aucs else np.full(len(weights), np.nan)


@document_inputs
def modularity(codes, factors, *, factor_sizes=None, factor_names=None, seed=0,
               num_train=10_000, num_test=5_000, num_bins=20, num_bootstrap=100):
    """Modularity and explicitness of a code, with disentanglement_lib's protocol.

    Parameters
    ----------
    {inputs}
    {split}
        Modularity uses the training items; explicitness trains on them and is scored on
        the test items.
    num_bins : int
        Equal-width bins per dimension for the MI (protocol: 20).
    num_bootstrap : int
        Replicates for the standard errors: random halves of the training items for
        modularity, bootstrap draws of the test items for explicitness.

    Returns
    -------
    ModularityResult

    Notes
    -----
    Protocol (disentanglement_lib ``modularity_explicitness``, unsupervised_study_v1
    config): mean representation; 10,000 training and 5,000 test points; MI of each
    dimension, cut into 20 equal-width bins over its training range, with each factor
    (natural log); explicitness from ``LogisticRegression`` with scikit-learn's defaults
    on codes standardised by the training mean and standard deviation, ROC AUC
    one-vs-rest macro-averaged over classes, averaged over factors.

    Departures, each for a reason:

    - Train and test items are a disjoint random split of the given items.
    - Factors with one value among the items are left out: a zero MI column would lower
      every delta_d (it still counts in K - 1), and there is nothing to predict.
    - The AUC of a factor averages over the classes that have both positive and
      negative test items (disentanglement_lib fails when the test items miss a class
      of the training items); a dimension of zero spread is standardised by 1, not 0.
    - The classifier is today's scikit-learn default (lbfgs, multinomial, C = 1, 100
      iterations), ``random_state=seed``; the study of Locatello et al. (2019) ran
      scikit-learn < 0.22, whose default was liblinear one-vs-rest.
    - Standard errors: modularity's from random halves of the training items, each
      discretised on its own (:func:`halves_stderr`: no item repeated, so no
      histogram-MI bias from repeats); explicitness's by a bootstrap over the test
      items (classifiers fixed).
    - An MI below 1e-12 nats is round-off and counts as 0 (:func:`~._suite.discrete_mi`),
      so a dimension whose codes are all equal (a collapsed latent's constant mean)
      scores 0, as a zero row does in disentanglement_lib, and not whatever the
      round-off of its row makes of it (that gave standard errors of 0.19 and a
      score that moved by 0.4 between replicates of a good code).
    """
    from sklearn.linear_model import LogisticRegression  # lazily: a slow import

    metric = "modularity"
    z, f, names, keep, train, test = split_inputs(codes, factors, factor_sizes, factor_names,
                                                  metric, seed, num_train, num_test)
    fk = f[:, keep]
    binned = discretize(z[train], num_bins)
    mi = discrete_mi(binned, fk[train])
    mod_stderr = halves_stderr(z[train], fk[train], num_bins, num_bootstrap, seed)
    mean, std = z[train].mean(0), z[train].std(0)
    std = np.where(std > 0, std, 1.0)
    x_train, x_test = (z[train] - mean) / std, (z[test] - mean) / std
    ones = np.ones((1, num_test))
    boot = bootstrap_weights(num_test, num_bootstrap, seed) if num_bootstrap > 1 else None
    expl, expl_boot = [], []
    for j, k in enumerate(keep):
        check_training_values(fk[train, j], names[k], metric, num_train)
        clf = LogisticRegression(random_state=seed).fit(x_train, fk[train, j])
        proba = clf.predict_proba(x_test)
        expl.append(float(_explicitness(proba, clf.classes_, fk[test, j], ones)[0]))
        if boot is not None:
            expl_boot.append(_explicitness(proba, clf.classes_, fk[test, j], boot))
    expl_stderr = float(np.std(np.mean(expl_boot, 0), ddof=1)) if boot is not None \
        else float("nan")
    return ModularityResult(
        score=modularity_from_mi(mi), stderr=mod_stderr, explicitness=float(np.mean(expl)),
        explicitness_stderr=expl_stderr, mi=mi, per_dimension=modularity_per_dimension(mi),
        explicitness_per_factor=np.array(expl), factor_names=tuple(names[k] for k in keep),
        num_train=num_train, num_test=num_test, num_bins=num_bins)
