"""A dataset's factors swept one at a time (pyro_tcvae.viz.factors.plot_factor_sweeps):
a row per factor with more than one value, each picture the item with those classes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import axes_grid
from pyro_tcvae.data import SmallSprites  # noqa: E402
from pyro_tcvae.viz import plot_factor_sweeps  # noqa: E402


@pytest.fixture(scope="module")
def sprites():
    """1,536 sprites of one scale: the scale factor has a single value."""
    return SmallSprites(num_scales=1)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _item(data, classes):
    """The image of the item with these factor classes, found by a scan."""
    match = (data.factors == torch.tensor(classes)).all(1).nonzero()
    assert len(match) == 1
    return data.images(match[0])[0]


@pytest.mark.parametrize("base", [None, [2, 0, 7, 0, 3]])
def test_each_row_sweeps_one_factor_with_the_others_fixed(sprites, base, tmp_path):
    fig = plot_factor_sweeps(sprites, base=base, max_columns=4, path=tmp_path / "f.png")
    fixed = [s // 2 for s in sprites.factor_sizes] if base is None else base
    rows = axes_grid(fig)
    swept = [0, 2, 3, 4]  # every factor but the scale, which has one value
    assert [r[0].get_ylabel() for r in rows] == [sprites.factor_names[k] for k in swept]
    assert [len(r) for r in rows] == [4] * 4
    for row, k in zip(rows, swept):
        size = sprites.factor_sizes[k]
        # at most 4 classes, evenly spaced from the first to the last
        classes = sorted({round(i * (size - 1) / 3) for i in range(4)})
        shown = [ax for ax in row if ax.images]
        assert len(shown) == len(classes)
        assert all(not ax.axison for ax in row[len(classes):])  # the rest left blank
        for ax, c in zip(shown, classes):
            classes_of_item = list(fixed)
            classes_of_item[k] = c
            assert np.array_equal(ax.images[0].get_array(),
                                  _item(sprites, classes_of_item).numpy())
            title = ax.get_title()
            if k == 0:  # the shape is named
                assert title == ("square", "ellipse", "heart")[c]
            else:
                assert title == f"{float(sprites.factor_values[k][c]):.2f}"
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_a_factor_with_fewer_classes_than_columns_shows_each_once(sprites):
    fig = plot_factor_sweeps(sprites, max_columns=10, title="sprites")
    rows = axes_grid(fig)
    assert [len([ax for ax in r if ax.images]) for r in rows] == [3, 8, 8, 8]
    assert fig._suptitle.get_text() == "sprites"
