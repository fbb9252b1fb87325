"""Cars3D (Reed et al. 2015, "Deep Visual Analogy-Making"), loaded from the user's files.

The published folder holds 183 MATLAB files (``car_*_mesh.mat``), one per car model, each
with ``im``: uint8 [128, 128, 3, 24, 4] (height, width, RGB, azimuth, elevation).  As
disentanglement_lib does, every image is resized to 64x64, and the factors are
elevation (4), azimuth (24) and object type (183, the files in name order), the index
row-major over them.  The images are decoded once into the cache folder and
memory-mapped from there.  Reading MATLAB files needs scipy: ``pip install
'pyro-tcvae[files]'``.

The folder is the ``path`` argument, else ``$PYRO_TCVAE_CARS3D``, else
``<cache folder>/cars``.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .cache import cache_dir, cached_array, unit_floats
from .ground_truth import GroundTruthData, grid_factors

FACTOR_NAMES = ("elevation", "azimuth", "object_type")
NUM_ELEVATIONS, NUM_AZIMUTHS = 4, 24
ENV_FOLDER = "PYRO_TCVAE_CARS3D"
SOURCE = "the Cars3D folder of Reed et al. 2015 (the 'cars' folder disentanglement_lib uses)"


class Cars3DFileError(ValueError):
    """The Cars3D folder is missing, or a file is not in the published layout."""


def load_mesh(path):
    """One car's images, uint8 [24 * 4, 64, 64, 3] ordered (azimuth, elevation)."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise Cars3DFileError("reading Cars3D's MATLAB files needs scipy: pip install "
                              "'pyro-tcvae[files]' (or pip install scipy)") from None
    from PIL import Image

    try:
        im = loadmat(str(path))["im"]
    except KeyError:
        raise Cars3DFileError(f"{path}: no array 'im' (not a Cars3D mesh file)") from None
    except Exception as e:  # scipy raises several kinds for a damaged file
        raise Cars3DFileError(f"{path}: not a readable MATLAB file ({e})") from None
    if im.dtype != np.uint8 or im.shape[2:] != (3, NUM_AZIMUTHS, NUM_ELEVATIONS):
        raise Cars3DFileError(f"{path}: 'im' has shape {im.shape} and dtype {im.dtype}; "
                              f"expected (H, W, 3, {NUM_AZIMUTHS}, {NUM_ELEVATIONS}) uint8")
    views = np.einsum("hwcae->aehwc", im).reshape(-1, *im.shape[:3])
    return np.stack([np.asarray(Image.fromarray(v).resize((64, 64), Image.BILINEAR))
                     for v in views])


class Cars3D(GroundTruthData):
    """Cars3D from the user's files: 17,568 images of 64x64x3, 3 factors.

    Parameters
    ----------
    path : str or Path, optional
        The folder of the ``.mat`` files.
    cache : bool
        Keep the decoded images in the cache folder.
    progress : bool
    """

    factor_names = FACTOR_NAMES
    image_shape = (64, 64, 3)

    def __init__(self, path=None, cache=True, progress=True):
        folder = path or os.environ.get(ENV_FOLDER) or cache_dir() / "cars"
        self.path = Path(folder).expanduser()
        if not self.path.is_dir():
            raise Cars3DFileError(f"no Cars3D folder at {self.path}: put {SOURCE} there, or "
                                  f"pass its path (path=, --data-path) or set ${ENV_FOLDER}")
        self.files = sorted(self.path.glob("*.mat"))
        if not self.files:
            raise Cars3DFileError(f"{self.path} holds no .mat files: it should hold {SOURCE}")
        self.factor_sizes = (NUM_ELEVATIONS, NUM_AZIMUTHS, len(self.files))
        self.factor_values = [torch.arange(float(s)) for s in self.factor_sizes]
        self.factors = grid_factors(self.factor_sizes)
        self.pixels = self._load(cache, progress)

    def _decode(self, progress):
        E, A, K = self.factor_sizes
        out = np.empty((E, A, K, 64, 64, 3), dtype=np.uint8)
        for k, f in enumerate(tqdm(self.files, desc="decoding Cars3D", disable=not progress,
                                   leave=False)):
            out[:, :, k] = load_mesh(f).reshape(A, E, 64, 64, 3).transpose(1, 0, 2, 3, 4)
        return out.reshape(-1, 64, 64, 3)

    def _load(self, cache, progress):
        stamp = "|".join(f"{p.name}|{p.stat().st_size}|{p.stat().st_mtime_ns}"
                         for p in self.files)
        key = hashlib.sha1(f"{self.path.resolve()}|{stamp}".encode()).hexdigest()[:12]
        n = int(np.prod(self.factor_sizes))
        return cached_array(cache_dir() / f"cars3d_{key}.npy", lambda: self._decode(progress),
                            (n, 64, 64, 3), cache)

    def _observations(self, indices):
        return unit_floats(self.pixels[indices.numpy()])
