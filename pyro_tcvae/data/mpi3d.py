"""MPI3D (Gondal et al. 2019), loaded from the user's own file.

The three variants, ``mpi3d_toy.npz``, ``mpi3d_realistic.npz`` and ``mpi3d_real.npz``
(github.com/rr-learning/disentanglement_dataset), hold ``images``: uint8 [1036800, 64,
64, 3], row-major over seven factors: object colour (6), object shape (6), object size
(2), camera height (3), background colour (3), horizontal axis (40), vertical axis (40).
The labels are not stored; the index gives them.  The images are memory-mapped (12.7
GB per variant), never read whole.

Where the file is looked for, in order: the ``path`` argument, ``$PYRO_TCVAE_MPI3D``,
and the cache folder (see :func:`~pyro_tcvae.data.cache.cache_dir`).
"""

import math
import zipfile

import numpy as np
import torch

from .cache import cache_dir, find_data_file, unit_floats
from .ground_truth import GroundTruthData, grid_factors
from .npz import map_npz_member, npz_keys

FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height",
                "background_color", "horizontal_axis", "vertical_axis")
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)
VARIANTS = ("toy", "realistic", "real")
ENV_FILE = "PYRO_TCVAE_MPI3D"
SOURCE = "github.com/rr-learning/disentanglement_dataset"


class MPI3DFileError(ValueError):
    """The MPI3D file is missing, damaged or not in the published layout."""


def find_file(variant, path=None):
    """The MPI3D .npz: ``path``, ``$PYRO_TCVAE_MPI3D``, or ``mpi3d_<variant>.npz`` in the
    cache folder; an MPI3DFileError saying where to put it when there is none."""
    name = f"mpi3d_{variant}.npz"
    found = find_data_file(path, ENV_FILE, name, lambda candidate: MPI3DFileError(
        f"MPI3D file not found: {candidate}. Give the path of {name} (from {SOURCE})."))
    if found is not None:
        return found
    raise MPI3DFileError(f"no MPI3D file: download {name} from {SOURCE} and pass its path "
                         f"(path=, or --data-path on the command line), set ${ENV_FILE}, or put it in "
                         f"{cache_dir()}")


class MPI3D(GroundTruthData):
    """MPI3D from the user's file (toy, realistic or real): 64x64x3 images, 7 factors.

    Parameters
    ----------
    variant : {"toy", "realistic", "real"}
    path : str or Path, optional
    progress : bool
        A progress bar when a compressed file is decompressed into the cache once.
    """

    factor_names = FACTOR_NAMES
    image_shape = (64, 64, 3)

    def __init__(self, variant="toy", path=None, progress=True):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.path = find_file(variant, path)
        self.factor_sizes = tuple(FACTOR_SIZES)
        self.factor_values = [torch.arange(s, dtype=torch.float32) for s in self.factor_sizes]
        self.images_array = self._open(progress)
        self.factors = grid_factors(self.factor_sizes)

    def _open(self, progress):
        def bad(reason):
            return MPI3DFileError(f"{self.path} is not a usable MPI3D file ({reason}). Expected "
                                  f"mpi3d_{self.variant}.npz from {SOURCE}, with 'images' "
                                  f"({math.prod(self.factor_sizes)}, 64, 64, 3) uint8; download "
                                  f"it again.")

        try:
            images = map_npz_member(self.path, "images", cache_dir(), progress,
                                    desc=f"decompressing MPI3D {self.variant} (once)")
        except KeyError:
            raise bad(f"no key 'images'; keys are {npz_keys(self.path)}") from None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise bad(f"not a readable .npz: {e}") from None
        n = math.prod(self.factor_sizes)
        if images.dtype != np.uint8 or tuple(images.shape) != (n, 64, 64, 3):
            raise bad(f"'images' has shape {tuple(images.shape)} and dtype {images.dtype}")
        return images

    def _observations(self, indices):
        return unit_floats(self.images_array[indices.numpy()])
