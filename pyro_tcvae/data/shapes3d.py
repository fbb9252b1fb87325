"""3D Shapes (Burgess and Kim 2018): 480,000 RGB 64x64 images on a grid of six factors.

Factors, in the order of ``3dshapes.h5`` (row-major, orientation fastest): floor hue
(10 values, 0 to 0.9), wall hue (10), object hue (10), scale (8, 0.75 to 1.25), shape
(4: cube, cylinder, sphere, capsule), orientation (15, -30 to 30 degrees).

The images come from the user's ``3dshapes.h5`` when one is found (it needs h5py: ``pip
install pyro-tcvae[files]``), and otherwise from the renderer of
:mod:`pyro_tcvae.data.scene`.  Rendered, the set is 480 geometries (scale x shape x
orientation) of per-pixel surface weights, 16 MB cached on disk, coloured per batch
by the three hues: no image is stored.  The file is decompressed once into an
uncompressed copy in the cache folder (5.9 GB) and memory-mapped, since reading rows
at random from its gzip chunks would be slow.

Where the file is looked for, in order: the ``path`` argument, ``$PYRO_TCVAE_SHAPES3D``,
and the cache folder (see :func:`~pyro_tcvae.data.cache.cache_dir`).
"""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import scene as _scene
from ..files import replacing
from .cache import cache_dir, cached_array, file_key, find_data_file, unit_floats
from .ground_truth import GroundTruthData, grid_factors

FILENAME = "3dshapes.h5"
ENV_FILE = "PYRO_TCVAE_SHAPES3D"
SOURCE = "github.com/deepmind/3d-shapes (storage.cloud.google.com/3d-shapes/3dshapes.h5)"
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)


class Shapes3DFileError(ValueError):
    """The 3D Shapes file is missing, damaged or not in the published layout."""


def factor_values():
    """The value of every class of every factor, as in the file's ``labels``."""
    return [
        torch.arange(10, dtype=torch.float64) / 10,
        torch.arange(10, dtype=torch.float64) / 10,
        torch.arange(10, dtype=torch.float64) / 10,
        torch.linspace(0.75, 1.25, 8, dtype=torch.float64),
        torch.arange(4, dtype=torch.float64),
        torch.linspace(-30.0, 30.0, 15, dtype=torch.float64),
    ]


def find_file(path=None):
    """The 3dshapes.h5 to load: ``path``, ``$PYRO_TCVAE_SHAPES3D``, the cache folder, or None."""
    return find_data_file(path, ENV_FILE, FILENAME, lambda candidate: Shapes3DFileError(
        f"3D Shapes file not found: {candidate}. Give the path of {FILENAME} (from {SOURCE}), "
        f"or pass no path to render the dataset."))


def render_geometries(progress=True, scene=None, samples=3):
    """Surface weights of the 480 geometries, float16 [8 * 4 * 15, 64, 64, 4], row g =
    (scale * 4 + shape) * 15 + orientation (the file's order of the last three factors)."""
    scene = _scene.SCENE if scene is None else scene
    values = factor_values()
    out = np.empty((8 * 4 * 15, 64, 64, 4), dtype=np.float16)
    combos = [(s, sh) for s in range(8) for sh in range(4)]
    for s, sh in tqdm(combos, desc="rendering 3D Shapes geometry", disable=not progress,
                      leave=False):
        w = _scene.render_weights(values[5], sh, values[3][s].repeat(15), samples=samples,
                                  scene=scene)
        start = (s * 4 + sh) * 15
        out[start:start + 15] = w.numpy().astype(np.float16)
    return out


def _render_key():
    blob = json.dumps({"scene": _scene.SCENE, "version": 1}, sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


class Shapes3D(GroundTruthData):
    """3D Shapes, from the user's ``3dshapes.h5`` or rendered.

    Parameters
    ----------
    path : str or Path, optional
        The .h5 file. Default: ``$PYRO_TCVAE_SHAPES3D``, then the cache folder.
    source : {"auto", "file", "render"}
        ``"auto"`` loads the file when one is found and renders otherwise.
    cache : bool
        Keep the rendered geometry (16 MB) or the file's decompressed images in the
        cache folder.
    progress : bool

    Attributes
    ----------
    source : str
        ``"file"`` or ``"render"``.
    """

    factor_names = FACTOR_NAMES
    image_shape = (64, 64, 3)
    class_names = {"shape": list(_scene.SHAPES)}

    def __init__(self, path=None, source="auto", cache=True, progress=True):
        if source not in ("auto", "file", "render"):
            raise ValueError(f"source must be 'auto', 'file' or 'render', got {source!r}")
        self.factor_sizes = tuple(FACTOR_SIZES)
        self.factor_values = [v.to(torch.float32) for v in factor_values()]
        self.factors = grid_factors(self.factor_sizes)
        file = None if source == "render" else find_file(path)
        if source == "file" and file is None:
            raise Shapes3DFileError(f"no 3D Shapes file: pass path=, set ${ENV_FILE}, or put "
                                    f"{FILENAME} (from {SOURCE}) in {cache_dir()}; or use "
                                    f"source='render'.")
        if file is None:
            self.source, self.path = "render", None
            shape = (8 * 4 * 15, 64, 64, 4)
            self.weights = cached_array(cache_dir() / f"shapes3d_geometry_{_render_key()}.npy",
                                        lambda: render_geometries(progress), shape, cache)
            self._hues = factor_values()[0].to(torch.float32)
        else:
            self.source, self.path = "file", Path(file)
            self.images_array = _load_file(self.path, self.factor_sizes, cache, progress)

    def _observations(self, indices):
        if self.source == "file":
            return unit_floats(self.images_array[indices.numpy()])
        f = self.factors[indices]
        geometry = (f[:, 3] * 4 + f[:, 4]) * 15 + f[:, 5]
        weights = torch.from_numpy(np.asarray(self.weights[geometry.numpy()]))
        return _scene.colorize(weights, self._hues[f[:, 0]], self._hues[f[:, 1]],
                               self._hues[f[:, 2]])


def _load_file(path, sizes, cache, progress):
    """The images of ``3dshapes.h5`` as a memory-mapped uint8 array [N, 64, 64, 3] (an
    uncompressed copy in the cache folder), after checking keys, shapes and labels."""
    n = math.prod(sizes)

    def bad(reason):
        return Shapes3DFileError(f"{path} is not a usable 3D Shapes file ({reason}). Expected "
                                 f"{FILENAME} from {SOURCE}, with 'images' ({n}, 64, 64, 3) "
                                 f"uint8 and 'labels' ({n}, 6); download it again, or pass no "
                                 f"path to render the dataset.")

    try:
        import h5py
    except ImportError:
        raise Shapes3DFileError(f"reading {path} needs h5py: pip install 'pyro-tcvae[files]' "
                                f"(or pip install h5py), or pass no path to render the "
                                f"dataset.") from None
    target = cache_dir() / f"shapes3d_file_{file_key(path)}.npy"
    if cache and target.is_file():
        array = np.load(target, mmap_mode="r")
        if array.shape == (n, 64, 64, 3):
            return array
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise bad(f"not a readable HDF5 file: {e}") from None
    with f:
        for k in ("images", "labels"):
            if k not in f:
                raise bad(f"no key {k!r}; keys are {sorted(f.keys())}")
        images, labels = f["images"], f["labels"]
        if images.dtype != np.uint8 or tuple(images.shape) != (n, 64, 64, 3):
            raise bad(f"'images' has shape {tuple(images.shape)} and dtype {images.dtype}")
        if tuple(labels.shape) != (n, 6):
            raise bad(f"'labels' has shape {tuple(labels.shape)}")
        grid = grid_factors(sizes).numpy()
        expect = np.stack([v.numpy()[grid[:, k]] for k, v in enumerate(factor_values())], 1)
        try:
            got = labels[:]
        except OSError as e:
            raise bad(f"corrupt labels: {e}") from None
        if not np.allclose(got, expect, atol=1e-4):
            row = int(np.nonzero(~np.isclose(got, expect, atol=1e-4).all(1))[0][0])
            raise bad(f"'labels' row {row} is {got[row].tolist()}, but the grid's item {row} "
                      f"has {expect[row].tolist()}")

        def copy_into(out):
            step = 4096
            for i in tqdm(range(0, n, step), desc="decompressing 3D Shapes (once)",
                          disable=not progress, leave=False):
                try:
                    out[i:i + step] = images[i:i + step]
                except OSError as e:
                    raise bad(f"corrupt images at rows {i}..{i + step}: {e}") from None
            return out

        if not cache:
            return copy_into(np.empty((n, 64, 64, 3), dtype=np.uint8))
        try:
            with replacing(target) as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                                shape=(n, 64, 64, 3))
                copy_into(out).flush()
                del out
            return np.load(target, mmap_mode="r")
        except OSError as e:
            raise Shapes3DFileError(f"could not write the decompressed copy of {path} into "
                                    f"{target.parent} ({e}); free 6 GB there or point "
                                    f"$PYRO_TCVAE_CACHE elsewhere.") from None

