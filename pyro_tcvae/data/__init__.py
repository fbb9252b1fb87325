"""Ground-truth datasets: observations with known factors of variation.

- :class:`GroundTruthData`: the interface (factor names, sizes, values, classes of every
  item, images by index; subsets, resampled and correlated views) and
  :class:`Batches`, the minibatch loader.
- :class:`DSprites`: from the real file, or rendered exactly on the fly;
  :class:`ColorDSprites` and :class:`NoisyDSprites`, its RGB variants.
- :class:`MPI3D`: the user's MPI3D file (toy, realistic, real), memory-mapped.
- :class:`Shapes3D`: the user's ``3dshapes.h5``, or rendered by :mod:`.scene`.
- :class:`SmallNORB`, :class:`Cars3D`: the user's SmallNORB and Cars3D files.
- :class:`ImageFolder`: a folder of images without factors (e.g. CelebA).
- :class:`SmallSprites`, :class:`NonlinearFactors`, :func:`nonlinear_factors`: small
  synthetic sets for tests and tutorials.
"""

from .cars3d import Cars3D, Cars3DFileError
from .dsprites import DSprites, DSpritesFileError
from .dsprites_color import ColorDSprites, NoisyDSprites
from .ground_truth import Batches, GroundTruthData, View, grid_factors
from .images import ImageFolder, ImageFolderError
from .mpi3d import MPI3D, MPI3DFileError
from .shapes3d import Shapes3D, Shapes3DFileError
from .smallnorb import SmallNORB, SmallNORBFileError
from .synthetic import NonlinearFactors, SmallSprites, nonlinear_factors

__all__ = [
    "Batches",
    "Cars3D",
    "Cars3DFileError",
    "ColorDSprites",
    "NoisyDSprites",
    "DSprites",
    "DSpritesFileError",
    "GroundTruthData",
    "ImageFolder",
    "ImageFolderError",
    "MPI3D",
    "MPI3DFileError",
    "NonlinearFactors",
    "Shapes3D",
    "Shapes3DFileError",
    "SmallNORB",
    "SmallNORBFileError",
    "SmallSprites",
    "View",
    "grid_factors",
    "nonlinear_factors",
]
