"""MIG (paper estimator and histogram variant) and the full-dataset decomposition,
on codes built in the test where the answer is known."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_tcvae import TraceTC_ELBO
from pyro_tcvae.data import NonlinearFactors, SmallSprites, grid_factors
from pyro_tcvae.metrics import (decomposition_terms, elbo_decomposition, encode_dataset,
                                factor_entropy, mig, mig_histogram, mig_sup)
from pyro_tcvae.models import VAE

from helpers import exact_terms, lookup_table

SIZES = (10, 8)


def grid(reps=20):
    return grid_factors(SIZES).repeat(reps, 1)


def code(f, sigma, extra=0, transform=None):
    """Posterior N(loc, sigma): dimension j = factor j (spacing 1), plus `extra`
    dimensions at 0."""
    loc = torch.cat([f.double(), torch.zeros(f.shape[0], extra, dtype=torch.float64)], 1)
    if transform is not None:
        loc = transform(loc)
    return dist.Normal(loc, torch.full_like(loc, sigma))


def mixture_entropy(values, sigma):
    """Entropy of the equal mixture of N(v, sigma^2), v in values, by quadrature."""
    x = torch.linspace(min(values) - 12 * sigma, max(values) + 12 * sigma, 200001,
                       dtype=torch.float64)
    logp = torch.logsumexp(dist.Normal(torch.tensor(values, dtype=torch.float64)[:, None],
                                       sigma).log_prob(x), 0) - math.log(len(values))
    return float(-torch.trapezoid(logp.exp() * logp, x))


def test_identity_code_matches_the_analytic_mig():
    sigma = 0.3
    r = mig(code(grid(), sigma, extra=1), grid(), progress=False)
    h_cond = 0.5 * math.log(2 * math.pi * math.e * sigma ** 2)
    analytic = [(mixture_entropy(list(range(s)), sigma) - h_cond) / math.log(s) for s in SIZES]
    for k, name in enumerate(r.included):
        assert r.gaps[name] == pytest.approx(analytic[k], abs=3 * r.stderr + 0.01)
    assert r.score == pytest.approx(sum(analytic) / 2, abs=3 * r.stderr + 0.01)
    assert 0.85 < r.score < 0.95  # the noise costs about 10%: the test can fail
    assert torch.allclose(r.factor_entropy, torch.tensor([math.log(s) for s in SIZES],
                                                         dtype=torch.float64))


def _entropy_by_quadrature(make, values, width):
    """Entropy of the equal mixture of make(v), v in values, by quadrature."""
    x = torch.linspace(min(values) - width, max(values) + width, 400001, dtype=torch.float64)
    logp = torch.logsumexp(make(torch.tensor(values, dtype=torch.float64)[:, None]).log_prob(x),
                           0) - math.log(len(values))
    return float(-torch.trapezoid(logp.exp() * logp, x))


@pytest.mark.parametrize("family", ["laplace", "studentt"])
def test_mig_reads_other_latent_families_as_their_closed_form(family):
    # an identity code whose posterior is Laplace(v, 0.3) or StudentT(5, v, 0.3): the
    # MI of latent k with factor k is H(mixture over values) - H(one component)
    make = {"laplace": lambda loc: dist.Laplace(loc, 0.3),
            "studentt": lambda loc: dist.StudentT(5.0, loc, 0.3)}[family]
    f = grid()
    loc = f.double()
    r = mig(make(torch.cat([loc, torch.zeros(len(f), 1, dtype=torch.float64)], 1)), f,
            progress=False)
    width = 60.0  # the StudentT's tails
    h_one = _entropy_by_quadrature(make, [0.0], width)
    analytic = [(_entropy_by_quadrature(make, list(range(s)), width) - h_one) / math.log(s)
                for s in SIZES]
    for k, name in enumerate(r.included):
        assert r.gaps[name] == pytest.approx(analytic[k], abs=3 * r.stderr + 0.01)
    assert 0.7 < r.score < 0.95


def test_nearly_noiseless_code_scores_near_one():
    r = mig(code(grid(), 0.02), grid(), progress=False)
    assert r.score > 0.99 and r.stderr < 0.01


def test_constant_code_scores_zero():
    f = grid()
    r = mig(dist.Normal(torch.zeros(len(f), 3), 0.5), f, progress=False)
    assert abs(r.score) < 1e-6 and r.mi.abs().max() < 1e-6


def test_code_independent_of_the_factors_scores_near_zero():
    f = grid()
    g = torch.Generator().manual_seed(1)
    loc = torch.randn(len(f), 3, generator=g) * 3
    r = mig(dist.Normal(loc, 0.2), f, progress=False)
    assert r.score < 0.05


def test_duplicated_latents_score_near_zero():
    f = grid()
    r = mig(code(f, 0.1, transform=lambda loc: torch.cat([loc, loc], 1)), f, progress=False)
    assert r.score < 0.02
    assert r.mi[0, 0] > 1.5 and float(r.mi[0, 2]) == pytest.approx(float(r.mi[0, 0]), abs=1e-9)


def test_rotated_code_scores_lower():
    f = grid()
    c, s = math.cos(0.6), math.sin(0.6)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    straight = mig(code(f, 0.1), f, progress=False)
    turned = mig(code(f, 0.1, transform=lambda loc: loc @ rot.T), f, progress=False)
    assert straight.score > 0.95
    assert turned.score < straight.score - 0.3


def test_mig_sup_is_the_per_latent_gap_averaged_over_latents():
    mi = torch.tensor([[2.0, 0.2, 0.0], [1.0, 0.0, 0.3]], dtype=torch.float64)
    h = torch.tensor([4.0, 1.0], dtype=torch.float64)
    # normalized [[.5, .05, 0], [1, 0, .3]]: latent gaps .5, .05, .3 -> mean 0.85 / 3
    assert mig_sup(mi, h) == pytest.approx(0.85 / 3, abs=1e-12)
    assert mig_sup(mi[:1], h[:1]) == pytest.approx(0.55 / 3, abs=1e-12)  # one factor: top-1
    with pytest.raises(ValueError, match="factor_entropy"):
        mig_sup(mi, h[:1])
    with pytest.raises(ValueError, match="> 0"):
        mig_sup(mi, torch.tensor([1.0, 0.0]))


def test_mig_sup_penalizes_a_latent_that_carries_two_factors():
    f = grid()
    # latent 0 carries both factors injectively (a folded code): MIG credits each
    # factor's gap in full, MIG-sup sees one latent with no gap
    folded = mig(code(f, 0.02, transform=lambda loc: torch.stack(
        [loc[:, 0] * SIZES[1] + loc[:, 1], torch.zeros(len(loc), dtype=loc.dtype)], 1)),
        f, progress=False)
    straight = mig(code(f, 0.02, extra=2), f, progress=False)
    assert folded.score > 0.95
    assert folded.sup < 0.05 and folded.sup_stderr < 0.02
    assert straight.sup == pytest.approx(straight.score * 2 / 4, abs=0.01)  # K / D = 2 / 4
    assert straight.sup == pytest.approx(mig_sup(straight.mi, straight.factor_entropy))
    hist = mig_histogram(posterior=code(f, 0.02, extra=2), factors=f, progress=False)
    assert hist.sup == pytest.approx(mig_sup(hist.mi, hist.factor_entropy))
    assert hist.as_dict()["sup"] == hist.sup


def test_mig_sup_of_an_older_record_is_recovered_from_its_gaps():
    from pyro_tcvae.study.rows import record_sup
    f = grid()
    c, s = math.cos(0.4), math.sin(0.4)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    r = mig(code(f, 0.2, transform=lambda loc: torch.cat([loc @ rot.T, loc[:, :1]], 1)), f,
            progress=False)
    old = {k: v for k, v in r.as_dict().items() if k not in ("sup", "sup_stderr",
                                                             "factor_entropy")}
    assert 0.05 < r.sup < 0.6
    assert record_sup(old) == pytest.approx(r.sup, abs=1e-9)
    assert record_sup({"score": 0.4, "stderr": 0.01, "gaps": {"a": 0.4}}) is None


def test_mig_ceiling_closed_forms():
    from pyro_tcvae.metrics import mig_ceiling
    score, gaps = mig_ceiling(grid())  # independent factors: a perfect code scores 1
    assert score == pytest.approx(1.0, abs=1e-12) and all(
        g == pytest.approx(1.0, abs=1e-12) for g in gaps.values())
    # v1 uniform on 4 values, v2 = v1 // 2: I(v1; v2) = H(v2) = log 2, so v1's gap is
    # 1 - log 2 / log 4 = 1/2 and v2's is 0; v3 independent of both keeps 1
    v1 = torch.arange(4).repeat_interleave(3)
    f = torch.stack([v1, v1 // 2, torch.arange(3).repeat(4)], 1)
    score, gaps = mig_ceiling(f, ["a", "b", "c"])
    assert gaps["a"] == pytest.approx(0.5, abs=1e-12) and gaps["b"] == pytest.approx(0, abs=1e-12)
    assert gaps["c"] == pytest.approx(1.0, abs=1e-12) and score == pytest.approx(0.5)
    assert mig_ceiling(f, ["a", "b", "c"], exclude=["b"])[0] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="no factor to score"):
        mig_ceiling(f, ["a", "b", "c"], exclude=["a", "b", "c"])


def test_the_paper_estimator_reaches_the_ceiling_on_dependent_factors():
    from pyro_tcvae.metrics import mig_ceiling
    biased = SmallSprites().correlated("posX", "posY", 20.0, size=3000, seed=0)
    f = biased.factors
    ceiling, want = mig_ceiling(f, biased.factor_names, exclude=["shape"])
    assert want["posX"] < 0.9 and want["scale"] == pytest.approx(1.0, abs=0.01)
    r = mig(code(f, 0.02), f, progress=False, factor_names=biased.factor_names,
            exclude=["shape"])
    assert r.score == pytest.approx(ceiling, abs=0.02)
    for k in ("posX", "posY"):
        assert r.gaps[k] == pytest.approx(want[k], abs=0.02)


def test_non_uniform_factors_use_the_empirical_entropy():
    sprites = SmallSprites()
    biased = sprites.correlated("posX", "posY", 20.0, size=3000, seed=0)
    f = biased.factors
    H = factor_entropy(f)
    assert H[3] < math.log(8) - 0.01  # not log |V|: the factor is not uniform
    r = mig(code(f, 0.02), f, progress=False, factor_names=biased.factor_names,
            exclude=["shape"])
    # a perfect code of posX still has I(z; posX) = H(posX), despite the bias
    assert r.gaps["posX"] > 0.6 and r.mi[3, 3] == pytest.approx(float(H[3]), rel=0.02)
    assert r.included == ("scale", "orientation", "posX", "posY")


def test_stratified_components_agree_with_the_exact_procedure():
    g = torch.Generator().manual_seed(0)
    f = grid(40)  # 3200 items, each with its own posterior
    loc = f.double() + 0.15 * torch.randn(len(f), 2, generator=g, dtype=torch.float64)
    post = dist.Normal(torch.cat([loc, torch.randn(len(f), 1, generator=g,
                                                   dtype=torch.float64)], 1), 0.2)
    exact = mig(post, f, progress=False)
    approx = mig(post, f, progress=False, max_components=800)
    assert exact.exact and not approx.exact and approx.num_components == 800
    assert approx.score == pytest.approx(exact.score, abs=0.01)
    assert torch.allclose(approx.mi, exact.mi, atol=0.02)


def test_model_and_data_path_equals_posterior_path():
    data = SmallSprites()
    torch.manual_seed(0)
    vae = VAE(x_shape=(32, 32), z_dim=4, arch="small_mlp", dataset_size=len(data))
    a = mig(model=vae, data=data, num_samples=1000, max_components=2000, progress=False)
    post = encode_dataset(vae, data, progress=False)
    b = mig(post, data.factors, factor_names=data.factor_names, num_samples=1000,
            max_components=2000, progress=False)
    assert a.score == pytest.approx(b.score, abs=1e-6)
    assert a.included == data.factor_names


def test_marginals_shared_by_mig_and_the_decomposition_give_the_same_numbers():
    from pyro_tcvae.metrics.aggregate import sampled_marginals

    g = torch.Generator().manual_seed(3)
    f = grid(20)  # 1600 items
    loc = torch.cat([f.double() + 0.2 * torch.randn(len(f), 2, generator=g, dtype=torch.float64),
                     torch.randn(len(f), 1, generator=g, dtype=torch.float64)], 1)
    post = dist.Normal(loc, 0.3)
    prior = dist.Normal(torch.zeros(3, dtype=torch.float64), 1.0).to_event(1)
    for settings in ((300, 700), (300, None)):  # stratified components, and all of them
        shared = sampled_marginals(post, *settings, seed=5)
        kw = dict(num_samples=settings[0], max_components=settings[1], seed=5)
        alone = mig(post, f, progress=False, **kw)
        both = mig(post, f, progress=False, marginals=shared, **kw)
        assert both.score == alone.score and torch.equal(both.mi, alone.mi)
        t_alone, _, _ = decomposition_terms(post, prior, **kw)
        t_both, _, _ = decomposition_terms(post, prior, marginals=shared, **kw)
        assert t_both == t_alone
    with pytest.raises(ValueError, match="sampled_marginals"):
        mig(post, f, num_samples=200, max_components=700, seed=5, marginals=shared,
            progress=False)


def test_mig_errors():
    f = grid()
    post = code(f, 0.1)
    with pytest.raises(ValueError, match="integer classes"):
        mig(post, f.float(), progress=False)
    with pytest.raises(ValueError, match="posterior has 1600 items, factors 100"):
        mig(post, f[:100], progress=False)
    with pytest.raises(ValueError, match="exclude=\\['size'\\]"):
        mig(post, f, exclude=["size"], progress=False)
    with pytest.raises(ValueError, match="either posterior= and factors=, or model="):
        mig(progress=False)


# 20 equal-width bins over 32 values: 12 bins hold 2 values, 8 hold 1, so the binned
# code keeps H = (12/16) log 16 + (8/32) log 32 = 0.850 log 32; over 40 values 0.812.
@pytest.mark.parametrize("values,cap", [(32, 0.850), (40, 0.812)])
def test_histogram_mig_caps_below_one(values, cap):
    f = torch.arange(values).repeat(400)[:, None]
    codes = f.double() + 0.0  # a perfect, noiseless code
    r = mig_histogram(codes, f, num_points=10_000)
    assert r.score == pytest.approx(cap, abs=0.01)
    # the paper's estimator on the same perfect code does reach 1
    assert mig(code(f, 0.02), f, progress=False).score > 0.99


def test_histogram_mig_of_a_perfect_code_with_few_values_is_one():
    f = grid()
    assert mig_histogram(f.double(), f).score == pytest.approx(1.0, abs=1e-9)


# ---------------------------------------------------------------- decomposition
def test_decomposition_matches_brute_force_and_sums_to_kl():
    loc, scale = lookup_table(200, 3)
    post = dist.Normal(loc, scale)
    prior = dist.Normal(torch.zeros(3, dtype=torch.float64), 1.0).to_event(1)
    terms, err, per = decomposition_terms(post, prior, max_components=None)
    order = torch.argsort(torch.randperm(200, generator=torch.Generator().manual_seed(0)))
    z = per["z"][order]  # back to item order
    mi, tc, dwkl = exact_terms(z, loc, scale)
    # (the joint's exact fast path sums shifted exponentials in float32: ~1e-7 relative)
    assert terms["mi"] == pytest.approx(float(mi.mean()), abs=1e-7)
    assert terms["tc"] == pytest.approx(float(tc.mean()), abs=1e-7)
    assert terms["dwkl"] == pytest.approx(float(dwkl.mean()), abs=1e-9)
    assert terms["mi"] + terms["tc"] + terms["dwkl"] == pytest.approx(terms["kl"], abs=1e-12)
    assert all(0 < err[k] < 0.5 for k in ("mi", "tc", "dwkl", "kl"))
    # 60 samples against a stratified 120 of the 200 components, or against all 200
    few, _, _ = decomposition_terms(post, prior, num_samples=60, max_components=None)
    approx, _, _ = decomposition_terms(post, prior, num_samples=60, max_components=120)
    assert not approx["exact"] and approx["num_components"] == 120
    for k in ("tc", "dwkl"):  # stratified marginals: close, not identical
        assert approx[k] == pytest.approx(few[k], abs=0.05)
        assert approx[k] != few[k]
    assert approx["mi"] == few["mi"]  # the joint is exact either way


def test_full_decomposition_agrees_with_the_elbo_minibatch_terms():
    data = NonlinearFactors(sizes=(8, 8, 8))
    N = len(data)
    pyro.set_rng_seed(0)
    vae = VAE(x_shape=(12,), z_dim=3, arch="small_mlp", likelihood="gaussian",
              dataset_size=N)
    full = elbo_decomposition(vae, data, num_samples=N, max_components=None, progress=False)
    x_all = data.images()
    elbo = TraceTC_ELBO(dataset_size=N)
    batch = {k: [] for k in ("mi", "tc", "dwkl", "log_likelihood")}
    for seed in range(30):  # B = N: the ELBO's MSS is exact too, only the samples differ
        pyro.set_rng_seed(seed)
        t = elbo.decompose(vae.model, vae.guide, x_all, torch.arange(N))
        for k in batch:
            batch[k].append(t[k])
    for k, values in batch.items():
        mean = sum(values) / len(values)
        assert mean == pytest.approx(full[k], abs=4 * full["stderr"][k] + 0.01), k
    assert full["elbo"] == pytest.approx(full["log_likelihood"] - full["kl"], rel=1e-6)


def test_mig_leaves_out_what_the_dataset_says():
    data = SmallSprites().subset(scale=1)
    data.mig_exclude = ("shape",)  # as DSprites does (Chen et al. leave shape out)
    torch.manual_seed(0)
    vae = VAE(x_shape=(32, 32), z_dim=3, arch="small_mlp", dataset_size=len(data))
    r = mig(model=vae, data=data, num_samples=500, progress=False)
    assert r.included == ("orientation", "posX", "posY")  # scale has one value here
    r = mig(model=vae, data=data, num_samples=500, exclude=(), progress=False)
    assert r.included == ("shape", "orientation", "posX", "posY")
