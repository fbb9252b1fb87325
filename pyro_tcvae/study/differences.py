"""Paired differences between objectives: for two objectives run at the same settings
and seeds, each seed's difference of a score (MIG, MIG-sup, ...) with its 90% interval,
at each setting and pooled over settings or over biased sets; and their markdown
section in a report.  Pure functions of a study's rows (:func:`~.rows.study_rows`)."""

import math
from collections import defaultdict

import numpy as np

from .stats import interval_text, mean_interval


def paired_differences(rows, pool_from=4.0, key="mig"):
    """For two objectives run at the same hyperparameter values and seeds (e.g.
    beta-TCVAE and beta-VAE over beta), in the same variant (e.g. the same sampling
    bias): the per-seed difference of ``key`` (a row's "mig", "mig_sup", "mig_uniform"
    ...) at each value, and pooled over the values >= ``pool_from`` when there are
    several.  Two objectives with different hyperparameters (beta-TCVAE's beta and
    FactorVAE's gamma) are paired by seed when each was run at one value only ("one
    setting each", ``value`` None).  Returns a list of dicts, variants in order of
    their sampling bias."""
    by, strength = defaultdict(dict), {}
    for r in rows:
        if r["value"] is not None and r.get(key) is not None:
            by[(r["objective"], r["hyper"], r["variant"])][(r["value"], r["seed"])] = r[key]
            strength[r["variant"]] = -1 if r["correlation"] is None else r["correlation"]
    out, comparisons = [], _comparisons(by, strength)
    for first, second, hyper, variant, a, b in comparisons:
        shared = sorted(set(a) & set(b))
        values = sorted({v for v, _ in shared})  # all None (one setting each) or all numbers
        pooled = ["pooled"] if sum(v is not None and v >= pool_from for v in values) > 1 else []
        for v in values + pooled:
            pairs = [k for k in shared if (k[0] == v if v != "pooled" else k[0] >= pool_from)]
            if pairs:
                out.append(_difference([a[k] - b[k] for k in pairs], first, second, hyper,
                                       variant, v, seeds=[k[1] for k in pairs]))
    return out + _biased_pooled(comparisons, strength)


def _single_value(series):
    """The one hyperparameter value of ``{(value, seed): x}``, or None if several."""
    values = {v for v, _ in series}
    return values.pop() if len(values) == 1 else None


def _comparisons(by, strength):
    """The pairs of objectives :func:`paired_differences` compares, in order of the
    sampling bias: (first, second, hyper, variant, {(value, seed): x} of each).  Same
    hyperparameter: keyed by (value, seed); different ones at one value each: keyed by
    (None, seed), ``hyper`` then names both values (e.g. "beta = 6, gamma = 35")."""
    keys = sorted(by, key=lambda k: (strength[k[2]], k[2], k[1], k[0]))
    out = []
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if a[2] != b[2] or a[0] == b[0]:
                continue
            first, second = (a, b) if a[0] == "tcvae" or b[0] != "tcvae" else (b, a)
            if a[1] == b[1]:
                out.append((first[0], second[0], first[1], first[2], by[first], by[second]))
                continue
            v1, v2 = _single_value(by[first]), _single_value(by[second])
            if v1 is None or v2 is None:
                continue
            hyper = f"{first[1]} = {v1:g}, {second[1]} = {v2:g}"
            out.append((first[0], second[0], hyper, first[2],
                        *({(None, s): x for (_, s), x in by[k].items()} for k in (first, second))))
    return sorted(out, key=lambda c: (c[2], c[0] != "tcvae", c[0], c[1], strength[c[3]], c[3]))


def _difference(diffs, first, second, hyper, variant, value, seeds=None):
    """One row of :func:`paired_differences`: mean and 90% interval of ``diffs``.

    When several pairs share a seed (``seeds``: each pair's; a pooled row), they are not
    independent (a seed's runs start alike at every value and bias), so the interval is
    the t-interval over the seeds' mean differences ("seeds" of them); the interval
    that treats every pair as independent is kept as ``pairs_low``, ``pairs_high``.
    One pair (or one seed) has no interval: its bounds are NaN, not the mean twice."""
    m, lo, hi = _mean_interval(diffs)
    row = {"first": first, "second": second, "hyper": hyper, "variant": variant,
           "value": value, "n": len(diffs), "mean": m, "low": lo, "high": hi,
           "wins": sum(d > 0 for d in diffs)}
    if seeds is not None and len(set(seeds)) < len(diffs):
        by_seed = defaultdict(list)
        for sd, d in zip(seeds, diffs):
            by_seed[sd].append(d)
        sm, slo, shi = _mean_interval([float(np.mean(v)) for _, v in sorted(by_seed.items())])
        row.update(mean=sm, low=slo, high=shi, seeds=len(by_seed), pairs_low=lo, pairs_high=hi)
    return row


def _mean_interval(values):
    """:func:`~.stats.mean_interval` with NaN bounds for fewer than two values."""
    m, lo, hi = mean_interval(values)
    return (m, lo, hi) if len(values) > 1 else (m, math.nan, math.nan)


def _biased_pooled(comparisons, strength):
    """The pairs of every biased variant (sampling bias > 0) of each two objectives
    pooled, at each shared value, when there are two or more such variants
    (``comparisons``: :func:`_comparisons`'s list)."""
    biased = defaultdict(list)
    for first, second, hyper, variant, a, b in comparisons:
        if strength[variant] > 0:
            biased[(first, second, hyper)].append((a, b))
    pooled = []
    for (first, second, hyper), series in biased.items():
        if len(series) < 2:
            continue
        diffs, seeds = defaultdict(list), defaultdict(list)
        for a, b in series:
            for k in sorted(set(a) & set(b)):
                diffs[k[0]].append(a[k] - b[k])
                seeds[k[0]].append(k[1])
        for value, ds in sorted(diffs.items()):
            pooled.append(_difference(ds, first, second, hyper, value=value, variant=(
                f"every biased set pooled ({len(series)} strengths)"), seeds=seeds[value]))
    return pooled


def differences_section(diffs, what, pool_from):
    """Markdown lines: the paired differences of :func:`paired_differences` (of the
    quantity named ``what``); [] when there are none."""
    if not diffs:
        return []
    lines = [f"## Paired differences of {what} (same setting, same seed)", "",
             "| first - second | at | pairs (seeds x values) | mean difference | 90% interval | "
             "first higher |",
             "|---|---|---|---|---|---|"]
    for d in diffs:
        if d["value"] == "pooled":
            at = f"{d['hyper']} >= {pool_from:g} (pooled)"
        else:  # value None: one setting each, named in hyper
            at = d["hyper"] if d["value"] is None else f"{d['hyper']} = {d['value']:g}"
        at += f", {d['variant']}" if d["variant"] else ""
        interval = interval_text(d["low"], d["high"])
        if "seeds" in d:
            interval += (f" over {d['seeds']} seed{'s' if d['seeds'] > 1 else ''} (pairs as "
                         f"if independent: {interval_text(d['pairs_low'], d['pairs_high'])})")
        lines.append(f"| {d['first']} - {d['second']} | {at} | {d['n']} | {d['mean']:+.3f} | "
                     f"{interval} | {d['wins']} of {d['n']} |")
    if any(math.isnan(d["low"]) for d in diffs):
        lines += ["", "One pair (or one seed) gives no interval: '-'."]
    if any("seeds" in d for d in diffs):
        lines += ["", "Where pairs share seeds (pooled rows), a seed's runs start alike at "
                  "every value, so the pairs are not independent: the mean difference is "
                  "the mean of the seeds' mean differences and the 90% interval the "
                  "t-interval over those seed means (degrees of freedom: seeds - 1). The "
                  "interval that treats every pair as independent, narrower and too "
                  "confident, is given beside it."]
    return lines + [""]
