"""Pictures of what a model learned (pyro_tcvae.viz.model): the numbers each figure
draws, against the model computed by hand, and one panel per latent, item or factor.

The markers of short training curves are in test_viz_curves."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pyro.distributions as dist  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import axes_grid
from pyro_tcvae.data import NonlinearFactors, SmallSprites  # noqa: E402
from pyro_tcvae.models import VAE  # noqa: E402
from pyro_tcvae.viz.model import (image_pixels, is_image, latent_kl,  # noqa: E402
                                  plot_latents_vs_factors, plot_reconstructions,
                                  plot_training_curves, plot_traversals, traversal_images,
                                  traversal_values)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sprites():
    return SmallSprites()


def _vae(x_shape, z_dim=3, **kwargs):
    torch.manual_seed(0)
    vae = VAE(x_shape=x_shape, z_dim=z_dim, arch="small_mlp", **kwargs)
    with torch.no_grad():  # spread the codes, so that the latents differ in KL
        last = [m for m in vae.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.mul_(torch.linspace(0.5, 6.0, last.weight.shape[0])[:, None])
    return vae.eval()


def _shown(ax):
    return torch.as_tensor(ax.images[0].get_array().data)


def test_what_is_an_image_and_how_it_is_drawn():
    assert all(is_image(s) for s in [(32, 32), (64, 64, 3), (8, 8, 1)])
    assert not any(is_image(s) for s in [(12,), (8, 8, 2), (2, 8, 8, 3)])
    x = torch.tensor([[-0.5, 0.25], [1.0, 3.0]])
    assert torch.equal(torch.as_tensor(image_pixels(x)), torch.tensor([[0.0, 0.25], [1.0, 1.0]]))
    assert image_pixels(x[..., None]).shape == (2, 2)  # one channel: grey
    assert image_pixels(torch.rand(4, 4, 3)).shape == (4, 4, 3)


def test_latent_kl_is_the_monte_carlo_kl_and_close_to_the_closed_form(sprites):
    vae = _vae((32, 32))
    x = sprites.images(torch.arange(0, len(sprites), 2))  # 2,304 items
    torch.manual_seed(1)
    kl = latent_kl(vae, x)
    torch.manual_seed(1)  # the same draws, by hand
    with torch.no_grad():
        q = vae.encode(x)
        z = q.sample()
        per_item = q.log_prob(z) - dist.Normal(0.0, 1.0).log_prob(z)
        exact = torch.distributions.kl_divergence(q, dist.Normal(0.0, 1.0)).mean(0)
    assert torch.allclose(kl, per_item.mean(0), rtol=1e-5, atol=1e-6)
    stderr = per_item.std(0) / math.sqrt(len(x))
    assert bool(((kl - exact).abs() < 5 * stderr + 1e-4).all()), (kl, exact)
    assert float(exact.max()) > 3 * float(exact.min())  # the latents do differ


def test_latent_kl_of_a_prior_that_does_not_factorize_is_the_variance_of_the_means(sprites):
    prior = dist.MultivariateNormal(torch.zeros(3), torch.eye(3) + 0.5)
    vae = _vae((32, 32), prior=prior)
    x = sprites.images(torch.arange(0, len(sprites), 9))
    with torch.no_grad():
        expected = vae.encode(x).loc.var(0)
    assert torch.allclose(latent_kl(vae, x), expected)


def test_traversal_values_span_the_quantiles_of_the_aggregate_posterior(sprites):
    vae = _vae((32, 32))
    x = sprites.images(torch.arange(0, len(sprites), 5))
    torch.manual_seed(2)
    values = traversal_values(vae, x, steps=5, quantile=0.1)
    torch.manual_seed(2)
    with torch.no_grad():
        z = vae.encode(x).sample()
    lo, hi = torch.quantile(z, 0.1, dim=0), torch.quantile(z, 0.9, dim=0)
    assert values.shape == (5, 3)
    assert torch.allclose(values[0], lo) and torch.allclose(values[-1], hi)
    assert torch.allclose(values[2], (lo + hi) / 2)
    assert torch.allclose(values.diff(dim=0), ((hi - lo) / 4).expand(4, 3))


def test_a_traversal_moves_one_latent_of_the_items_code(sprites):
    vae = _vae((32, 32))
    x_ref = sprites.images(torch.tensor([100]))[0]
    values = torch.linspace(-2, 2, 4)[:, None].expand(4, 3) * torch.tensor([1.0, 0.5, 2.0])
    imgs = traversal_images(vae, x_ref, values, order=[2, 0])
    assert imgs.shape == (2, 4, 32, 32)
    with torch.no_grad():
        base = vae.encode(x_ref[None]).loc[0]
        for row, d in enumerate([2, 0]):
            for c in range(4):
                z = base.clone()
                z[d] = values[c, d]
                assert torch.allclose(imgs[row, c], vae.decode(z[None])[0], atol=1e-6)
        # at the item's own value of the latent: its reconstruction
        still = traversal_images(vae, x_ref, base.expand(2, 3), order=[1])
        assert torch.allclose(still[0], vae.reconstruct(x_ref[None]).expand(2, 32, 32),
                              atol=1e-6)


def test_traversals_draw_a_row_per_latent_ordered_by_kl_and_a_gif(sprites, tmp_path):
    from PIL import Image

    vae = _vae((32, 32), z_dim=4)
    x = sprites.images(torch.arange(0, len(sprites), 4))
    torch.manual_seed(3)
    fig = plot_traversals(vae, x, steps=5, max_latents=3, path=tmp_path / "t.png",
                          gif_path=tmp_path / "t.gif")
    torch.manual_seed(3)
    kl = latent_kl(vae, x)
    values = traversal_values(vae, x, 5)
    order = torch.argsort(kl, descending=True).tolist()[:3]
    rows = axes_grid(fig)
    assert [len(r) for r in rows] == [5, 5, 5]
    for r, d in enumerate(order):
        assert rows[r][0].get_ylabel() == f"z{d}\nKL {float(kl[d]):.2f}"
    labelled = [float(r[0].get_ylabel().split("KL ")[1]) for r in rows]
    assert labelled == sorted(labelled, reverse=True)
    imgs = traversal_images(vae, x[0], values, order)
    for r in range(3):
        for c in range(5):
            assert torch.allclose(_shown(rows[r][c]), imgs[r, c].clamp(0, 1))
    assert (tmp_path / "t.png").stat().st_size > 1000
    with Image.open(tmp_path / "t.gif") as gif:
        assert gif.n_frames == 2 * 5 - 2
    with pytest.raises(ValueError, match="traversals need image data"):
        plot_traversals(_vae((12,)), torch.randn(50, 12))


@pytest.mark.parametrize("x_shape", [(32, 32), (16, 16, 3)])
def test_reconstructions_show_the_items_above_their_reconstructions(x_shape, sprites):
    vae = _vae(x_shape, likelihood="continuous_bernoulli")
    if len(x_shape) == 2:
        x = sprites.images(torch.arange(0, 60, 10))
    else:
        x = torch.rand((6, *x_shape), generator=torch.Generator().manual_seed(0))
    fig = plot_reconstructions(vae, x, n=10)  # 6 items: 6 columns
    top, bottom = axes_grid(fig)
    assert len(top) == len(bottom) == 6
    with torch.no_grad():
        rec = vae.reconstruct(x)
    for i in range(6):
        assert torch.equal(_shown(top[i]), x[i])
        assert torch.allclose(_shown(bottom[i]), rec[i].clamp(0, 1))
    assert top[0].get_ylabel() == "data" and bottom[0].get_ylabel() == "recon."


def test_latents_vs_factors_draw_the_mean_code_per_factor_value_and_shape(sprites):
    vae = _vae((32, 32))
    idx = torch.arange(0, len(sprites), 3)  # 1,536 items, every shape and value
    torch.manual_seed(4)
    fig = plot_latents_vs_factors(vae, sprites, indices=idx, max_latents=2)
    torch.manual_seed(4)
    kl = latent_kl(vae, sprites.images(idx[:2000]))
    with torch.no_grad():
        mean = vae.encode(sprites.images(idx)).loc
    f = sprites.factors[idx]
    rows = axes_grid(fig)
    # rows: the two latents of most KL; columns: every factor but the shape
    assert [len(r) for r in rows] == [4, 4]
    assert [r[0].get_ylabel() for r in rows] == \
        [f"z{d}" for d in torch.argsort(kl, descending=True).tolist()[:2]]
    assert [ax.get_xlabel() for ax in rows[-1]] == ["scale", "orientation", "posX", "posY"]
    for r in rows:
        d = int(r[0].get_ylabel()[1:])
        for ax, k in zip(r, (1, 2, 3, 4)):
            lines = ax.get_lines()
            assert [ln.get_label() for ln in lines] == ["square", "ellipse", "heart"]
            for shape, ln in enumerate(lines):
                assert list(ln.get_xdata()) == sprites.factor_values[k].tolist()
                expected = [float(mean[(f[:, 0] == shape) & (f[:, k] == v), d].mean())
                            for v in range(sprites.factor_sizes[k])]
                assert ln.get_ydata() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_latents_vs_factors_without_the_group_factor_draw_one_line_a_panel():
    data = NonlinearFactors(sizes=(4, 5, 6))
    vae = _vae((12,), likelihood="gaussian")
    fig = plot_latents_vs_factors(vae, data)
    rows = axes_grid(fig)
    assert [len(r) for r in rows] == [3, 3, 3]  # every latent; the three factors
    assert all(len(ax.get_lines()) == 1 and ax.get_legend() is None for r in rows for ax in r)
    assert [len(ax.get_lines()[0].get_xdata()) for ax in rows[0]] == [4, 5, 6]


def test_training_curves_draw_the_logged_terms_and_the_discriminators_tc(tmp_path):
    records = [{"step": s, "elbo": -100.0 + s, "log_likelihood": -90.0 + s, "mi": 5.0 - s / 10,
                "tc": 0.5 + s / 100, "dwkl": 1.0, "tc_discriminator": 0.3 * s}
               for s in range(0, 50, 10)]
    fig = plot_training_curves(records, path=tmp_path / "c.png")
    left, right = fig.axes
    assert [ln.get_label() for ln in left.get_lines()] == ["ELBO", "log p(x|z)"]
    assert [ln.get_label() for ln in right.get_lines()] == [
        "index-code MI", "total correlation", "dimension-wise KL", "TC (discriminator)"]
    for ln, key in zip(left.get_lines() + right.get_lines(),
                       ("elbo", "log_likelihood", "mi", "tc", "dwkl", "tc_discriminator")):
        assert list(ln.get_xdata()) == [r["step"] for r in records]
        assert list(ln.get_ydata()) == [r[key] for r in records]
    assert (tmp_path / "c.png").stat().st_size > 1000
    plain = [{k: v for k, v in r.items() if k != "tc_discriminator"} for r in records]
    assert len(plot_training_curves(plain).axes[1].get_lines()) == 3
