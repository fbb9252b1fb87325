"""Colour and noisy dSprites: the dSprites grid in RGB, fixed per item or redrawn."""

import pytest
import torch

from pyro_tcvae.data import ColorDSprites, DSprites, NoisyDSprites
from pyro_tcvae.data.dsprites_color import hash32


@pytest.fixture(scope="module")
def binary(dsprites_cache):
    import os

    old = os.environ.get("PYRO_TCVAE_CACHE")
    os.environ["PYRO_TCVAE_CACHE"] = str(dsprites_cache[0])
    try:
        return DSprites(source="render", progress=False)
    finally:
        if old is None:
            del os.environ["PYRO_TCVAE_CACHE"]
        else:
            os.environ["PYRO_TCVAE_CACHE"] = old


IDX = torch.tensor([0, 1, 5_000, 123_456, 737_279])


def test_the_grid_and_the_sprites_are_dsprites(binary):
    for cls in (ColorDSprites, NoisyDSprites):
        v = cls(base=binary)
        assert len(v) == len(binary) and v.image_shape == (64, 64, 3)
        assert torch.equal(v.factors, binary.factors)
        assert v.factor_names == binary.factor_names and v.mig_exclude == binary.mig_exclude
    mask = binary.images(IDX).bool()                                   # [5, 64, 64]
    colour = ColorDSprites(base=binary).images(IDX)                    # [5, 64, 64, 3]
    assert torch.equal(colour.amax(-1) > 0, mask)                     # the same sprite, item by item
    noisy = NoisyDSprites(base=binary).images(IDX)
    assert bool((noisy[mask] == 1).all())                              # the sprite is white


def test_colour_is_one_colour_per_sprite_in_the_range(binary):
    v = ColorDSprites(base=binary)
    x = v.images(IDX)
    mask = binary.images(IDX).bool()
    for i in range(len(IDX)):
        pix = x[i][mask[i]]                                            # [n_on, 3]
        assert torch.allclose(pix, pix[:1].expand_as(pix))
        assert bool(((pix >= 0.5) & (pix <= 1.0)).all())
        assert bool((x[i][~mask[i]] == 0).all())
    many = v.colours(torch.arange(20_000))
    assert abs(float(many.mean()) - 0.75) < 0.005                      # uniform on [0.5, 1]
    assert abs(float(many.std()) - 0.5 / 12 ** 0.5) < 0.005


def test_fixed_variants_give_an_item_the_same_image_and_resampled_ones_do_not(binary):
    for cls in (ColorDSprites, NoisyDSprites):
        fixed = cls(base=binary)
        assert torch.equal(fixed.images(IDX), fixed.images(IDX.flip(0)).flip(0))
        assert not torch.equal(fixed.images(IDX[:1]), cls(base=binary, seed=1).images(IDX[:1]))
        redrawn = cls(base=binary, resample=True)
        assert not torch.equal(redrawn.images(IDX), redrawn.images(IDX))


def test_noise_is_uniform_and_independent_between_items(binary):
    v = NoisyDSprites(base=binary)
    noise = v.noise(torch.arange(200)).to(torch.float32) / 255.0      # [200, 64, 64, 3]
    assert abs(float(noise.mean()) - 0.5) < 0.01
    assert abs(float(noise.std()) - 12 ** -0.5) < 0.01
    flat = noise.reshape(200, -1)
    corr = torch.corrcoef(flat)[~torch.eye(200, dtype=torch.bool)]
    assert float(corr.abs().max()) < 0.1                               # no two items alike


def test_hash_is_spread_and_deterministic():
    keys = torch.arange(100_000)
    h = hash32(keys)
    assert torch.equal(h, hash32(keys)) and not torch.equal(h, hash32(keys, seed=1))
    u = h.double() / 2 ** 32
    assert abs(float(u.mean()) - 0.5) < 0.01 and len(torch.unique(h)) > 99_990


def test_a_colour_run_trains_evaluates_and_draws_in_colour(binary, dsprites_cache, monkeypatch,
                                                             tmp_path):
    from pyro_tcvae.runs import TrainConfig, evaluate, plot_run, train

    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(dsprites_cache[0]))
    cfg = TrainConfig(dataset="color_dsprites", arch="small_mlp", z_dim=3, steps=4,
                      batch_size=64, log_every=2)
    assert cfg.validate().likelihood == "continuous_bernoulli"
    run = train(cfg, tmp_path / "c", progress=False)
    assert run["model"].x_shape == (64, 64, 3)
    few = run["data"].subset(scale=[5], orientation=[0, 20])       # 6,144 items
    files = plot_run(tmp_path / "c", data=few, model=run["model"], progress=False)
    assert {"traversals.png", "reconstructions.png"} <= {f.name for f in files}
    result = evaluate(tmp_path / "c", num_samples=500, max_components=2000, data=few,
                      model=run["model"], progress=False)
    assert 0.0 <= result["mig"]["score"] <= 1.0
