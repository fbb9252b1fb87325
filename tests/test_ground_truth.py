"""The ground-truth interface, its views and loader, and the small synthetic sets."""

import math

import pytest
import torch

from pyro_tcvae.data import Batches, NonlinearFactors, SmallSprites, grid_factors


@pytest.fixture(scope="module")
def sprites():
    return SmallSprites()


def test_small_sprites_grid(sprites):
    assert sprites.factor_sizes == (3, 3, 8, 8, 8) and len(sprites) == 4608
    assert sprites.images(torch.arange(5)).shape == (5, 32, 32)
    imgs = sprites.images()
    assert set(imgs.unique().tolist()) == {0.0, 1.0}
    # every image has a sprite; area grows with scale; x-centroid grows with posX
    area = imgs.sum((1, 2))
    assert (area > 0).all()
    f = sprites.factors
    per_scale = torch.stack([area[f[:, 1] == s].mean() for s in range(3)])
    assert (per_scale.diff() > 0).all()
    xs = torch.arange(32.0)
    cx = (imgs.sum(1) * xs).sum(1) / area
    per_x = torch.stack([cx[f[:, 3] == p].mean() for p in range(8)])
    assert (per_x.diff() > 1.0).all()
    # orientations exclude the 2 pi end, so no two heart orientations look alike
    heart = sprites.subset(shape="heart", scale=2, posX=4, posY=4).images()
    assert len({tuple(h.flatten().tolist()) for h in heart}) == 8


def test_subset_by_name_and_class(sprites):
    hearts = sprites.subset(shape="heart", scale=[1, 2])
    assert len(hearts) == 2 * 8 * 8 * 8
    assert (hearts.factors[:, 0] == 2).all() and set(hearts.factors[:, 1].tolist()) == {1, 2}
    # a view's items are the parent's items
    assert torch.equal(hearts.images(torch.arange(7)),
                       sprites.images(hearts.parent_indices[:7]))
    with pytest.raises(ValueError, match="no class named 'star'.*square"):
        sprites.subset(shape="star")
    with pytest.raises(ValueError, match="class 9 out of range for factor 'scale'"):
        sprites.subset(scale=9)
    with pytest.raises(ValueError, match="unknown factor 'size'"):
        sprites.subset(size=1)


def test_index_of_round_trip(sprites):
    idx = torch.tensor([0, 17, 999, 4607])
    assert torch.equal(sprites.index_of(sprites.factors[idx]), idx)
    hearts = sprites.subset(shape="heart")
    assert torch.equal(hearts.index_of(hearts.factors[[3, 9]]), torch.tensor([3, 9]))
    with pytest.raises(KeyError, match="no item has the factor classes"):
        hearts.index_of(torch.tensor([[0, 0, 0, 0, 0]]))


def test_correlated_sampling(sprites):
    uniform = sprites.correlated("posX", "posY", 0.0, seed=1)
    tied = sprites.correlated("posX", "posY", 30.0, seed=1)
    corr = lambda d: torch.corrcoef(d.factors[:, 3:].T.double())[0, 1].item()
    assert abs(corr(uniform)) < 0.1
    assert corr(tied) > 0.8
    # other factors stay (close to) uniform; the same seed gives the same items
    shape_freq = torch.bincount(tied.factors[:, 0], minlength=3).double() / len(tied)
    assert torch.allclose(shape_freq, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.05)
    assert torch.equal(tied.parent_indices,
                       sprites.correlated("posX", "posY", 30.0, seed=1).parent_indices)
    with pytest.raises(ValueError, match="strength must be >= 0"):
        sprites.correlated("posX", "posY", -1.0)


def test_batches_cover_each_item_once_per_epoch(sprites):
    loader = Batches(sprites, 1000, shuffle=True, seed=5)
    assert len(loader) == 5
    seen = torch.cat([idx for _, idx in loader])
    assert torch.equal(seen.sort().values, torch.arange(len(sprites)))
    again = torch.cat([idx for _, idx in loader])  # the next epoch: another order
    assert not torch.equal(seen, again)
    # an epoch can be replayed and resumed mid-way
    replay = Batches(sprites, 1000, shuffle=True, seed=5)
    first = [idx for _, idx in replay.epoch_batches(1)]
    resumed = [idx for _, idx in replay.epoch_batches(1, start=3)]
    assert torch.equal(torch.cat(first), again)
    assert all(torch.equal(a, b) for a, b in zip(first[3:], resumed))
    x, idx = next(iter(Batches(sprites, 64, shuffle=False)))
    assert torch.equal(idx, torch.arange(64)) and x.dtype == torch.float32
    assert torch.equal(x, sprites.images(idx))
    assert len(Batches(sprites, 1000, drop_last=True)) == 4


def test_torch_dataset_view(sprites):
    loader = torch.utils.data.DataLoader(sprites.torch_dataset("factors"), batch_size=10)
    x, f = next(iter(loader))
    assert x.shape == (10, 32, 32) and torch.equal(f, sprites.factors[:10])
    x, i = sprites.torch_dataset()[42]
    assert i == 42 and torch.equal(x, sprites.images(torch.tensor([42]))[0])


def test_nonlinear_factors_grid():
    d = NonlinearFactors(sizes=(4, 5, 6), x_dim=7)
    assert len(d) == 120 and d.image_shape == (7,)
    assert torch.equal(d.factors, grid_factors((4, 5, 6)))
    v = d.values()
    assert v.min() == -1 and v.max() == 1
    # a fixed map: the same seed gives the same data, another seed another map
    assert torch.equal(d.images(), NonlinearFactors(sizes=(4, 5, 6), x_dim=7).images())
    assert not torch.allclose(d.images(), NonlinearFactors(sizes=(4, 5, 6), x_dim=7,
                                                           seed=1).images())
    # the observation depends on every factor: moving one factor moves x
    x = d.images()
    for k in range(3):
        other = d.factors.clone()
        other[:, k] = (other[:, k] + 1) % d.factor_sizes[k]
        assert (d.images_for_factors(other) - x).norm(dim=1).mean() > 0.1 * math.sqrt(7)


def test_uint8_images_keep_grey_levels_and_refuse_what_has_no_byte_form(sprites):
    from pyro_tcvae.data.ground_truth import GroundTruthData

    class Grey(GroundTruthData):  # grey levels in [0, 1], as the colour sets give
        factor_names, factor_sizes, image_shape = ("a",), (4,), (2, 2)
        factors = torch.arange(4)[:, None]

        def _observations(self, idx):
            return idx[:, None, None].float().expand(-1, 2, 2) / 3

    grey = Grey()
    assert grey.images(dtype=torch.uint8)[:, 0, 0].tolist() == [0, 85, 170, 255]
    binary = sprites.images(torch.arange(50), dtype=torch.uint8)
    assert set(binary.unique().tolist()) <= {0, 1}  # binary sets stay 0/1
    assert torch.equal(binary.float(), sprites.images(torch.arange(50)))
    assert sprites.images(dtype=torch.uint8).shape == (len(sprites), 32, 32)
    with pytest.raises(ValueError, match="outside|values in"):
        NonlinearFactors().images(torch.arange(10), dtype=torch.uint8)
