"""The steps of the paper's MIG estimator (metrics/mig.py), each held against brute
force or its definition; tests/test_metrics.py checks the score itself."""

import math

import pyro.distributions as dist
import pytest
import torch

from pyro_tcvae.data import grid_factors
from pyro_tcvae.metrics.mig import (bootstrap_mig, draw_mig_samples, included_factors,
                                    log_conditional_marginals, log_marginals, mig,
                                    mutual_information)


def posterior_and_factors(seed=0):
    torch.manual_seed(seed)
    f = grid_factors((3, 4)).repeat(2, 1)  # N = 24, K = 2
    loc = torch.cat([f.double(), torch.randn(len(f), 1, dtype=torch.float64)], 1)
    return dist.Normal(loc, 0.3 + torch.rand_like(loc)), f


def brute_log_q(post, z, items):
    """log (1/|items|) sum_{m in items} q(z_sj | x_m): [S, D]."""
    lp = dist.Normal(post.loc[items][:, None], post.scale[items][:, None]).log_prob(z)
    return torch.logsumexp(lp, 0) - math.log(len(items))


def test_an_exact_draw_uses_every_item_and_the_log_densities_are_the_brute_force_ones():
    post, f = posterior_and_factors()
    N = len(f)
    draw = draw_mig_samples(post, N, num_samples=10, max_components=None, progress=False)
    assert draw.exact and len(draw.samples) == 10 and torch.equal(draw.components,
                                                                  torch.arange(N))
    assert set(draw.rest.tolist()) == set(range(N)) - set(draw.samples.tolist())
    assert (draw.pos[draw.samples] >= 0).all() and draw.z.shape == (10, 3)
    assert torch.allclose(log_marginals(draw, N), brute_log_q(post, draw.z, torch.arange(N)))
    cond = log_conditional_marginals(draw, f, [0, 1])
    for a, k in enumerate([0, 1]):
        for s, item in enumerate(draw.samples.tolist()):
            group = torch.nonzero(f[:, k] == f[item, k])[:, 0]
            assert torch.allclose(cond[a, s], brute_log_q(post, draw.z[s:s + 1], group)[0])


def test_a_subset_of_components_keeps_each_samples_own_item():
    post, f = posterior_and_factors()
    draw = draw_mig_samples(post, len(f), num_samples=6, max_components=8, seed=2,
                            progress=False)
    assert not draw.exact and len(draw.components) == 8
    assert not set(draw.rest.tolist()) & set(draw.samples.tolist())
    assert set(draw.rest.tolist()) <= set(draw.components.tolist())
    with pytest.raises(ValueError, match="items, factors"):
        draw_mig_samples(post, len(f) + 1, progress=False)


def test_mutual_information_is_the_mean_difference_and_leaves_excluded_factors_out():
    torch.manual_seed(0)
    cond, log_q = torch.randn(2, 7, 3, dtype=torch.float64), torch.randn(7, 3,
                                                                          dtype=torch.float64)
    diff, mi, cond_entropy = mutual_information(cond, log_q, [0, 2], K=3)
    assert torch.equal(diff, cond - log_q)
    assert torch.allclose(mi[[0, 2]], (cond - log_q).mean(1)) and (mi[1] == 0).all()
    assert torch.allclose(cond_entropy[[0, 2]], -cond.mean(1))
    assert cond_entropy[1].isnan().all()
    # MI = H(z_j) - H(z_j | v_k)
    assert torch.allclose(mi[[0, 2]], -log_q.mean(0) - cond_entropy[[0, 2]])


def test_included_factors_leave_out_the_excluded_and_the_constant():
    names = ("a", "b", "c")
    assert included_factors(names, {"b"}, torch.tensor([1.0, 1.0, 0.0])) == [0]
    assert included_factors(names, set(), torch.tensor([1.0, 2.0, 3.0])) == [0, 1, 2]
    with pytest.raises(ValueError, match="no factor left"):
        included_factors(names, {"a"}, torch.tensor([1.0, 0.0, 0.0]))


def test_the_bootstrap_reweights_the_samples_as_resampling_them_would():
    torch.manual_seed(0)
    diff, h = torch.rand(2, 9, 3, dtype=torch.float64), torch.tensor([1.5, 2.0],
                                                                      dtype=torch.float64)
    stderr, sup_stderr = bootstrap_mig(diff, h, 50, seed=4)
    draws = torch.randint(0, 9, (50, 9), generator=torch.Generator().manual_seed(4))
    norm = torch.stack([diff[:, d].mean(1) for d in draws]) / h[:, None]  # [B, K', D]
    top = norm.topk(2, dim=-1).values
    assert stderr == pytest.approx(float((top[..., 0] - top[..., 1]).mean(-1).std()))
    top_sup = norm.transpose(-1, -2).topk(2, dim=-1).values
    assert sup_stderr == pytest.approx(float((top_sup[..., 0] - top_sup[..., 1]).mean(-1)
                                             .std()))
    same = diff[:, :1].expand(2, 9, 3)
    assert bootstrap_mig(same, h, 20, seed=0) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert all(math.isnan(v) for v in bootstrap_mig(diff, h, 1, seed=0))


def test_mig_is_made_of_its_steps():
    post, f = posterior_and_factors(1)
    r = mig(post, f, num_samples=12, max_components=None, num_bootstrap=30, seed=5,
            progress=False)
    draw = draw_mig_samples(post, len(f), num_samples=12, max_components=None, seed=5,
                            progress=False)
    L0 = log_marginals(draw, len(f))
    diff, mi, _ = mutual_information(log_conditional_marginals(draw, f, [0, 1]), L0, [0, 1], 2)
    assert torch.equal(r.mi, mi) and torch.equal(r.latent_entropy, -L0.mean(0))
    h = torch.tensor([math.log(3), math.log(4)], dtype=torch.float64)
    assert (r.stderr, r.sup_stderr) == bootstrap_mig(diff, r.factor_entropy, 30, seed=6)
    assert torch.allclose(r.factor_entropy, h)
