import math

import pyro.distributions as dist
import pytest
import torch

from pyro_tcvae.ops import log_mixture, normal_log_mixture

from helpers import normal_pairwise


def brute(z, loc, scale, log_w_diag, log_w_off):
    """Direct [R, S, N, D] broadcast in float64."""
    lp = dist.Normal(loc[:, None], scale[:, None]).log_prob(z[:, :, None])
    R, S, N, D = lp.shape
    lw = torch.full((S, N), log_w_off, dtype=z.dtype)
    if log_w_diag is not None:
        lw[torch.arange(S), torch.arange(S)] = log_w_diag
    return torch.logsumexp(lp.sum(-1) + lw, -1), torch.logsumexp(lp + lw[..., None], -2)


def params(R, S, N, D, dtype=torch.float64, spread=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    loc = spread * torch.randn(R, N, D, generator=g, dtype=dtype)
    scale = torch.exp(0.7 * torch.randn(R, N, D, generator=g, dtype=dtype)) * 0.3
    z = loc[:, :S] + scale[:, :S] * torch.randn(R, S, D, generator=g, dtype=dtype)
    return z, loc, scale


@pytest.mark.parametrize("weights", [(None, -2.0), (-3.5, -1.5), (-1.0, -2.5)])
@pytest.mark.parametrize("R,S,N,D,chunk", [(1, 9, 9, 4, 4), (3, 5, 8, 2, 2), (2, 12, 12, 3, None)])
def test_normal_kernel_matches_brute_force(weights, R, S, N, D, chunk):
    z, loc, scale = params(R, S, N, D)
    a = normal_log_mixture(z, loc, scale, *weights, chunk_size=chunk)
    b = brute(z, loc, scale, *weights)
    for x, y in zip(a, b):
        assert torch.allclose(x, y, atol=1e-12)


@pytest.mark.parametrize("weights", [(None, -2.0), (-3.5, -1.5)])
def test_normal_kernel_gradients(weights):
    z, loc, scale = params(2, 5, 6, 3)
    for t in (z, loc, scale):
        t.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z, l, s: normal_log_mixture(z, l, s, *weights, chunk_size=2), (z, loc, scale)
    )


def test_normal_kernel_far_samples_stay_exact():
    # samples hundreds of standard deviations from every component: the clamped,
    # shifted exp must still give the exact log-density (no log(0), no floor)
    z, loc, scale = params(1, 6, 6, 2, spread=0.1)
    z = z + 40.0
    a = normal_log_mixture(z, loc, scale, None, -math.log(6))
    b = brute(z, loc, scale, None, -math.log(6))
    assert torch.isfinite(a[0]).all()
    for x, y in zip(a, b):
        assert torch.allclose(x, y, rtol=1e-10)


def test_normal_kernel_float32_is_accurate():
    # realistic posteriors (some scales near 0.01) in float32 against float64
    z, loc, scale = params(1, 512, 512, 6, spread=2.0)
    scale = scale.clamp(min=0.01)
    ref = brute(z, loc, scale, -math.log(1e5), math.log(1 / 511 - 1e-5))
    got = normal_log_mixture(z.float(), loc.float(), scale.float(), -math.log(1e5),
                             math.log(1 / 511 - 1e-5))
    for x, y in zip(got, ref):
        assert (x.double() - y).abs().max() < 2e-4


def test_generic_kernel_matches_brute_force_and_grads():
    R, S, D = 2, 7, 3
    z, loc, scale = params(R, S, S, D)
    loc.requires_grad_()

    def pairwise(i0, i1):
        return torch.stack([normal_pairwise(z[r, i0:i1], loc[r], scale[r]) for r in range(R)])

    a = log_mixture(pairwise, S, -2.0, -1.7, chunk_size=3)
    b = brute(z, loc, scale, -2.0, -1.7)
    for x, y in zip(a, b):
        assert torch.allclose(x, y, atol=1e-12)
    ga = torch.autograd.grad(a[0].sum() - a[1].sum(), loc)[0]
    gb = torch.autograd.grad(b[0].sum() - b[1].sum(), loc)[0]
    assert torch.allclose(ga, gb, atol=1e-12)


@pytest.mark.parametrize("weights", [(None, -2.0), (-3.5, -1.5)])
@pytest.mark.parametrize("chunks", [(3, 4), (2, 5), (32, 4096)])
def test_forward_only_kernel_matches_brute_force(weights, chunks):
    from pyro_tcvae.ops.normal_mixture import _forward_only

    z, loc, scale = params(2, 9, 13, 3)
    z[0, 4] += 60.0  # one sample far from everything: takes the shifted fallback
    got = _forward_only(z, loc, scale, *weights, chunks=chunks)
    want = brute(z, loc, scale, *weights)
    for x, y in zip(got, want):
        assert torch.allclose(x, y, atol=1e-9, rtol=1e-9)


def test_exact_joint_kernel_matches_brute_force():
    from pyro_tcvae.ops.normal_mixture import normal_joint_log_mixture

    z, loc, scale = params(1, 40, 300, 5)
    scale = scale.clamp(min=1e-3)
    want = torch.logsumexp(dist.Normal(loc[0], scale[0]).log_prob(z[0][:, None]).sum(-1), 1)
    got = normal_joint_log_mixture(z[0], loc[0], scale[0], chunks=(16, 64))
    assert torch.allclose(got, want - math.log(300), rtol=1e-7, atol=1e-6)
