"""alpha = beta = gamma = 1 is the base ELBO exactly; the three loss paths agree."""

import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from pyro_tcvae import TraceMeanFieldTC_ELBO, TraceTC_ELBO

from helpers import TinyVAE, grads_of

N, B = 64, 16


def data():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, 6, generator=g)
    idx = torch.arange(B)
    return x[idx], idx


def loss_and_grads(elbo, vae, seed=3):
    x, idx = data()
    pyro.set_rng_seed(seed)
    return grads_of(lambda: elbo.loss_and_grads(vae.model, vae.guide, x, idx), vae)


def assert_same(a, b, atol=1e-5):
    (la, ga), (lb, gb) = a, b
    assert la == pytest.approx(lb, rel=1e-6)
    assert ga.keys() == gb.keys() and ga
    for k in ga:
        assert torch.allclose(ga[k], gb[k], atol=atol), k


CASES = [
    dict(latent="normal"),
    dict(latent="laplace"),
    dict(latent="studentt"),
    dict(latent="lognormal"),
    dict(latent="relaxed"),
    dict(latent="normal", two_sites=True),
    dict(latent="normal", global_latent=True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{v}" for v in c.values()))
@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_unit_weights_equal_trace_elbo(case, estimator):
    torch.manual_seed(0)
    vae = TinyVAE(N=N, **case)
    ours = loss_and_grads(TraceTC_ELBO(estimator=estimator), vae)
    base = loss_and_grads(Trace_ELBO(), vae)
    assert_same(ours, base)


@pytest.mark.parametrize("vectorize", [False, True])
def test_unit_weights_equal_trace_elbo_with_particles(vectorize):
    torch.manual_seed(0)
    vae = TinyVAE(N=N, two_sites=True)
    kw = dict(num_particles=3, vectorize_particles=vectorize, max_plate_nesting=1)
    assert_same(loss_and_grads(TraceTC_ELBO(**kw), vae), loss_and_grads(Trace_ELBO(**kw), vae))


@pytest.mark.parametrize("case", [dict(latent="normal"), dict(latent="laplace"),
                                  dict(latent="normal", two_sites=True)])
def test_unit_weights_equal_mean_field(case):
    torch.manual_seed(0)
    vae = TinyVAE(N=N, **case)
    assert_same(loss_and_grads(TraceMeanFieldTC_ELBO(), vae),
                loss_and_grads(TraceMeanField_ELBO(), vae))
    kw = dict(num_particles=2, vectorize_particles=True, max_plate_nesting=1)
    assert_same(loss_and_grads(TraceMeanFieldTC_ELBO(**kw), vae),
                loss_and_grads(TraceMeanField_ELBO(**kw), vae))


@pytest.mark.parametrize("cls", [TraceTC_ELBO, TraceMeanFieldTC_ELBO])
@pytest.mark.parametrize("vectorize", [False, True])
def test_loss_paths_agree(cls, vectorize):
    torch.manual_seed(0)
    vae = TinyVAE(N=N, two_sites=True)
    x, idx = data()
    elbo = cls(beta=6.0, alpha=0.5, gamma=2.0, num_particles=2, vectorize_particles=vectorize,
               max_plate_nesting=1)
    pyro.set_rng_seed(5)
    l1 = elbo.loss(vae.model, vae.guide, x, idx)
    t1 = elbo.last_terms
    pyro.set_rng_seed(5)
    l2, g2 = grads_of(lambda: elbo.loss_and_grads(vae.model, vae.guide, x, idx), vae)
    t2 = elbo.last_terms
    pyro.set_rng_seed(5)
    l3, g3 = grads_of(
        lambda: elbo.differentiable_loss(vae.model, vae.guide, x, idx).backward(), vae
    )
    l3 = elbo.last_terms["loss"]
    assert l1 == pytest.approx(l2, rel=1e-5) and l1 == pytest.approx(l3, rel=1e-5)
    for k in g2:
        assert torch.allclose(g2[k], g3[k], atol=1e-4)
    assert t1.keys() == t2.keys()
    for k in t1:
        assert t1[k] == pytest.approx(t2[k], rel=1e-5, abs=1e-5)
    # the loss is minus the weighted objective, scaled to the dataset (N / B per point);
    # the mean-field loss uses the analytic KL, the reported terms the Monte-Carlo one
    if cls is TraceTC_ELBO:
        assert l1 == pytest.approx(-t1["objective"] * N, rel=1e-4)


def test_weighted_loss_differs_and_gradients_flow():
    torch.manual_seed(0)
    vae = TinyVAE(N=N)
    l6, g6 = loss_and_grads(TraceTC_ELBO(beta=6.0), vae)
    l1, g1 = loss_and_grads(Trace_ELBO(), vae)
    assert l6 != pytest.approx(l1)
    assert any(not torch.allclose(g6[k], g1[k]) for k in g1)
    assert all(torch.isfinite(g).all() for g in g6.values())


def test_annealing_scale_scales_the_correction():
    # KL annealing: poutine.scale around the latent's sample statement in model and guide
    torch.manual_seed(0)
    vae = TinyVAE(N=N)
    x, idx = data()

    def correction(anneal):
        vae.anneal = anneal
        out = []
        for beta in (1.0, 6.0):
            pyro.set_rng_seed(9)
            out.append(TraceTC_ELBO(beta=beta).loss(vae.model, vae.guide, x, idx))
        return out[1] - out[0]

    c1, c_quarter = correction(1.0), correction(0.25)
    assert abs(c1) > 1.0
    assert c_quarter == pytest.approx(0.25 * c1, rel=1e-4)


def test_mask_drops_datapoints_and_keeps_equivalence():
    torch.manual_seed(0)
    vae = TinyVAE(N=N)
    x, idx = data()
    mask = torch.arange(B) % 3 != 0

    def masked(fn):
        def wrapped(*args):
            with poutine.mask(mask=mask):
                return fn(*args)
        return wrapped

    for cls, base in ((TraceTC_ELBO, Trace_ELBO), (TraceMeanFieldTC_ELBO, TraceMeanField_ELBO)):
        pyro.set_rng_seed(2)
        a = grads_of(lambda: cls().loss_and_grads(masked(vae.model), masked(vae.guide), x, idx), vae)
        pyro.set_rng_seed(2)
        b = grads_of(lambda: base().loss_and_grads(masked(vae.model), masked(vae.guide), x, idx), vae)
        assert_same(a, b)
    # with beta != 1, a masked datapoint contributes no correction: masking everything
    # leaves only the (masked-out) base loss, zero
    none = torch.zeros(B, dtype=torch.bool)

    def all_masked(fn):
        def wrapped(*args):
            with poutine.mask(mask=none):
                return fn(*args)
        return wrapped

    assert TraceTC_ELBO(beta=6.0).loss(all_masked(vae.model), all_masked(vae.guide), x, idx) == 0.0
