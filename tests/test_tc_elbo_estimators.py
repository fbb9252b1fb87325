"""The minibatch terms against brute force on lookup-table encoders."""

import math
import warnings

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_tcvae import TraceTC_ELBO

from helpers import exact_terms, grads_of, lookup_model_guide, lookup_table, normal_pairwise

N, D = 200, 3


def test_mss_with_whole_dataset_is_exact():
    loc, scale = lookup_table(N, D)
    captured = []
    model, guide = lookup_model_guide(loc, scale, capture=captured)
    elbo = TraceTC_ELBO(estimator="mss", dataset_size=N)
    terms = elbo.decompose(model, guide, torch.arange(N))
    z = captured[-1]
    mi, tc, dwkl = exact_terms(z, loc, scale)
    assert terms["mi"] == pytest.approx(mi.mean().item(), abs=1e-9)
    assert terms["tc"] == pytest.approx(tc.mean().item(), abs=1e-9)
    assert terms["dwkl"] == pytest.approx(dwkl.mean().item(), abs=1e-9)
    assert tc.mean() > 0.3  # the table's latents are correlated: a real TC to recover
    kl = (dist.Normal(loc, scale).log_prob(z) - dist.Normal(0.0, 1.0).log_prob(z)).sum(-1)
    assert terms["kl"] == pytest.approx(kl.mean().item(), abs=1e-9)


def _exact_expectations(loc, scale, samples=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    acc = torch.zeros(3, dtype=loc.dtype)
    for _ in range(samples):
        z = loc + scale * torch.randn(loc.shape, generator=g, dtype=loc.dtype)
        acc += torch.stack([t.mean() for t in exact_terms(z, loc, scale)])
    return acc / samples


def _batch_average(loc, scale, B, points=12000, seed=0):
    """Average MSS terms over random batches (without replacement), `points` in all."""
    model, guide = lookup_model_guide(loc, scale)
    elbo = TraceTC_ELBO(estimator="mss", dataset_size=N)
    g = torch.Generator().manual_seed(seed)
    acc = torch.zeros(3, dtype=loc.dtype)
    rounds = points // B
    for _ in range(rounds):
        idx = torch.randperm(N, generator=g)[:B]
        t = elbo.decompose(model, guide, idx)
        acc += torch.tensor([t["mi"], t["tc"], t["dwkl"]], dtype=loc.dtype)
    return acc / rounds


def test_mss_batches_approach_the_exact_terms_as_the_batch_grows():
    loc, scale = lookup_table(N, D)
    pyro.set_rng_seed(1)
    exact = _exact_expectations(loc, scale)
    errors = {B: (_batch_average(loc, scale, B) - exact).abs() for B in (10, 50, 200)}
    # log of a stratified estimate of q(z) is biased low at small B (Jensen), which
    # inflates MI and lowers TC; the bias falls as B grows and is gone at B = N.
    # Monte-Carlo standard error of these averages is about 0.01 nats.
    for k in range(3):
        assert errors[200][k] < 0.04
        assert errors[200][k] <= errors[50][k] + 0.02 <= errors[10][k] + 0.04
    assert errors[10].max() > 0.1  # a small batch really is biased: the test can fail


def test_mws_values_follow_the_papers_formula():
    loc, scale = lookup_table(N, D)
    captured = []
    model, guide = lookup_model_guide(loc, scale, capture=captured)
    B = 32
    idx = torch.randperm(N)[:B]
    terms = TraceTC_ELBO(estimator="mws").decompose(model, guide, idx)
    z = captured[-1]
    lp = normal_pairwise(z, loc[idx], scale[idx])  # [B, B, D]
    # Chen et al.: log q(z_i) ~= logsumexp_j log q(z_i | x_j) - log(N B)
    log_qz = torch.logsumexp(lp.sum(-1), 1) - math.log(N * B)
    log_qzd = (torch.logsumexp(lp, 1) - math.log(N * B)).sum(-1)
    log_q_cond = lp.diagonal(dim1=0, dim2=1).sum(0)
    assert terms["mi"] == pytest.approx((log_q_cond - log_qz).mean().item(), abs=1e-9)
    assert terms["tc"] == pytest.approx((log_qz - log_qzd).mean().item(), abs=1e-9)
    # the MWS TC carries an offset of about (D - 1) log N
    assert terms["tc"] > (D - 1) * math.log(N) - 2


def test_mws_gradients_do_not_depend_on_the_dataset_size():
    loc, scale = lookup_table(N, D)
    model, guide = lookup_model_guide(loc, scale)
    idx = torch.arange(40)
    results = []
    for size in (200, 10_000):
        pyro.clear_param_store()
        pyro.set_rng_seed(4)
        elbo = TraceTC_ELBO(beta=6.0, estimator="mws", dataset_size=size)
        step = grads_of(lambda: elbo.loss_and_grads(model, guide, idx), torch.nn.Module())
        results.append(step)
    (l1, g1), (l2, g2) = results
    assert g1.keys() == {"param:loc", "param:scale"}
    for k in g1:
        assert torch.allclose(g1[k], g2[k], rtol=1e-8, atol=1e-12)
    # ... while the reported value moves by the constant: (beta - 1) * (D - 1) * log ratio
    assert l1 != pytest.approx(l2)


def test_subsample_size_style_finds_the_dataset_size():
    loc, scale = lookup_table(N, D)
    seen = {}

    def model():
        with pyro.plate("data", size=N, subsample_size=25):
            pyro.sample("z", dist.Normal(loc.new_zeros(D), 1.0).to_event(1))

    def guide():
        with pyro.plate("data", size=N, subsample_size=25) as idx:
            z = pyro.sample("z", dist.Normal(loc[idx], scale[idx]).to_event(1))
        seen["z"], seen["idx"] = z, idx

    pyro.set_rng_seed(0)
    terms = TraceTC_ELBO(estimator="mws").decompose(model, guide)
    lp = normal_pairwise(seen["z"], loc[seen["idx"]], scale[seen["idx"]])
    log_qz = torch.logsumexp(lp.sum(-1), 1) - math.log(N * 25)
    mi = lp.diagonal(dim1=0, dim2=1).sum(0) - log_qz
    assert terms["mi"] == pytest.approx(mi.mean().item(), abs=1e-9)


def test_unsubsampled_plate_warns_once_and_dataset_size_overrides():
    loc, scale = lookup_table(N, D)
    model, guide = lookup_model_guide(loc, scale, subsample=False)
    idx = torch.arange(N)
    elbo = TraceTC_ELBO()
    with pytest.warns(UserWarning, match="not subsampled.*whole dataset.*dataset_size"):
        t_full = elbo.decompose(model, guide, idx)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        elbo.decompose(model, guide, idx)  # no second warning
        # an explicit dataset size: no warning, and it is used
        captured = []
        m2, g2 = lookup_model_guide(loc, scale, subsample=False, capture=captured)
        t = TraceTC_ELBO(estimator="mws", dataset_size=5000).decompose(m2, g2, idx[:20])
    z = captured[-1]
    lp = normal_pairwise(z, loc[:20], scale[:20])
    mi = lp.diagonal(dim1=0, dim2=1).sum(0) - torch.logsumexp(lp.sum(-1), 1) + math.log(5000 * 20)
    assert t["mi"] == pytest.approx(mi.mean().item(), abs=1e-9)
    assert t_full["tc"] > 0


def test_non_factorized_prior():
    loc, scale = lookup_table(N, D)
    cov = 0.5 * torch.eye(D, dtype=loc.dtype) + 0.5
    prior = dist.MultivariateNormal(loc.new_zeros(D), covariance_matrix=cov)
    captured = []
    model, guide = lookup_model_guide(loc, scale, prior=prior, capture=captured)
    terms = TraceTC_ELBO(dataset_size=N).decompose(model, guide, torch.arange(N))
    z = captured[-1]
    kl = dist.Normal(loc, scale).log_prob(z).sum(-1) - prior.log_prob(z)
    assert terms["kl"] == pytest.approx(kl.mean().item(), abs=1e-9)
    assert terms["mi"] + terms["tc"] + terms["dwkl"] == pytest.approx(terms["kl"], abs=1e-12)


class SlowNormal(dist.Normal):
    """A Normal that the ELBO does not recognise, so it takes the generic path."""


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_generic_path_equals_fast_normal_path(estimator):
    loc, scale = lookup_table(N, D)
    out = []
    for family in (dist.Normal, SlowNormal):
        pyro.clear_param_store()
        model, guide = lookup_model_guide(loc, scale, family=family)
        elbo = TraceTC_ELBO(beta=6.0, alpha=2.0, gamma=0.5, estimator=estimator,
                            num_particles=2, vectorize_particles=True, max_plate_nesting=1)
        pyro.set_rng_seed(8)
        out.append(grads_of(lambda: elbo.loss_and_grads(model, guide, torch.arange(64)),
                            torch.nn.Module()))
    (l1, g1), (l2, g2) = out
    assert l1 == pytest.approx(l2, rel=1e-10)
    for k in g1:
        assert torch.allclose(g1[k], g2[k], rtol=1e-8, atol=1e-10)
