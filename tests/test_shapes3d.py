"""3D Shapes: the rendered grid in the file's order, what each factor changes, and the
user's 3dshapes.h5 (a tiny file in the published layout), which the library must not be
able to tell from the rendered set."""

import sys

import numpy as np
import pytest
import torch

import pyro_tcvae.data.shapes3d as shapes3d
from pyro_tcvae.data import Shapes3D, Shapes3DFileError, scene
from pyro_tcvae.data.ground_truth import grid_factors

FLOOR, WALL, OBJECT, SCALE, SHAPE, ORIENT = range(6)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The rendered set, its geometry made once into a private cache folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PYRO_TCVAE_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.delenv("PYRO_TCVAE_SHAPES3D", raising=False)
    data = Shapes3D(progress=False)
    again = Shapes3D(progress=False)  # from the cache, memory-mapped
    yield data, again
    mp.undo()


def item(data, **classes):
    f = [0, 0, 0, 0, 0, 7]
    for name, c in classes.items():
        f[data.factor_index(name)] = c
    return f


def test_the_grid_is_in_the_order_of_3dshapes_h5(rendered):
    data, again = rendered
    assert data.source == "render" and len(data) == 480_000
    assert data.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape",
                                 "orientation")
    assert data.factor_sizes == (10, 10, 10, 8, 4, 15)
    # row-major, orientation fastest, then shape, scale, object, wall, floor hue
    assert data.factors[1].tolist() == [0, 0, 0, 0, 0, 1]
    assert data.factors[15].tolist() == [0, 0, 0, 0, 1, 0]
    assert data.factors[60].tolist() == [0, 0, 0, 1, 0, 0]
    assert data.factors[480].tolist() == [0, 0, 1, 0, 0, 0]
    assert data.factors[48_000].tolist() == [1, 0, 0, 0, 0, 0]
    values = data.values(data.factors[[0, 479_999]])
    assert torch.allclose(values[0], torch.tensor([0.0, 0.0, 0.0, 0.75, 0.0, -30.0]))
    assert torch.allclose(values[1], torch.tensor([0.9, 0.9, 0.9, 1.25, 3.0, 30.0]))
    assert isinstance(again.weights, np.memmap) and again.weights.nbytes < 20e6
    idx = torch.tensor([5, 123_456, 479_999])
    x = data.images(idx)
    assert x.shape == (3, 64, 64, 3) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(x, again.images(idx))
    assert torch.equal((x * 255).round() / 255, x)  # 8-bit levels, as the file's images


def _changed(data, base, **change):
    a = data.images_for_factors([item(data, **base)])[0]
    b = data.images_for_factors([item(data, **{**base, **change})])[0]
    return (a - b).abs().sum(-1) > 1e-6  # [64, 64] pixels that differ


def _surface(data, surface, **classes):
    f = item(data, **classes)
    g = (f[SCALE] * 4 + f[SHAPE]) * 15 + f[ORIENT]
    return torch.from_numpy(np.asarray(data.weights[g], dtype=np.float32))[..., surface] > 0


def test_each_hue_changes_only_its_own_surface(rendered):
    data, _ = rendered
    base = dict(scale=4, shape=1)
    for factor, surface in (("object_hue", 2), ("wall_hue", 1), ("floor_hue", 0)):
        changed = _changed(data, base, **{factor: 5})
        mask = _surface(data, surface, **base)
        assert changed.sum() > 100, factor
        assert not bool((changed & ~mask).any()), f"{factor} changed pixels off its surface"
        # ... and every fully covered, lit pixel of that surface changes
        assert changed.float().mean() > 0.9 * mask.float().mean() * 0.9


def test_scale_grows_the_object_and_the_four_shapes_differ(rendered):
    data, _ = rendered
    for shape in range(4):
        areas = [int(_surface(data, 2, shape=shape, scale=s).sum()) for s in range(8)]
        assert all(b > a for a, b in zip(areas, areas[1:])), (shape, areas)
        assert areas[-1] > 1.5 * areas[0]
    masks = [_surface(data, 2, shape=s, scale=7) for s in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert int((masks[i] ^ masks[j]).sum()) > 40, (scene.SHAPES[i], scene.SHAPES[j])


def _corner(data, orientation, row=25):
    """(column, size) of the largest jump in the walls' shading along a row above the
    object: the corner where the back wall meets a side wall, lit differently."""
    f = item(data, orientation=orientation)
    g = (f[SCALE] * 4 + f[SHAPE]) * 15 + f[ORIENT]
    shade = torch.from_numpy(np.asarray(data.weights[g], dtype=np.float32))[row, :, 1]
    jumps = (shade[1:] - shade[:-1]).abs()
    return int(jumps.argmax()), float(jumps.max())


def test_orientation_moves_the_wall_corner(rendered):
    data, _ = rendered
    corners = [_corner(data, o) for o in range(15)]
    # seen square on (-4..+8 degrees) no side wall is in view: the walls shade smoothly
    assert all(size < 0.01 for _, size in corners[5:10])
    # turned, a corner comes into view and moves towards the centre as the turn grows,
    # on the right at negative angles and on the left at positive ones
    right = [c for c, _ in corners[:5]]  # -30 .. -17 degrees: from the centre outwards
    left = [c for c, _ in corners[10:]]  # +13 .. +30 degrees: from the edge inwards
    assert right == sorted(right) and len(set(right)) == 5 and min(right) > 32
    assert left == sorted(left) and len(set(left)) == 5 and max(left) < 32
    # where the genuine frames at -30 and +30 degrees have it (columns 44 and 20 of 64)
    assert abs(right[0] - 44) <= 2 and abs(left[-1] - 20) <= 3
    # the light stays in the room: +30 degrees is not the mirror image of -30
    a = data.images_for_factors([item(data, orientation=0)])[0]
    b = data.images_for_factors([item(data, orientation=14)])[0]
    assert float((a - b.flip(1)).abs().mean()) > 0.005


def test_the_renderer_is_exact_on_what_it_draws():
    # rays towards a sphere's centre and past its side, against the closed form
    r = scene.SCENE["sphere_radius"]
    o = torch.tensor([[[0.0, r, -5.0], [0.0, r + 0.6 * r, -5.0], [0.0, 3 * r, -5.0]]],
                     dtype=torch.float64)
    d = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(1, 3, 3)
    t, n = scene.hit_object(2, o, d, torch.ones(1, 1, dtype=torch.float64))
    assert torch.allclose(t[0, :2], torch.tensor([5.0 - r, 5.0 - 0.8 * r], dtype=torch.float64))
    assert torch.isinf(t[0, 2])
    assert torch.allclose(n[0, 1], torch.tensor([0.0, 0.6, -0.8], dtype=torch.float64))
    # a cube seen face on: hit on its front face, normal towards the camera
    t, n = scene.hit_object(0, o[:, :1], d[:, :1], torch.ones(1, 1, dtype=torch.float64))
    half = scene.SCENE["cube"] / 2
    assert torch.allclose(t, torch.tensor([[5.0 - half]], dtype=torch.float64))
    assert n[0, 0].tolist() == [0.0, 0.0, -1.0]
    assert torch.allclose(scene.hsv_colors(torch.tensor([0.0, 1 / 3, 2 / 3, 0.5])),
                          torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1]]),
                          atol=1e-6)


# --- the user's file --------------------------------------------------------------------

TINY = (2, 1, 2, 1, 2, 3)  # 24 items, in the file's factor order


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    h5py = pytest.importorskip("h5py")
    monkeypatch.setattr(shapes3d, "FACTOR_SIZES", TINY)
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PYRO_TCVAE_SHAPES3D", raising=False)
    grid = grid_factors(TINY).numpy()
    labels = np.stack([v.numpy()[grid[:, k]] for k, v in
                       enumerate(shapes3d.factor_values())], 1)

    def write(path, images=None, labels=labels, **extra):
        if images is None:
            images = np.random.default_rng(0).integers(0, 256, (24, 64, 64, 3), dtype=np.uint8)
        with h5py.File(path, "w") as f:
            f.create_dataset("images", data=images, compression="gzip",
                             chunks=(4,) + images.shape[1:])
            if labels is not None:
                f.create_dataset("labels", data=labels)
            for k, v in extra.items():
                f.create_dataset(k, data=v)
        return images

    return write


def test_a_file_in_the_published_layout_round_trips(tiny, tmp_path):
    images = tiny(tmp_path / "3dshapes.h5")
    data = Shapes3D(path=tmp_path / "3dshapes.h5", progress=False)
    assert data.source == "file" and len(data) == 24 and data.factor_sizes == TINY
    x = data.images(torch.tensor([3, 0, 23]))
    assert torch.equal((x * 255).round().to(torch.uint8), torch.from_numpy(images[[3, 0, 23]]))
    assert isinstance(data.images_array, np.memmap)  # an uncompressed copy, mapped
    again = Shapes3D(path=tmp_path / "3dshapes.h5", progress=False)
    assert torch.equal(again.images(torch.arange(24)), data.images(torch.arange(24)))


def test_the_library_cannot_tell_the_file_from_the_render(tiny, tmp_path, monkeypatch):
    rendered = Shapes3D(source="render", progress=False)
    images = (rendered.images(torch.arange(24)) * 255).round().to(torch.uint8).numpy()
    tiny(tmp_path / "3dshapes.h5", images=images)
    monkeypatch.setenv("PYRO_TCVAE_SHAPES3D", str(tmp_path / "3dshapes.h5"))
    loaded = Shapes3D(progress=False)
    assert loaded.source == "file"
    for attr in ("factor_names", "factor_sizes", "image_shape", "class_names"):
        assert getattr(loaded, attr) == getattr(rendered, attr), attr
    assert all(torch.equal(a, b) for a, b in zip(loaded.factor_values, rendered.factor_values))
    assert torch.equal(loaded.factors, rendered.factors)
    idx = torch.tensor([7, 2, 19])
    assert torch.equal(loaded.images(idx), rendered.images(idx))


def test_bad_files_are_refused_with_the_fix(tiny, tmp_path, monkeypatch):
    with pytest.raises(Shapes3DFileError, match="no 3D Shapes file: pass path="):
        Shapes3D(source="file", progress=False)
    with pytest.raises(Shapes3DFileError, match="3D Shapes file not found"):
        Shapes3D(path=tmp_path / "nope.h5", progress=False)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(Shapes3DFileError, match="not a readable HDF5 file"):
        Shapes3D(path=tmp_path / "junk.h5", progress=False)
    tiny(tmp_path / "nolabels.h5", labels=None)
    with pytest.raises(Shapes3DFileError, match="no key 'labels'; keys are \\['images'\\]"):
        Shapes3D(path=tmp_path / "nolabels.h5", progress=False)
    images = np.zeros((24, 32, 32, 3), dtype=np.uint8)
    tiny(tmp_path / "small.h5", images=images)
    with pytest.raises(Shapes3DFileError, match="'images' has shape \\(24, 32, 32, 3\\)"):
        Shapes3D(path=tmp_path / "small.h5", progress=False)
    grid = grid_factors(TINY).numpy()
    labels = np.stack([v.numpy()[grid[:, k]] for k, v in
                       enumerate(shapes3d.factor_values())], 1)
    labels[5] = labels[6]  # an item out of the grid's order
    tiny(tmp_path / "order.h5", labels=labels)
    with pytest.raises(Shapes3DFileError, match="'labels' row 5 is"):
        Shapes3D(path=tmp_path / "order.h5", progress=False)
    tiny(tmp_path / "good.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(Shapes3DFileError, match="needs h5py: pip install"):
        Shapes3D(path=tmp_path / "good.h5", progress=False)
