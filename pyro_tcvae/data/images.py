"""A folder of images (e.g. CelebA) as an unlabeled dataset, for training and traversals.

Every ``.png``, ``.jpg``, ``.jpeg``, ``.bmp`` or ``.webp`` file below the folder (sorted by
path) is centre-cropped to a square, resized to ``size`` x ``size`` and converted to RGB
(or grey), decoded once into a uint8 array in the cache folder and memory-mapped from
there.  There are no factors of variation (``factors`` has shape [N, 0]), so the
disentanglement metrics do not apply; the ELBO decomposition and the figures do.

The folder is the ``path`` argument, else ``$PYRO_TCVAE_IMAGES``.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .cache import cache_dir, cached_array, unit_floats
from .ground_truth import GroundTruthData

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
ENV_FOLDER = "PYRO_TCVAE_IMAGES"


class ImageFolderError(ValueError):
    """The image folder is missing, empty, or holds a file that is not an image."""


def _square(img, size):
    """Centre-crop a PIL image to a square and resize it to ``size``."""
    from PIL import Image

    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    return img.resize((size, size), Image.BILINEAR)


class ImageFolder(GroundTruthData):
    """Images of a folder, [size, size, 3] (or [size, size] with ``grey=True``), in [0, 1].

    Parameters
    ----------
    path : str or Path, optional
    size : int
        Side of the square images (64 for the built-in conv nets).
    grey : bool
        One channel instead of RGB.
    cache : bool
        Keep the decoded images in the cache folder (memory-mapped on the next start).
    progress : bool
    """

    factor_names = ()
    factor_sizes = ()
    factor_values = []

    def __init__(self, path=None, size=64, grey=False, cache=True, progress=True):
        path = path or os.environ.get(ENV_FOLDER)
        if not path:
            raise ImageFolderError(f"no image folder: pass path= (--data-path on the command "
                                   f"line) or set ${ENV_FOLDER}")
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise ImageFolderError(f"{self.path} is not a folder of images: pass the folder "
                                   f"that holds them")
        self.files = sorted(p for p in self.path.rglob("*")
                            if p.suffix.lower() in SUFFIXES and p.is_file())
        if not self.files:
            raise ImageFolderError(f"{self.path} holds no images ({', '.join(SUFFIXES)})")
        self.size, self.grey = int(size), bool(grey)
        self.image_shape = (self.size, self.size) if self.grey else (self.size, self.size, 3)
        self.pixels = self._load(cache, progress)
        self.factors = torch.zeros(len(self.files), 0, dtype=torch.long)

    def _decode(self, progress):
        from PIL import Image, UnidentifiedImageError

        out = np.empty((len(self.files), *self.image_shape), dtype=np.uint8)
        for i, f in enumerate(tqdm(self.files, desc="decoding images", disable=not progress,
                                   leave=False)):
            try:
                with Image.open(f) as img:
                    img = img.convert("L" if self.grey else "RGB")
                    out[i] = np.asarray(_square(img, self.size))
            except (UnidentifiedImageError, OSError) as e:
                raise ImageFolderError(f"{f} is not a readable image ({e}): remove it or "
                                       f"replace it") from None
        return out

    def _load(self, cache, progress):
        listing = "\n".join(f"{p.relative_to(self.path)}|{p.stat().st_size}|"
                            f"{p.stat().st_mtime_ns}" for p in self.files)
        key = hashlib.sha1(f"{self.path.resolve()}|{self.image_shape}\n{listing}".encode())
        return cached_array(cache_dir() / f"images_{key.hexdigest()[:16]}.npy",
                            lambda: self._decode(progress),
                            (len(self.files), *self.image_shape), cache)

    def _observations(self, indices):
        return unit_floats(self.pixels[indices.numpy()])
