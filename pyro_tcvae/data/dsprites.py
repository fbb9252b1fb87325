"""dSprites: 737,280 binary 64x64 sprites on a full grid of six factors.

Factors, in order (the image index is row-major over this grid, as in the file):
color (1), shape (3: square, ellipse, heart), scale (6: 0.5 to 1), orientation
(40: 0 to 2 pi, both ends included, so classes 0 and 39 look alike), posX (32: 0 to
1), posY (32: 0 to 1).

The images come from the real file ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``
(Matthey et al. 2017) when one is found, otherwise from the procedural renderer in
:mod:`pyro_tcvae.data.sprites`.  Where the file is looked for, in order: the ``path``
argument, the environment variable ``PYRO_TCVAE_DSPRITES``, and the cache folder
(``PYRO_TCVAE_CACHE``, else ``$XDG_CACHE_HOME/pyro_tcvae``, else
``~/.cache/pyro_tcvae``).  Images are held as packed bits (377 MB for the whole set,
never 12 GB of floats) and converted to floats per batch; the packed set is cached on
disk, so a second start memory-maps it in about a second.
"""

import hashlib
import json
import math
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

# ENV_CACHE and cache_dir stay importable from here, where they were first defined
from .cache import ENV_CACHE, atomic_save, cache_dir, file_key, find_data_file  # noqa: F401
from .ground_truth import GroundTruthData, grid_factors
from .npz import read_npy_header
from .sprites import SHAPE_PARAMS, SHAPES, render

FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
ENV_FILE = "PYRO_TCVAE_DSPRITES"
FACTOR_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
NUM_IMAGES = math.prod(FACTOR_SIZES)  # 737,280
ROW_BYTES = 64 * 64 // 8


class DSpritesFileError(ValueError):
    """The dSprites file is missing, corrupt or not in the expected layout."""


def factor_values():
    """The value of every class of every factor, as in the file's ``latents_values``."""
    return [
        torch.tensor([1.0]),
        torch.tensor([1.0, 2.0, 3.0]),
        torch.linspace(0.5, 1.0, 6),
        torch.linspace(0.0, 2 * math.pi, 40),
        torch.linspace(0.0, 1.0, 32),
        torch.linspace(0.0, 1.0, 32),
    ]


def find_file(path=None):
    """The dSprites .npz to load: ``path``, ``$PYRO_TCVAE_DSPRITES``, or the cache folder
    (None when there is none)."""
    def not_found(candidate):
        return DSpritesFileError(
            f"dSprites file not found: {candidate}. Give the path of {FILENAME} (from "
            f"github.com/deepmind/dsprites-dataset), or pass no path to render the "
            f"dataset procedurally."
        )
    return find_data_file(path, ENV_FILE, FILENAME, not_found)


def render_all(progress=True):
    """Render the 737,280 images of the grid, packed: uint8 [737280, 512]."""
    values = factor_values()
    out = np.empty((NUM_IMAGES, ROW_BYTES), dtype=np.uint8)
    px, py = torch.meshgrid(values[4], values[5], indexing="ij")  # posX major, posY minor
    px, py = px.reshape(-1).double(), py.reshape(-1).double()
    combos = [(s, sc, o) for s in range(3) for sc in range(6) for o in range(40)]
    for s, sc, o in tqdm(combos, desc="rendering dSprites", disable=not progress,
                         unit="sprite", leave=False):
        base = ((s * 6 + sc) * 40 + o) * 1024
        scale = torch.full((1024,), float(values[2][sc]), dtype=torch.float64)
        orient = torch.full((1024,), float(values[3][o]), dtype=torch.float64)
        imgs = render(SHAPES[s], scale, orient, px, py)
        out[base:base + 1024] = np.packbits(imgs.reshape(1024, -1).numpy(), axis=1)
    return out


def _render_key():
    blob = json.dumps({"params": SHAPE_PARAMS, "version": 1}, sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


def read_npz(path, progress=True):
    """Read a dSprites .npz in the real layout without holding its 3 GB of bytes.

    Returns
    -------
    bits : ndarray uint8 [N, 512]
        Packed images.
    classes : ndarray int64 [N, 6]
    """
    def bad(reason):
        return DSpritesFileError(
            f"{path} is not a usable dSprites file ({reason}). Expected {FILENAME} from "
            f"github.com/deepmind/dsprites-dataset, with 'imgs' (N, 64, 64) uint8 in {{0, 1}} "
            f"and 'latents_classes' (N, 6); download it again, or pass no path to render the "
            f"dataset procedurally."
        )

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise bad(f"not a valid .npz archive: {e}") from None
    with zf:
        names = set(zf.namelist())
        for key in ("imgs", "latents_classes"):
            if key + ".npy" not in names:
                raise bad(f"no key {key!r}; keys are {sorted(n[:-4] for n in names)}")
        try:
            with zf.open("latents_classes.npy") as f:
                classes = np.load(f)
            if classes.ndim != 2 or classes.shape[1] != 6:
                raise bad(f"latents_classes has shape {classes.shape}, expected (N, 6)")
            sizes = np.array(FACTOR_SIZES)
            if classes.min() < 0 or (classes.max(0) >= sizes).any():
                raise bad(f"latents_classes outside the factor grid {FACTOR_SIZES}")
            if "latents_values.npy" in names:
                with zf.open("latents_values.npy") as f:
                    lv = np.load(f)
                expect = np.stack([v.numpy()[classes[:, k]] for k, v in enumerate(factor_values())], 1)
                if lv.shape != classes.shape or not np.allclose(lv, expect, atol=1e-5):
                    raise bad("latents_values do not match the dSprites factor grid")
            with zf.open("imgs.npy") as f:
                shape, fortran, dtype = read_npy_header(f)
                if len(shape) != 3 or tuple(shape[1:]) != (64, 64) or fortran or \
                        np.dtype(dtype) not in (np.uint8, np.bool_):
                    raise bad(f"imgs has shape {shape}, dtype {dtype}; expected (N, 64, 64) uint8")
                n = shape[0]
                if n != classes.shape[0]:
                    raise bad(f"{n} images but {classes.shape[0]} rows of latents_classes")
                bits = np.empty((n, ROW_BYTES), dtype=np.uint8)
                step = 8192
                for i in tqdm(range(0, n, step), desc="reading dSprites", disable=not progress,
                              leave=False):
                    rows = min(step, n - i)
                    buf = f.read(rows * 4096)
                    if len(buf) != rows * 4096:
                        raise bad("imgs is truncated")
                    arr = np.frombuffer(buf, dtype=np.uint8).reshape(rows, 4096)
                    if arr.max(initial=0) > 1:
                        raise bad("imgs has values other than 0 and 1")
                    bits[i:i + rows] = np.packbits(arr, axis=1)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
            if isinstance(e, DSpritesFileError):
                raise
            raise bad(f"corrupt data: {e}") from None
    return bits, classes.astype(np.int64)


class DSprites(GroundTruthData):
    """The dSprites dataset, from the real file or rendered.

    Parameters
    ----------
    path : str or Path, optional
        The .npz file. Default: ``$PYRO_TCVAE_DSPRITES``, then the cache folder.
    source : {"auto", "file", "render"}
        ``"auto"`` loads the file when one is found and renders otherwise; ``"file"``
        requires the file; ``"render"`` always renders.
    cache : bool
        Keep the packed set in the cache folder and memory-map it on the next start.
    progress : bool
        Show a progress bar while rendering or reading.

    Attributes
    ----------
    source : str
        ``"file"`` or ``"render"``: where the images came from.
    bits : ndarray uint8 [N, 512]
        The packed images (memory-mapped when loaded from the cache).
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    image_shape = (64, 64)
    class_names = {"color": ["white"], "shape": list(SHAPES)}
    mig_exclude = ("shape",)  # as in Chen et al. (2018)

    def __init__(self, path=None, source="auto", cache=True, progress=True):
        if source not in ("auto", "file", "render"):
            raise ValueError(f"source must be 'auto', 'file' or 'render', got {source!r}")
        self.factor_values = factor_values()
        file = None if source == "render" else find_file(path)
        if source == "file" and file is None:
            raise DSpritesFileError(
                f"no dSprites file: pass path=, set {ENV_FILE}, or put {FILENAME} in "
                f"{cache_dir()}; or use source='render'."
            )
        if file is not None:
            self.source, self.path = "file", Path(file)
            self.bits, self.factors = self._load_file(self.path, cache, progress)
        else:
            self.source, self.path = "render", None
            self.bits = self._load_rendered(cache, progress)
            self.factors = grid_factors(FACTOR_SIZES)

    @staticmethod
    def _load_rendered(cache, progress):
        target = cache_dir() / f"dsprites_rendered_{_render_key()}.npy"
        if cache and target.is_file():
            bits = np.load(target, mmap_mode="r")
            if bits.shape == (NUM_IMAGES, ROW_BYTES):
                return bits
        if progress:
            print(f"dSprites: no {FILENAME} found (pass path=, set ${ENV_FILE}, or put it in "
                  f"{cache_dir()}), so the {NUM_IMAGES:,} images are rendered (about 20 s)"
                  + (f"; the rendered set ({NUM_IMAGES * ROW_BYTES / 2**20:.0f} MB) is kept "
                     f"in {target} for the next start" if cache else ""),
                  file=sys.stderr, flush=True)
        bits = render_all(progress)
        if cache:
            try:
                atomic_save(target, bits)
            except OSError as e:  # a read-only cache folder only costs the next start a render
                if progress:
                    print(f"dSprites: could not keep the rendered set in {target} ({e}); "
                          f"the next start renders again", file=sys.stderr)
        return bits

    @staticmethod
    def _load_file(path, cache, progress):
        target = cache_dir() / f"dsprites_file_{file_key(path)}.npy"
        grid = grid_factors(FACTOR_SIZES)
        if cache and target.is_file():
            bits = np.load(target, mmap_mode="r")
            if bits.shape == (NUM_IMAGES, ROW_BYTES):
                return bits, grid
        bits, classes = read_npz(path, progress)
        factors = torch.from_numpy(classes)
        if cache and factors.shape == grid.shape and torch.equal(factors, grid):
            try:
                atomic_save(target, bits)
            except OSError:
                pass
        return bits, factors

    def _observations(self, indices):
        rows = self.bits[indices.numpy()]
        return torch.from_numpy(np.unpackbits(rows, axis=1).reshape(-1, 64, 64))
