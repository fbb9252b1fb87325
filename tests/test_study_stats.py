"""Small statistics for study reports, held against closed forms (and scipy)."""

import math

import numpy as np
import pytest

from pyro_tcvae.study.stats import (bootstrap_interval, estimate_text, mean_difference_interval,
                                    mean_interval, ranks, spearman)


def test_statistics_against_closed_forms():
    m, lo, hi = mean_interval([1.0, 2.0, 3.0])
    assert m == 2.0 and math.isclose(hi - m, 2.920 * 1.0 / math.sqrt(3), rel_tol=1e-9)
    assert mean_interval([5.0]) == (5.0, 5.0, 5.0)
    assert list(ranks([3.0, 1.0, 3.0, 2.0])) == [3.5, 1.0, 3.5, 2.0]
    x = np.arange(10.0)
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    assert spearman(x, -np.exp(x)) == pytest.approx(-1.0)
    scipy_stats = pytest.importorskip("scipy.stats")
    y = np.random.default_rng(1).normal(size=10)
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y)[0])
    lo, hi = bootstrap_interval(spearman, x, x ** 2)
    assert lo == hi == pytest.approx(1.0)
    assert mean_difference_interval([1.0] * 4, [0.0, 0.0]) == (1.0, 1.0, 1.0)
    # groups of different sizes, resampled each on its own: the normal approximation
    # of the difference of two means (SE = sqrt(0.25 / 100 + 0.01 / 25) = 0.0539)
    a, b = [0.0, 1.0] * 50, [0.2, 0.4] * 12 + [0.3]
    m, lo, hi = mean_difference_interval(a, b, draws=20000)
    assert m == pytest.approx(0.2) and hi - m == pytest.approx(1.645 * 0.0539, rel=0.06)
    assert math.isnan(mean_difference_interval([], [1.0])[0])
    # one run in a group: its spread is unknown, so no interval (not the other group's)
    m, lo, hi = mean_difference_interval([0.3], [0.0, 0.2, 0.1])
    assert m == pytest.approx(0.2) and math.isnan(lo) and math.isnan(hi)
    assert estimate_text(m, lo, hi) == "+0.200"
    assert estimate_text(0.2, 0.1, 0.25) == "+0.200 [+0.100, +0.250]"
    assert estimate_text(math.nan, 0.1, 0.25) == "-"
