"""The ready VAE: every latent family x prior trains, the flow prior is a density,
shapes, persistence, and clear errors."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI

from pyro_tcvae import TraceTC_ELBO
from pyro_tcvae.data import NonlinearFactors
from pyro_tcvae.models import VAE, FlowPrior, Prior

LATENTS = ["normal", "laplace", "studentt", "relaxed_bernoulli"]


def priors():
    return {
        "normal": "normal",
        "laplace": "laplace",
        "flow": "flow",
        "user-mvn": dist.MultivariateNormal(torch.zeros(3), 0.5 * torch.eye(3) + 0.5),
    }


@pytest.fixture(scope="module")
def data():
    return NonlinearFactors(sizes=(8, 8, 8))


@pytest.mark.parametrize("latent", LATENTS)
@pytest.mark.parametrize("prior", list(priors()))
def test_every_family_and_prior_trains(latent, prior, data):
    pyro.set_rng_seed(0)
    vae = VAE(x_shape=(12,), z_dim=3, arch="small_mlp", latent=latent,
              prior=priors()[prior], likelihood="gaussian", dataset_size=len(data))
    elbo = TraceTC_ELBO(beta=6.0)
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 3e-3}), loss=elbo)
    x_all = data.images()
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(80):
        idx = torch.randperm(len(data), generator=g)[:128]
        losses.append(svi.step(x_all[idx], idx) / len(data))
    assert all(math.isfinite(l) for l in losses)
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 5.0
    assert set(elbo.last_terms) >= {"mi", "tc", "dwkl"}


def test_flow_prior_is_a_normalized_density_with_matching_samples():
    torch.manual_seed(0)
    prior = FlowPrior(4, count_bins=8, bound=4.0)
    with torch.no_grad():  # a clearly non-Gaussian, non-identity map
        for p in prior.spline.parameters():
            p.copy_(torch.randn_like(p))
    d = prior.distribution(torch.zeros(1))
    assert tuple(d.event_shape) == (4,)
    grid = torch.linspace(-12, 12, 240001)
    with torch.no_grad():
        per_dim = d.base_dist.log_prob(grid[:, None].expand(-1, 4)).exp()  # [G, 4]
        samples = d.sample((20000,))  # [n, 4]
    mass = torch.trapezoid(per_dim, grid, dim=0)
    assert torch.allclose(mass, torch.ones(4), atol=2e-3), mass
    # the four marginals differ from a standard normal and from each other
    normal = dist.Normal(0.0, 1.0).log_prob(grid).exp()
    assert ((per_dim - normal[:, None]).abs().max(0).values > 0.05).all()
    # Kolmogorov-Smirnov: empirical CDF of the samples against the density's CDF
    cdf = torch.cumulative_trapezoid(per_dim, grid, dim=0)
    cdf = torch.cat([torch.zeros(1, 4), cdf]) / mass
    n = samples.shape[0]
    for k in range(4):
        xs = samples[:, k].sort().values
        model_cdf = torch.from_numpy(np.interp(xs.numpy(), grid.numpy(), cdf[:, k].numpy()))
        emp = torch.arange(1, n + 1) / n
        ks = torch.maximum((emp - model_cdf).abs(), (emp - 1 / n - model_cdf).abs()).max()
        assert ks < 1.63 / math.sqrt(n), (k, float(ks))  # 1% critical value


@pytest.mark.parametrize("arch,x_shape", [("mlp", (64, 64)), ("conv", (64, 64)),
                                          ("small_mlp", (12,))])
def test_shapes(arch, x_shape):
    vae = VAE(x_shape=x_shape, z_dim=5, arch=arch, dataset_size=100)
    x = (torch.rand(7, *x_shape) < 0.3).float()
    q = vae.encode(x)
    assert tuple(q.batch_shape) == (7, 5)
    assert vae.decode(q.rsample()).shape == (7, *x_shape)
    assert vae.reconstruct(x).shape == (7, *x_shape)
    xs, z = vae.sample(3)
    assert xs.shape == (3, *x_shape) and z.shape == (3, 5)
    assert ((xs >= 0) & (xs <= 1)).all()  # Bernoulli means are probabilities
    # the model and guide run under the ELBO with and without idx
    elbo = TraceTC_ELBO(beta=2.0)
    assert math.isfinite(elbo.loss(vae.model, vae.guide, x, torch.arange(7)))


class StudentTPrior(Prior):
    def distribution(self, like):
        return dist.StudentT(3.0, like.new_zeros(self.z_dim), 1.0).to_event(1)


@pytest.mark.parametrize("kind", ["builtin", "custom"])
def test_save_then_load_gives_the_same_outputs(kind, tmp_path):
    torch.manual_seed(0)
    if kind == "builtin":
        vae = VAE(x_shape=(12,), z_dim=3, arch="small_mlp", latent="laplace", prior="flow",
                  likelihood="gaussian", dataset_size=512)
        with torch.no_grad():
            vae.likelihood.raw_sigma.fill_(-1.3)
    else:
        vae = VAE(x_shape=(12,), z_dim=3, encoder=torch.nn.Linear(12, 6),
                  decoder=torch.nn.Linear(3, 12), prior=StudentTPrior(3), likelihood="gaussian")
    path = vae.save(tmp_path / "model.pt")
    back = VAE.load(path)
    x = torch.randn(5, 12)
    z = torch.randn(5, 3)
    assert torch.equal(back.encode(x).loc, vae.encode(x).loc)
    assert torch.equal(back.decode(z), vae.decode(z))
    like = torch.zeros(1)
    assert torch.equal(back.prior.distribution(like).log_prob(z),
                       vae.prior.distribution(like).log_prob(z))
    with torch.no_grad():
        assert float(back.likelihood.sigma()) == pytest.approx(float(vae.likelihood.sigma()))
    assert (back.config() is None) == (kind == "custom")
    assert back.dataset_size == vae.dataset_size


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable pyro-tcvae model file"):
        VAE.load(bad)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a pyro-tcvae model file"):
        VAE.load(tmp_path / "other.pt")


def test_wrong_support_and_shapes_give_clear_errors():
    vae = VAE(x_shape=(64, 64), z_dim=4, arch="mlp", dataset_size=100)
    x255 = torch.randint(0, 256, (4, 64, 64)).float()
    with pytest.raises(ValueError, match=r"binary data.*\[0, 255\].*divide by 255"):
        vae.model(x255, torch.arange(4))
    grey = torch.rand(4, 64, 64)
    with pytest.raises(ValueError, match="grey levels.*continuous_bernoulli"):
        vae.model(grey, torch.arange(4))
    cb = VAE(x_shape=(64, 64), z_dim=4, likelihood="continuous_bernoulli", name="cb")
    with pytest.raises(ValueError, match=r"in \[0, 1\].*divide 0..255 images by 255"):
        cb.model(x255)
    cb.model(grey)  # grey levels are fine for the continuous Bernoulli
    with pytest.raises(ValueError, match=r"expects \[B, 64, 64\]"):
        vae.model(torch.zeros(4, 32, 32))
    with pytest.raises(ValueError, match="no dataset_size"):
        VAE(x_shape=(12,), z_dim=2, arch="small_mlp", likelihood="gaussian").model(
            torch.zeros(3, 12), torch.arange(3))
    with pytest.raises(ValueError, match="arch='conv' is for 64x64"):
        VAE(x_shape=(12,), arch="conv")
    with pytest.raises(ValueError, match="unknown prior 'gauss'"):
        VAE(prior="gauss")
    with pytest.raises(ValueError, match=r"event shape \(4,\)"):
        VAE(z_dim=4, prior=dist.Normal(torch.zeros(3), 1.0))


MODELS_PAGE = "docs/site/models.md"  # the guide's page on the ready VAE (once the README's)


def _python_blocks(page):
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / page).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_models_page_custom_prior_runs():
    block = [b for b in _python_blocks(MODELS_PAGE) if "class MixturePrior" in b]
    assert block and len(block[0].strip().splitlines()) <= 20
    ns = {}
    exec(compile(block[0], MODELS_PAGE, "exec"), ns)
    vae = ns["vae"]
    x = (torch.rand(8, 64, 64) < 0.2).float()
    elbo = TraceTC_ELBO(beta=6.0)
    loss = elbo.loss_and_grads(vae.model, vae.guide, x, torch.arange(8))
    assert math.isfinite(loss)
    assert vae.prior.locs.grad is not None and vae.prior.locs.grad.abs().sum() > 0
    xs, z = vae.sample(4)
    assert xs.shape == (4, 64, 64)


def test_models_page_ready_vae_runs_as_written(dsprites_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(dsprites_cache[0]))
    monkeypatch.delenv("PYRO_TCVAE_DSPRITES", raising=False)
    monkeypatch.chdir(tmp_path)  # it writes vae.pt
    block = [b for b in _python_blocks(MODELS_PAGE) if "VAE.load(" in b]
    assert block
    ns = {}
    exec(compile(block[0], MODELS_PAGE, "exec"), ns)
    q = ns["q"]
    assert tuple(q.batch_shape) == (8, 10) and (tmp_path / "vae.pt").is_file()


def test_two_vaes_of_one_name_are_refused_instead_of_stepping_each_others_parameters():
    from pyro.infer import SVI

    from pyro_tcvae import TraceTC_ELBO
    from pyro_tcvae.optim import Adam

    def make(name="vae"):
        return VAE(x_shape=(12,), z_dim=2, arch="small_mlp", likelihood="gaussian",
                   dataset_size=100, name=name)

    def step(vae):
        before = [p.detach().clone() for p in vae.parameters()]
        SVI(vae.model, vae.guide, Adam(lr=1e-2), loss=TraceTC_ELBO()).step(
            torch.randn(16, 12), torch.arange(16))
        return all(not torch.equal(a, b) for a, b in zip(before, vae.parameters()))

    first = make()
    assert step(first)
    with pytest.raises(ValueError, match="other parameters under the name 'vae'.*own name="):
        step(make())
    assert step(make(name="second"))  # its own name: it trains its own parameters
    pyro.clear_param_store()
    assert step(make())


def test_conv_nets_read_and_write_channels_last_images():
    from pyro_tcvae.models.nets import build_nets

    enc, dec = build_nets("conv", (64, 64, 3), 4, 2)
    last = dec.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 5.0, -1.0]))
    out = dec(torch.randn(2, 4)).reshape(2, 64, 64, 3)
    assert bool((out[..., 0] == 0).all() and (out[..., 1] == 5).all() and (out[..., 2] == -1).all())
    # the encoder sees channel c of x[..., c]: a green-only image equals its channels-first form
    x = torch.zeros(1, 64, 64, 3)
    x[..., 1] = 1.0
    assert torch.allclose(enc(x), enc.net(x.permute(0, 3, 1, 2)))
    vae = VAE(x_shape=(64, 64, 3), z_dim=4, arch="conv", likelihood="continuous_bernoulli",
              dataset_size=10)
    assert vae.reconstruct(torch.rand(2, 64, 64, 3)).shape == (2, 64, 64, 3)
