"""Shared steps of the metric suite (BetaVAE and FactorVAE scores, DCI, SAP, modularity
and explicitness): input checking, the mean representation, equal-width discretisation,
discrete mutual information, drawing items that share a factor's value, and bootstrap
standard errors.

Every metric of the suite is a pure function of point codes [N, D] (the posterior
means, the "mean representation" of disentanglement_lib) and factor classes [N, K]
of the same N items.  Randomness comes from one seeded ``numpy.random.Generator``.
"""

import textwrap
from dataclasses import dataclass, fields

import numpy as np
import torch

from .posterior import posterior_location


def _jsonable(value):
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@dataclass
class MetricResult:
    """Base of the suite's results: ``score``, ``stderr`` and the metric's parts."""

    def as_dict(self):
        """Every field as JSON-ready values (arrays become nested lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    def __str__(self):
        return (f"{type(self).__name__.replace('Result', '')} {self.score:.4f} "
                f"+- {self.stderr:.4f}")


#: Parameters that the metrics of the suite share, as their docstrings give them, by the
#: placeholder that stands for them there (see :func:`document_inputs`): ``{inputs}``,
#: which every metric takes first, and ``{split}``, of the metrics that split the items.
PARAMETER_DOCS = {
    "{inputs}": """\
codes : Tensor or ndarray [N, D], or a Distribution with batch shape [N, D]
    Point codes (the posterior means; a distribution stands for its location).
factors : LongTensor or int ndarray [N, K]
    Factor classes of the same items.
factor_sizes, factor_names : optional
    Sizes to check the classes against; names for the result.""",
    "{split}": """\
seed : int
    Seeds the split and the classifiers.
num_train, num_test : int
    Distinct training and test items (protocol: 10,000 and 5,000); N must be at least
    their sum.""",
}


def document_inputs(fn):
    """Write :data:`PARAMETER_DOCS` into ``fn``'s docstring where a line is one of its
    placeholders (at that line's indentation)."""
    lines = (fn.__doc__ or "").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() in PARAMETER_DOCS:
            indent = line[:len(line) - len(line.lstrip())]
            lines[i] = textwrap.indent(PARAMETER_DOCS[line.strip()], indent) + "\n"
    fn.__doc__ = "".join(lines) if fn.__doc__ else fn.__doc__
    return fn


def check_inputs(codes, factors, factor_sizes=None, factor_names=None, metric="metric"):
    """Validate and convert the inputs every metric takes.

    Parameters
    ----------
    codes : Tensor or ndarray [N, D], or a Distribution with batch shape [N, D]
        Point codes; a distribution stands for its location (mean representation),
        via :func:`~pyro_tcvae.metrics.posterior.posterior_location`.
    factors : LongTensor or integer ndarray [N, K]
        Factor classes.
    factor_sizes : sequence of K ints, optional
        When given, every class of factor k must lie in ``0 .. factor_sizes[k] - 1``.
    factor_names : sequence of K str, optional
        Default ``factor0 .. factor{K-1}``.
    metric : str
        Name used in error messages.

    Returns
    -------
    z : float64 ndarray [N, D]
    f : int64 ndarray [N, K]
    names : tuple of K str
    """
    if isinstance(codes, torch.distributions.Distribution):
        codes = posterior_location(codes)
    if torch.is_tensor(codes):
        codes = codes.detach().cpu().double().numpy()
    z = np.asarray(codes, dtype=np.float64)
    if torch.is_tensor(factors):
        factors = factors.detach().cpu().numpy()
    f = np.asarray(factors)
    if z.ndim != 2:
        raise ValueError(f"{metric}: codes must be [N, D] (one point code per item), got shape "
                         f"{z.shape}")
    if f.ndim != 2 or not (np.issubdtype(f.dtype, np.integer) or f.dtype == bool):
        raise ValueError(f"{metric}: factors must be integer classes of shape [N, K], got "
                         f"{f.dtype} {f.shape}; discretize continuous factors first")
    f = f.astype(np.int64)
    if len(z) != len(f):
        raise ValueError(f"{metric}: codes have {len(z)} items but factors {len(f)}; pass the "
                         f"codes and factors of the same items, in the same order")
    bad = ~np.isfinite(z).all(1)
    if bad.any():
        raise ValueError(f"{metric}: codes of {int(bad.sum())} items are NaN or infinite (first "
                         f"at item {int(np.flatnonzero(bad)[0])}); fix the encoder or drop "
                         f"those items from codes and factors")
    if (f < 0).any():
        raise ValueError(f"{metric}: factor classes must be >= 0")
    K = f.shape[1]
    names = tuple(factor_names) if factor_names is not None else tuple(
        f"factor{k}" for k in range(K))
    if len(names) != K:
        raise ValueError(f"{metric}: {len(names)} factor_names for {K} factors")
    if factor_sizes is not None:
        sizes = np.asarray(factor_sizes)
        if sizes.shape != (K,):
            raise ValueError(f"{metric}: {len(sizes)} factor_sizes for {K} factors")
        over = f.max(0) >= sizes if len(f) else np.zeros(K, bool)
        if over.any():
            k = int(np.flatnonzero(over)[0])
            raise ValueError(f"{metric}: factor {names[k]!r} has class {int(f[:, k].max())}, "
                             f"outside 0..{int(sizes[k]) - 1} of factor_sizes")
    return z, f, names


def varying_factors(f, names, metric, need=1):
    """Indices of the factors with more than one value among the items.

    A factor with one value (dSprites' colour) carries nothing to predict or fix; the
    suite leaves it out, as MIG does.  Raises when fewer than ``need`` factors vary.
    """
    keep = [k for k in range(f.shape[1]) if len(f) and f[:, k].min() < f[:, k].max()]
    if len(keep) < need:
        fixed = [n for k, n in enumerate(names) if k not in keep]
        raise ValueError(f"{metric} needs at least {need} factor(s) taking two or more values "
                         f"among these items; {fixed} take a single value. Pass items where "
                         f"the factors vary (e.g. the whole dataset, not a subset that fixes "
                         f"them)")
    return keep


def split_points(n, num_train, num_test, rng, metric):
    """Disjoint random train and test items (without replacement).

    disentanglement_lib draws its train and test points independently from the whole
    dataset (hundreds of thousands of items, so they hardly overlap); from a finite set
    of codes the same thing is a disjoint split.
    """
    need = num_train + num_test
    if n < need:
        train = (2 * n) // 3
        raise ValueError(
            f"{metric} uses num_train={num_train} and num_test={num_test} distinct items "
            f"(disentanglement_lib's protocol) but only {n} are given; pass more items, or "
            f"smaller sizes summing to at most {n}, e.g. num_train={train}, "
            f"num_test={n - train}")
    if num_train < 2 or num_test < 1:
        raise ValueError(f"{metric}: num_train must be >= 2 and num_test >= 1")
    perm = rng.permutation(n)
    return perm[:num_train], perm[num_train:need]


def split_inputs(codes, factors, factor_sizes, factor_names, metric, seed, num_train,
                 num_test):
    """The inputs of the metrics that split the items (DCI, SAP, modularity and
    explicitness).  Returns ``(z, f, names, keep, train, test)``: :func:`check_inputs`'
    three, the :func:`varying_factors`, and the :func:`split_points` drawn with
    ``numpy.random.default_rng(seed)``."""
    z, f, names = check_inputs(codes, factors, factor_sizes, factor_names, metric)
    keep = varying_factors(f, names, metric)
    rng = np.random.default_rng(seed)
    train, test = split_points(len(z), num_train, num_test, rng, metric)
    return z, f, names, keep, train, test


def check_training_values(values, name, metric, num_train):
    """A factor's classifier needs two or more of its values among the training items
    (``values`` [num_train])."""
    if len(np.unique(values)) < 2:
        raise ValueError(f"{metric}: factor {name!r} takes one value in the {num_train} "
                         f"training items; pass a larger num_train=")


def check_batch_inputs(codes, factors, factor_sizes, factor_names, metric, batch_size,
                       num_train, num_eval):
    """The inputs of the BetaVAE and FactorVAE scores, which draw ``num_train`` and
    ``num_eval`` batches of ``batch_size`` items fixing one of two or more varying
    factors.  Returns ``(z, f, names, keep)``: :func:`check_inputs`' three and the
    :func:`varying_factors`."""
    z, f, names = check_inputs(codes, factors, factor_sizes, factor_names, metric)
    keep = varying_factors(f, names, metric, need=2)
    check_batch(len(z), batch_size, metric)
    if num_train < 1 or num_eval < 1:
        raise ValueError(f"{metric}: num_train and num_eval must be >= 1")
    return z, f, names, keep


def check_batch(n, batch_size, metric):
    """The BetaVAE and FactorVAE scores draw batches of ``batch_size`` items."""
    if batch_size < 2:
        raise ValueError(f"{metric}: batch_size must be >= 2, got {batch_size}")
    if n < batch_size:
        raise ValueError(f"{metric} draws batches of batch_size={batch_size} items sharing a "
                         f"factor's value from the given items, but only {n} are given; pass "
                         f"more items or a smaller batch_size=")


def discretize(z, num_bins=20):
    """Each column cut into ``num_bins`` equal-width bins over its range.

    Parameters
    ----------
    z : ndarray [N, D]

    Returns
    -------
    int64 ndarray [N, D] of bins ``0 .. num_bins - 1`` (a constant column is all 0).
    Same bins as disentanglement_lib's histogram discretizer (``np.histogram`` edges).
    """
    lo, hi = z.min(0), z.max(0)
    width = np.where(hi > lo, hi - lo, 1.0)
    return np.clip(np.floor((z - lo) / width * num_bins), 0, num_bins - 1).astype(np.int64)


def discrete_mi(binned, f, weights=None):
    """Mutual information (nats) of every binned code column with every factor.

    Parameters
    ----------
    binned : int ndarray [N, D]
    f : int ndarray [N, K]
    weights : ndarray [B, N], optional
        Item weights (e.g. bootstrap counts); each row gives one MI matrix.

    Returns
    -------
    ndarray [D, K], or [B, D, K] with weights: sum_{a,v} p(a, v) log p(a, v) / (p(a) p(v))
    of the (weighted) empirical joint distribution.  Values below 1e-12 nats are set to
    exactly 0: they are round-off (a column with one occupied bin, e.g. a collapsed
    dimension whose codes are all equal, has MI 0, but its p(a) sums to 1 +- 1e-16 and
    the sum comes out as +-2e-16), and modularity divides by the largest MI of a row.
    """
    w = np.ones((1, len(f))) if weights is None else np.atleast_2d(weights)
    B, N = w.shape
    D, K = binned.shape[1], f.shape[1]
    nb = int(binned.max()) + 1
    out = np.zeros((B, D, K))
    row = np.arange(B)[:, None, None] * (D * nb)
    for k in range(K):
        C = int(f[:, k].max()) + 1
        idx = (row + np.arange(D)[None, None, :] * nb + binned[None]) * C + f[None, :, k, None]
        wts = np.broadcast_to(w[:, :, None], idx.shape)
        p = np.bincount(idx.ravel(), wts.ravel(), B * D * nb * C).reshape(B, D, nb, C)
        p /= p.sum((2, 3), keepdims=True)
        outer = p.sum(3, keepdims=True) * p.sum(2, keepdims=True)
        nz = p > 0
        out[..., k] = np.where(nz, p * np.log(np.where(nz, p, 1) / np.where(nz, outer, 1)),
                               0).sum((2, 3))
    out[out < 1e-12] = 0.0  # round-off: MI >= 0, and a constant column has exactly 0
    return out[0] if weights is None else out


class GroupSampler:
    """Random items sharing one factor's value, drawn from the given items.

    disentanglement_lib samples factors from the generative grid, fixes one, and
    renders the images.  Here the items are given: an item with value v of factor k is
    drawn uniformly among the given items whose factor k equals v.  On a full grid
    (dSprites with all its items) this is the same distribution; on a random subset it
    approximates it by the subset's empirical one.

    Parameters
    ----------
    f : int ndarray [N, K]
    """

    def __init__(self, f):
        self.f = f
        sizes = f.max(0) + 1
        self.order = np.argsort(f, axis=0, kind="stable")  # [N, K]: items sorted by value
        self.count = np.concatenate([np.bincount(f[:, k], minlength=s)
                                     for k, s in enumerate(sizes)])  # items per (k, v)
        self.offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # row of (k, 0)
        first = np.cumsum(self.count) - self.count
        self.start = first - np.repeat(first[self.offset], sizes)  # first position of (k, v)

    def draw(self, k, v, rng):
        """Items (int array of the shape of ``k``) with ``f[item, k] == v``, uniformly.

        ``k`` and ``v`` are int arrays of one shape; each v must occur among the items.
        """
        row = self.offset[k] + v
        pos = self.start[row] + (rng.random(np.shape(k)) * self.count[row]).astype(np.int64)
        return self.order[pos, k]


def bootstrap_weights(n, num_bootstrap, seed):
    """Multinomial bootstrap counts [num_bootstrap, n] (each row sums to n)."""
    rng = np.random.default_rng([seed, 7919])
    return rng.multinomial(n, np.full(n, 1.0 / n), size=num_bootstrap).astype(np.float64)


def bootstrap_stderr(stat, n, num_bootstrap, seed):
    """Standard error of a statistic by the bootstrap over n points.

    Parameters
    ----------
    stat : callable
        Maps bootstrap weights [B, n] to the statistic's replicates [B] or [B, m].
    n : int
    num_bootstrap : int
        B; fewer than 2 gives NaN.
    seed : int

    Returns
    -------
    float, or ndarray [m]: the replicates' standard deviation.
    """
    if num_bootstrap < 2:
        return float("nan")
    reps = np.asarray(stat(bootstrap_weights(n, num_bootstrap, seed)), dtype=np.float64)
    sd = np.nanstd(reps, axis=0, ddof=1)
    return float(sd) if sd.ndim == 0 else sd
