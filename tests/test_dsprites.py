"""dSprites: the factor grid, the renderer, the real-file path, the cache, memory."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pyro_tcvae.data import DSprites, DSpritesFileError
from pyro_tcvae.data.dsprites import FACTOR_SIZES, FILENAME, factor_values
from pyro_tcvae.data.sprites import SHAPES, render

FRAMES = Path(__file__).resolve().parent / "data" / "dsprites_gif_frames.npz"


@pytest.fixture
def cache(dsprites_cache):
    return dsprites_cache


@pytest.fixture
def dsprites(cache, monkeypatch):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(cache[0]))
    monkeypatch.delenv("PYRO_TCVAE_DSPRITES", raising=False)
    return DSprites(progress=False)


def test_rendering_stays_under_1gb_resident(cache):
    stats = cache[1]
    assert stats["n"] == 737_280
    assert stats["maxrss_mb"] < 1024, stats


def test_cache_is_reused_and_memory_mapped(dsprites, cache):
    assert dsprites.source == "render"
    assert isinstance(dsprites.bits, np.memmap)
    assert len(list(Path(cache[0]).glob("dsprites_rendered_*.npy"))) == 1


def test_factor_grid_and_order(dsprites):
    assert dsprites.factor_names == ("color", "shape", "scale", "orientation", "posX", "posY")
    assert dsprites.factor_sizes == (1, 3, 6, 40, 32, 32)
    assert len(dsprites) == 737_280
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, len(dsprites), (64,), generator=g)
    expect = np.stack(np.unravel_index(idx.numpy(), FACTOR_SIZES), 1)
    assert torch.equal(dsprites.factors[idx], torch.from_numpy(expect))
    assert torch.equal(dsprites.index_of(dsprites.factors[idx]), idx)
    vals = dsprites.values(dsprites.factors[idx])
    assert torch.allclose(vals[:, 3], torch.from_numpy(expect[:, 3]) * (2 * math.pi / 39))
    # the image at an index is exactly the sprite of the factors the interface reports
    imgs = dsprites.images(idx)
    for i in range(len(idx)):
        s, sc, o, px, py = (vals[i, k].item() for k in range(1, 6))
        direct = render(SHAPES[int(s) - 1], [sc], [o], [px], [py])[0]
        assert torch.equal(imgs[i].bool(), direct)


def _mean_over(d, k, **fixed):
    sub = d.subset(**fixed)
    imgs = sub.images()
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    area = imgs.sum((1, 2))
    cx = (imgs * xs).sum((1, 2)) / area
    cy = (imgs * ys).sum((1, 2)) / area
    classes = sub.factors[:, k]
    per = lambda t: torch.stack([t[classes == c].mean() for c in range(d.factor_sizes[k])])
    return per(area), per(cx), per(cy)


def test_centroid_follows_position(dsprites):
    _, cx, _ = _mean_over(dsprites, 4, scale=5, orientation=0, posY=10)
    _, _, cy = _mean_over(dsprites, 5, scale=5, orientation=0, posX=10)
    assert (cx.diff() > 0.5).all() and (cy.diff() > 0.5).all()
    # 32 positions span 32 pixels: the reference point moves from 16 to 48
    assert cx[-1] - cx[0] == pytest.approx(32, abs=0.5)


def test_area_grows_with_scale(dsprites):
    for shape in SHAPES:
        area, _, _ = _mean_over(dsprites, 2, shape=shape, orientation=[0, 7], posX=5, posY=5)
        assert (area.diff() > 0).all(), shape
        assert area[-1] / area[0] == pytest.approx(4.0, rel=0.15)  # area ~ scale^2


def test_shapes_differ_and_a_full_turn_is_the_same_sprite(dsprites):
    f = torch.tensor([[0, s, 5, 0, 16, 16] for s in range(3)])
    imgs = dsprites.images_for_factors(f).bool()
    for a in range(3):
        for b in range(a + 1, 3):
            inter = (imgs[a] & imgs[b]).sum()
            assert inter / (imgs[a] | imgs[b]).sum() < 0.85
    turned = f.clone()
    turned[:, 3] = 39  # orientation 2 pi
    assert torch.equal(dsprites.images_for_factors(turned).bool(), imgs)
    quarter = f.clone()
    quarter[:, 3] = 10  # about 92 degrees: a rotated heart is a different image
    assert not torch.equal(dsprites.images_for_factors(quarter)[2].bool(), imgs[2])


def test_renderer_reproduces_genuine_frames():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from calibrate_dsprites import label  # noqa: E402
    from pyro_tcvae.data.sprites import SHAPE_PARAMS

    frames = torch.from_numpy(np.load(FRAMES)["frames"]).bool()[::4]
    labels, best = label(frames, SHAPE_PARAMS)
    # measured on all 320 frames: mean 0.991, min 0.954, 45% pixel-identical
    assert best.min() > 0.94 and best.mean() > 0.98
    assert {l[0] for l in labels} == {0, 1, 2}


# ---------------------------------------------------------------- the real file
def write_npz(path, dsprites, idx, imgs=None, classes=None, values=None, keys=None):
    classes = dsprites.factors[idx].numpy() if classes is None else classes
    arrays = {
        "imgs": dsprites.images(idx).to(torch.uint8).numpy() if imgs is None else imgs,
        "latents_classes": classes,
        "latents_values": np.stack([v.numpy()[classes[:, k]] for k, v in
                                    enumerate(factor_values())], 1) if values is None else values,
        "metadata": np.array({"description": "test"}, dtype=object),
    }
    if keys is not None:
        arrays = {k: v for k, v in arrays.items() if k in keys}
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture
def small_file(dsprites, tmp_path):
    idx = torch.randperm(len(dsprites), generator=torch.Generator().manual_seed(3))[:40]
    return write_npz(tmp_path / FILENAME, dsprites, idx), idx


def test_npz_round_trip(small_file, dsprites, tmp_path, monkeypatch, cache):
    path, idx = small_file
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path / "empty_cache"))
    d = DSprites(path=path, progress=False)
    assert d.source == "file" and len(d) == 40
    assert torch.equal(d.factors, dsprites.factors[idx])
    assert torch.equal(d.images(), dsprites.images(idx))
    # found through the environment variable and in the cache folder too
    monkeypatch.setenv("PYRO_TCVAE_DSPRITES", str(path))
    assert DSprites(progress=False).source == "file"
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(cache[0]))  # the file wins over a cached render
    assert DSprites(progress=False).source == "file"
    assert DSprites(source="render", progress=False).source == "render"
    monkeypatch.delenv("PYRO_TCVAE_DSPRITES")
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path))
    assert DSprites(progress=False).source == "file"


@pytest.mark.parametrize("breakage,message", [
    ("garbage", "not a valid .npz archive"),
    ("truncated", "not a valid .npz|corrupt|truncated"),
    ("no_imgs", "no key 'imgs'"),
    ("shape", r"imgs has shape \(40, 32, 32\)"),
    ("values", "values other than 0 and 1"),
    ("classes", "latents_classes outside the factor grid"),
    ("latent_values", "latents_values do not match"),
])
def test_corrupt_or_mismatched_file(breakage, message, small_file, dsprites, tmp_path):
    path, idx = small_file
    bad = tmp_path / "bad.npz"
    if breakage == "garbage":
        bad.write_bytes(b"not a zip file at all" * 100)
    elif breakage == "truncated":
        data = path.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif breakage == "no_imgs":
        write_npz(bad, dsprites, idx, keys={"latents_classes", "latents_values"})
    elif breakage == "shape":
        write_npz(bad, dsprites, idx, imgs=np.zeros((40, 32, 32), np.uint8))
    elif breakage == "values":
        write_npz(bad, dsprites, idx, imgs=dsprites.images(idx).to(torch.uint8).numpy() * 255)
    elif breakage == "classes":
        classes = dsprites.factors[idx].numpy().copy()
        classes[0, 3] = 40
        write_npz(bad, dsprites, idx, classes=classes, values=np.zeros((40, 6)))
    elif breakage == "latent_values":
        write_npz(bad, dsprites, idx, values=np.zeros((40, 6)))
    with pytest.raises(DSpritesFileError, match=message) as info:
        DSprites(path=bad, progress=False)
    assert "github.com/deepmind/dsprites-dataset" in str(info.value)


def test_missing_file_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path))
    monkeypatch.delenv("PYRO_TCVAE_DSPRITES", raising=False)
    with pytest.raises(DSpritesFileError, match="not found.*pass no path to render"):
        DSprites(path=tmp_path / "nope.npz")
    with pytest.raises(DSpritesFileError, match="no dSprites file.*source='render'"):
        DSprites(source="file")
    with pytest.raises(ValueError, match="source must be"):
        DSprites(source="download")


def test_all_images_at_once_is_refused_with_the_fix(dsprites):
    with pytest.raises(ValueError, match="would take 11.2 GiB.*Batches"):
        dsprites.images()


def test_rendering_says_why_where_and_how_big(tmp_path, monkeypatch, capsys):
    import pyro_tcvae.data.dsprites as ds

    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path))
    monkeypatch.delenv("PYRO_TCVAE_DSPRITES", raising=False)
    monkeypatch.setattr(ds, "render_all", lambda progress: np.zeros((ds.NUM_IMAGES, ds.ROW_BYTES),
                                                                    np.uint8))
    ds.DSprites(progress=True)
    err = capsys.readouterr().err
    assert "no dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz found" in err
    assert "PYRO_TCVAE_DSPRITES" in err and str(tmp_path) in err and "360 MB" in err
    ds.DSprites(progress=True)  # from the cache: nothing to say
    assert capsys.readouterr().err == ""
