"""Small statistics for study reports: intervals over seeds, paired differences, rank
correlation with a bootstrap interval.  Pure functions of plain numbers."""

import math

import numpy as np

# two-sided 90% quantiles of Student's t, t_{0.95, df}, df = 1 .. 30 (then the normal's)
_T95 = [6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782,
        1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711,
        1.708, 1.706, 1.703, 1.701, 1.699, 1.697]


def t90(df):
    """The 95% quantile of Student's t with ``df`` degrees of freedom (90% two-sided)."""
    if df < 1:
        return math.nan
    return _T95[df - 1] if df <= len(_T95) else 1.645


def mean_interval(values):
    """(mean, low, high): the mean of ``values`` and its 90% t-interval (low = high =
    mean for one value, NaNs for none)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size == 1:
        return m, m, m
    half = t90(x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return m, m - half, m + half


def ranks(x):
    """Ranks 1..n of ``x``, ties given their mean rank."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        if tie.sum() > 1:
            r[tie] = r[tie].mean()
    return r


def spearman(x, y):
    """Spearman's rank correlation of two equal-length sequences (NaN when either is
    constant or shorter than 3)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def interval_text(low, high, digits=3):
    """'[low, high]' with signs, to ``digits`` places; '-' when there is no interval
    (NaN bounds: one pair, one seed or one run)."""
    if math.isnan(low) or math.isnan(high):
        return "-"
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def estimate_text(mean, low, high, digits=3):
    """'+mean [low, high]' with signs; '+mean' alone when there is no interval, '-' when
    there is no mean."""
    if math.isnan(mean):
        return "-"
    if math.isnan(low) or math.isnan(high):
        return f"{mean:+.{digits}f}"
    return f"{mean:+.{digits}f} {interval_text(low, high, digits)}"


def bootstrap_interval(stat, *samples, level=0.9, draws=2000, seed=0):
    """Percentile bootstrap interval of ``stat(*samples)``: the items (rows across all
    ``samples``, which have one length) are resampled with replacement.  Returns (low,
    high); draws where the statistic is NaN are left out."""
    n = len(samples[0])
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(s, dtype=float) for s in samples]
    vals = []
    for _ in range(draws):
        idx = rng.integers(0, n, n)
        v = stat(*[a[idx] for a in arrays])
        if not math.isnan(v):
            vals.append(v)
    if not vals:
        return math.nan, math.nan
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def mean_difference_interval(a, b, level=0.9, draws=2000, seed=0):
    """(mean(a) - mean(b), low, high): the difference of two independent groups' means
    with a percentile bootstrap interval, each group resampled on its own (unpaired:
    e.g. every run of one objective against every run of another).  A group of one run
    says nothing of its own spread (resampling it gives it none, and the interval would
    be the other group's alone): low and high are then NaN; all three are NaN when a
    group is empty."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        return math.nan, math.nan, math.nan
    if x.size < 2 or y.size < 2:
        return float(x.mean() - y.mean()), math.nan, math.nan
    rng = np.random.default_rng(seed)
    d = (rng.choice(x, (draws, x.size)).mean(1) - rng.choice(y, (draws, y.size)).mean(1))
    lo, hi = np.quantile(d, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(x.mean() - y.mean()), float(lo), float(hi)
