"""SmallNORB (LeCun, Huang, Bottou 2004), loaded from the user's files.

The six files of the published set (cs.nyu.edu/~ylclab/data/norb-v1.0-small), gunzipped
or not, in one folder::

    smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat
    smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat

are in NORB's binary matrix format (an int32 magic number for the element type, the
number of dimensions, the dimensions, then the data, little-endian).  As
disentanglement_lib does, the training and test halves are joined (48,600 items), the
first camera of each stereo pair is kept and resized to 64x64, and the factors are
category (5), instance (10), elevation (9), azimuth (18) and lighting (6); instance is
left out of MIG by default.  The images are decoded once into the cache folder and
memory-mapped from there.

The folder is the ``path`` argument, else ``$PYRO_TCVAE_SMALLNORB``, else
``<cache folder>/smallnorb``.
"""

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .cache import cache_dir, cached_array, unit_floats
from .ground_truth import GroundTruthData

PREFIXES = ("smallnorb-5x46789x9x18x6x2x96x96-training",
            "smallnorb-5x01235x9x18x6x2x96x96-testing")
MAGIC = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32}
FACTOR_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
FACTOR_SIZES = (5, 10, 9, 18, 6)
ENV_FOLDER = "PYRO_TCVAE_SMALLNORB"
SOURCE = "cs.nyu.edu/~ylclab/data/norb-v1.0-small"


class SmallNORBFileError(ValueError):
    """A SmallNORB file is missing, damaged or not in the published format."""


def read_norb_matrix(path):
    """A NORB binary matrix (``.mat`` or ``.mat.gz``) as an ndarray."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = np.frombuffer(f.read(8), dtype="<i4")
            if len(head) != 2 or int(head[0]) not in MAGIC:
                raise SmallNORBFileError(f"{path}: not a NORB matrix (unknown magic number)")
            dtype, ndim = MAGIC[int(head[0])], int(head[1])
            dims = np.frombuffer(f.read(4 * max(3, ndim)), dtype="<i4")[:ndim]
            count = int(np.prod(dims))
            data = np.frombuffer(f.read(), dtype=np.dtype(dtype).newbyteorder("<"))
    except (OSError, EOFError, ValueError) as e:
        if isinstance(e, SmallNORBFileError):
            raise
        raise SmallNORBFileError(f"{path}: unreadable ({e})") from None
    if data.size != count:
        raise SmallNORBFileError(f"{path}: {data.size} values for dimensions {tuple(dims)} "
                                 f"(a truncated file?)")
    return data.reshape(tuple(int(d) for d in dims))


def _find(folder, name):
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    raise SmallNORBFileError(f"{folder} lacks {name} (or {name}.gz): put the six files of "
                             f"SmallNORB from {SOURCE} in one folder")


class SmallNORB(GroundTruthData):
    """SmallNORB from the user's files: 48,600 grey 64x64 images, 5 factors.

    Parameters
    ----------
    path : str or Path, optional
        The folder of the six files.
    cache : bool
        Keep the decoded 64x64 images in the cache folder.
    progress : bool
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    image_shape = (64, 64)
    mig_exclude = ("instance",)

    def __init__(self, path=None, cache=True, progress=True):
        folder = path or os.environ.get(ENV_FOLDER) or cache_dir() / "smallnorb"
        self.path = Path(folder).expanduser()
        if not self.path.is_dir():
            raise SmallNORBFileError(f"no SmallNORB folder at {self.path}: download the six "
                                     f"files from {SOURCE} into a folder and pass it (path=, "
                                     f"--data-path), or set ${ENV_FOLDER}")
        files = {(p, k): _find(self.path, f"{p}-{k}.mat") for p in PREFIXES
                 for k in ("dat", "cat", "info")}
        self.factor_values = [torch.arange(5.0), torch.arange(10.0), 30.0 + 5.0 * torch.arange(9.0),
                              20.0 * torch.arange(18.0), torch.arange(6.0)]
        factors = []
        for prefix in PREFIXES:
            cat = read_norb_matrix(files[prefix, "cat"])
            info = read_norb_matrix(files[prefix, "info"])
            if cat.ndim != 1 or info.ndim != 2 or info.shape != (len(cat), 4):
                raise SmallNORBFileError(f"{files[prefix, 'info']}: info has shape {info.shape} "
                                         f"for {len(cat)} categories; expected ({len(cat)}, 4)")
            # info columns: instance, elevation, azimuth (0, 2, ..., 34), lighting
            f = np.stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]], 1)
            factors.append(f.astype(np.int64))
        factors = np.concatenate(factors)
        bad = (factors < 0) | (factors >= np.array(FACTOR_SIZES))
        if bad.any():
            name = FACTOR_NAMES[int(np.nonzero(bad.any(0))[0][0])]
            raise SmallNORBFileError(f"{self.path}: {name} outside its range in the labels "
                                     f"(sizes {dict(zip(FACTOR_NAMES, FACTOR_SIZES))})")
        self.factors = torch.from_numpy(factors)
        self.pixels = self._load(files, len(factors), cache, progress)

    def _decode(self, files, progress):
        from PIL import Image

        parts = []
        for prefix in PREFIXES:
            dat = read_norb_matrix(files[prefix, "dat"])
            if dat.ndim != 4 or dat.shape[1:] != (2, 96, 96):
                raise SmallNORBFileError(f"{files[prefix, 'dat']}: images of shape {dat.shape}; "
                                         f"expected (N, 2, 96, 96)")
            out = np.empty((len(dat), 64, 64), dtype=np.uint8)
            for i in tqdm(range(len(dat)), desc="resizing SmallNORB", disable=not progress,
                          leave=False):
                out[i] = np.asarray(Image.fromarray(dat[i, 0]).resize((64, 64), Image.BILINEAR))
            parts.append(out)
        return np.concatenate(parts)

    def _load(self, files, n, cache, progress):
        stamp = "|".join(f"{p}|{p.stat().st_size}|{p.stat().st_mtime_ns}"
                         for p in sorted(files.values()))
        target = cache_dir() / f"smallnorb_{hashlib.sha1(stamp.encode()).hexdigest()[:12]}.npy"

        def decode():
            pixels = self._decode(files, progress)
            if len(pixels) != n:
                raise SmallNORBFileError(f"{self.path}: {len(pixels)} images for {n} labels")
            return pixels

        return cached_array(target, decode, (n, 64, 64), cache)

    def _observations(self, indices):
        return unit_floats(self.pixels[indices.numpy()])
