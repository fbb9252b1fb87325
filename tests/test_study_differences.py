"""Paired differences between objectives: per sampling bias, pooled over values and
over biased sets, across hyperparameters, and averaged by seed where pairs share one."""

import math

import numpy as np
import pytest

from pyro_tcvae.study.differences import differences_section, paired_differences
from pyro_tcvae.study.stats import t90


def test_pooled_pairs_that_share_seeds_are_averaged_by_seed():
    diffs = {(4.0, 0): 0.10, (6.0, 0): 0.30, (4.0, 1): -0.05, (6.0, 1): 0.05,
             (4.0, 2): 0.00, (6.0, 2): -0.20}
    rows = []
    for (v, seed), d in diffs.items():
        base = dict(hyper="beta", variant=None, value=v, seed=seed, correlation=None)
        rows += [{**base, "objective": "tcvae", "mig": 0.5 + d},
                 {**base, "objective": "beta-vae", "mig": 0.5}]
    out = paired_differences(rows, pool_from=4.0)
    pooled = [d for d in out if d["value"] == "pooled"][0]
    seed_means = np.array([0.2, 0.0, -0.1])
    half = t90(2) * seed_means.std(ddof=1) / math.sqrt(3)
    assert pooled["seeds"] == 3 and pooled["n"] == 6 and pooled["wins"] == 3
    assert pooled["mean"] == pytest.approx(seed_means.mean())
    assert (pooled["low"], pooled["high"]) == pytest.approx((seed_means.mean() - half,
                                                             seed_means.mean() + half))
    d = np.array(list(diffs.values()))  # the pairs as if independent: df = 5
    half6 = t90(5) * d.std(ddof=1) / math.sqrt(6)
    assert (pooled["pairs_low"], pooled["pairs_high"]) == pytest.approx((d.mean() - half6,
                                                                         d.mean() + half6))
    assert pooled["high"] - pooled["low"] > pooled["pairs_high"] - pooled["pairs_low"]
    single = [d for d in out if d["value"] == 4.0][0]  # one pair per seed: as before
    assert "seeds" not in single and single["n"] == 3
    assert "over 3 seeds" in "\n".join(differences_section(out, "MIG", 4.0))


def test_one_pair_has_a_difference_but_no_interval():
    base = dict(hyper="beta", variant=None, value=6.0, seed=0, correlation=None)
    rows = [{**base, "objective": "tcvae", "mig": 0.082},
            {**base, "objective": "beta-vae", "mig": 0.181}]
    (d,) = paired_differences(rows, pool_from=4.0)
    assert d["n"] == 1 and d["mean"] == pytest.approx(-0.099)
    assert math.isnan(d["low"]) and math.isnan(d["high"])
    text = "\n".join(differences_section([d], "MIG", 4.0))
    assert "| tcvae - beta-vae | beta = 6 | 1 | -0.099 | - | 0 of 1 |" in text
    assert "[-0.099, -0.099]" not in text
    # two betas of one seed, pooled: the seed-mean interval has one seed, the pairs' has two
    rows += [{**r, "value": 4.0, "mig": r["mig"] + (0.05 if r["objective"] == "tcvae" else 0)}
             for r in rows]
    pooled = [d for d in paired_differences(rows, pool_from=4.0) if d["value"] == "pooled"][0]
    assert pooled["seeds"] == 1 and math.isnan(pooled["low"])
    assert not math.isnan(pooled["pairs_low"])
    assert "- over 1 seed (pairs as if independent: [" in \
        "\n".join(differences_section([pooled], "MIG", 4.0))


def test_paired_differences_per_sampling_bias_and_pooled_over_the_biased_sets():
    rows = []
    for s in (0, 100, 30):
        for seed in range(3):
            for objective, mig in (("tcvae", 0.3 + 0.001 * s), ("beta-vae", 0.2)):
                rows.append({"objective": objective, "hyper": "beta", "value": 6.0,
                             "variant": f"correlateposX-posY-{s}", "seed": seed,
                             "correlation": float(s), "mig": mig + 0.01 * seed})
    diffs = paired_differences(rows)
    # in order of the bias (not of the names), each exactly 0.1 + 0.001 S on every seed
    assert [(d["variant"], d["n"], round(d["mean"], 9)) for d in diffs] == [
        ("correlateposX-posY-0", 3, 0.1), ("correlateposX-posY-30", 3, 0.13),
        ("correlateposX-posY-100", 3, 0.2),
        ("every biased set pooled (2 strengths)", 6, 0.165)]
    text = "\n".join(differences_section(diffs, "MIG", 4.0))
    assert "| tcvae - beta-vae | beta = 6, correlateposX-posY-30 | 3 | +0.130 | " \
           "[+0.130, +0.130] | 3 of 3 |" in text
    assert "beta >= 4 (pooled)" not in text  # one value: nothing to pool over values
    more = rows + [{**r, "value": 8.0, "mig": r["mig"] + 0.05 * (r["objective"] == "tcvae")}
                   for r in rows if r["correlation"] == 0]
    pooled = [d for d in paired_differences(more) if d["value"] == "pooled"]
    assert [(d["variant"], d["n"], round(d["mean"], 9)) for d in pooled] == \
        [("correlateposX-posY-0", 6, 0.125)]  # beta 6 and 8 of the unbiased set


def test_objectives_at_one_setting_each_are_paired_by_seed_across_hyperparameters():
    rows = []
    for s in (0, 10, 30):
        for seed in range(3):
            for objective, hyper, value, mig in (("tcvae", "beta", 6.0, 0.3),
                                                 ("beta-vae", "beta", 6.0, 0.2),
                                                 ("factorvae", "gamma", 35.0, 0.25 + 0.01 * s)):
                rows.append({"objective": objective, "hyper": hyper, "value": value,
                             "variant": f"correlateposX-posY-{s}", "seed": seed,
                             "correlation": float(s), "mig": mig + 0.01 * seed * (s + 1)})
    diffs = paired_differences(rows)
    got = [(d["first"], d["second"], d["hyper"], d["variant"], d["value"], d["n"],
            round(d["mean"], 9)) for d in diffs]
    cross = "beta = 6, gamma = 35"
    # tcvae - factorvae per seed: 0.05 - 0.01 S (the seed terms cancel)
    assert [g for g in got if g[:2] == ("tcvae", "factorvae")] == [
        ("tcvae", "factorvae", cross, "correlateposX-posY-0", None, 3, 0.05),
        ("tcvae", "factorvae", cross, "correlateposX-posY-10", None, 3, -0.05),
        ("tcvae", "factorvae", cross, "correlateposX-posY-30", None, 3, -0.25),
        ("tcvae", "factorvae", cross, "every biased set pooled (2 strengths)", None, 6, -0.15)]
    assert [g[3] for g in got if g[:2] == ("beta-vae", "factorvae")][:3] == [
        "correlateposX-posY-0", "correlateposX-posY-10", "correlateposX-posY-30"]
    assert got[0][:3] == ("tcvae", "beta-vae", "beta")  # same-hyperparameter pairs first
    text = "\n".join(differences_section(diffs, "MIG", 4.0))
    assert ("| tcvae - factorvae | beta = 6, gamma = 35, correlateposX-posY-10 | 3 | -0.050 | "
            "[-0.050, -0.050] | 0 of 3 |") in text
    # a second gamma: FactorVAE is no longer at one setting, so it is not paired
    more = rows + [{**r, "value": 10.0} for r in rows if r["objective"] == "factorvae"]
    assert all("factorvae" not in (d["first"], d["second"]) for d in paired_differences(more))
