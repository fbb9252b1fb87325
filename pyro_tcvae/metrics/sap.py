"""The SAP score, separated attribute predictability (Kumar et al. 2018, "Variational
inference of disentangled latent concepts from unlabeled observations", Sec. 3).

A score matrix S [D, K] holds how well each single dimension d predicts factor k: the
test accuracy of a linear classifier on z_d alone (discrete factors), or the R^2 of a
linear fit (continuous factors).  SAP is the mean over the factors of the gap between
the best and second best dimension,

    SAP = (1/K) sum_k [S_{d(1)k} - S_{d(2)k}].

A factor read equally well from two dimensions scores 0, however well it is read.
"""

from dataclasses import dataclass

import numpy as np

from ._suite import (MetricResult, bootstrap_stderr, check_training_values, document_inputs,
                     split_inputs)


@dataclass
class SAPResult(MetricResult):
    """``score``: SAP, ``stderr`` its bootstrap standard error; ``gaps`` [K']: each
    scored factor's gap; ``score_matrix`` [D, K']; ``continuous``: R^2 (True) or
    accuracy (False) scores."""

    score: float
    stderr: float
    gaps: np.ndarray
    score_matrix: np.ndarray
    factor_names: tuple
    continuous: bool
    num_train: int
    num_test: int


def sap_from_matrix(score_matrix):
    """SAP of a score matrix: mean over factors of the top-two gap over dimensions.

    Parameters
    ----------
    score_matrix : array [..., D, K]

    Returns
    -------
    float (or array [...]): mean_k (largest - second largest S_dk over d); with D = 1 the
    largest alone.
    """
    S = np.sort(np.asarray(score_matrix, dtype=np.float64), axis=-2)
    second = S[..., -2, :] if S.shape[-2] > 1 else 0.0
    gaps = (S[..., -1, :] - second).mean(-1)
    return float(gaps) if np.ndim(gaps) == 0 else gaps


def _r2(z, y, w):
    """Weighted squared correlation of every column of z [n, D] with every column of
    y [n, K], per weight row w [B, n] -> [B, D, K]; 0 where z_d has no variance."""
    n = w.sum(1, keepdims=True)  # [B, 1]
    mz, my = w @ z / n, w @ y / n  # [B, D], [B, K]
    vz = w @ z ** 2 / n - mz ** 2
    vy = w @ y ** 2 / n - my ** 2
    cov = np.einsum("bn,nd,nk->bdk", w, z, y) / n[..., None] - mz[..., None] * my[:, None]
    ok = vz[..., None] > 1e-12
    return np.where(ok, cov ** 2 / np.where(ok, vz[..., None] * vy[:, None], 1), 0.0)


@document_inputs
def sap(codes, factors, *, factor_sizes=None, factor_names=None, seed=0, num_train=10_000,
        num_test=5_000, continuous_factors=False, num_bootstrap=100):
    """The SAP score of a code, with disentanglement_lib's protocol.

    Parameters
    ----------
    {inputs}
    {split}
    continuous_factors : bool
        False (protocol): S_dk = test accuracy of a linear SVM on z_d.  True: S_dk = R^2
        of the linear fit of the class index on z_d over the training items (the test
        items are then unused).
    num_bootstrap : int
        Bootstrap replicates for ``stderr``.

    Returns
    -------
    SAPResult

    Notes
    -----
    Protocol (disentanglement_lib ``sap_score``, unsupervised_study_v1 config):
    mean representation; 10,000 training and 5,000 test points;
    ``continuous_factors=False``, so S_dk is the test accuracy of
    ``LinearSVC(C=0.01, class_weight="balanced")`` (one-vs-rest) fitted on z_d alone;
    no feature scaling.  The R^2 variant is the one disentanglement_lib's own tests use.

    A single dimension and a linear one-vs-rest classifier cannot carve a factor of
    many values into its classes, so on the protocol's discrete scores a perfect code
    reaches well below 1 (the accuracy of the best dimension minus that of the next
    one, which sits near chance); compare numbers only within the protocol.

    Departures, each for a reason:

    - Train and test items are a disjoint random split of the given items.
    - ``LinearSVC`` is solved in the primal (``dual=False``): the same problem (squared
      hinge loss, L2 penalty) and solution as the dual solver that was the default
      then, and the one suited to many points of one feature (today's
      ``dual="auto"`` picks it too).  ``random_state=seed``.
    - Factors with one value among the items are left out (nothing to predict).
    - ``stderr``: bootstrap over the test items (discrete) or the training items
      (continuous), the fitted classifiers fixed.
    """
    from sklearn.svm import LinearSVC  # lazily: a slow import

    metric = "sap"
    z, f, names, keep, train, test = split_inputs(codes, factors, factor_sizes, factor_names,
                                                  metric, seed, num_train, num_test)
    D, K = z.shape[1], len(keep)
    if continuous_factors:
        y = f[train][:, keep].astype(np.float64)
        S = _r2(z[train], y, np.ones((1, num_train)))[0]
        stat = lambda w: sap_from_matrix(_r2(z[train], y, w))  # noqa: E731
        n_boot = num_train
    else:
        correct = np.zeros((num_test, D, K))
        for j, k in enumerate(keep):
            check_training_values(f[train, k], names[k], metric, num_train)
            for d in range(D):
                svm = LinearSVC(C=0.01, class_weight="balanced", dual=False, random_state=seed)
                svm.fit(z[train, d:d + 1], f[train, k])
                correct[:, d, j] = svm.predict(z[test, d:d + 1]) == f[test, k]
        S = correct.mean(0)
        flat = correct.reshape(num_test, -1)
        stat = lambda w: sap_from_matrix((w @ flat / num_test).reshape(-1, D, K))  # noqa: E731
        n_boot = num_test
    gaps = np.sort(S, 0)[-1] - (np.sort(S, 0)[-2] if D > 1 else 0.0)
    return SAPResult(
        score=float(gaps.mean()), stderr=bootstrap_stderr(stat, n_boot, num_bootstrap, seed),
        gaps=gaps, score_matrix=S, factor_names=tuple(names[k] for k in keep),
        continuous=bool(continuous_factors), num_train=num_train, num_test=num_test)
