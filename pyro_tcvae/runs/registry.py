"""The registries: every name a run configuration can choose, in one place.

The configuration's validation asks these tables about every choice, the command line
takes its ``choices=`` and help from them, and :mod:`.build` makes the parts from them.
Adding a dataset or an objective is one entry here.
"""

import dataclasses
from typing import Callable

from ..data import DSprites, NonlinearFactors, SmallSprites
from ..models.latents import LATENTS
from ..models.likelihoods import LIKELIHOODS
from ..models.nets import ARCHS
from ..models.priors import PRIORS
from ..models.vae import PRECISIONS
from ..ops.weights import ESTIMATORS


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """A dataset a run can train on.

    Attributes
    ----------
    make : callable (config, progress) -> GroundTruthData
    image_shape : tuple of int
        The shape of one observation, known before the data is built (so that a
        configuration can be checked without building it).
    binary : bool
        Observations are 0/1 (the Bernoulli likelihood applies).
    defaults : dict
        Values of the options that the configuration leaves unset (None).
    about : str
        One line for the command line's help.
    """

    make: Callable
    image_shape: tuple
    binary: bool
    defaults: dict
    about: str


_IMAGES = {"arch": "mlp", "likelihood": "bernoulli"}
_VECTORS = {"arch": "small_mlp", "likelihood": "gaussian"}

DATASETS = {
    "small_sprites": DatasetEntry(
        make=lambda config, progress: SmallSprites(),
        image_shape=(32, 32), binary=True,
        defaults={**_IMAGES, "z_dim": 6, "lr": 2e-3, "batch_size": 256, "steps": 1500},
        about="4,608 sprites of 32x32 made in milliseconds (the built-in run)"),
    "dsprites": DatasetEntry(
        make=lambda config, progress: DSprites(path=config.dsprites_path, progress=progress),
        image_shape=(64, 64), binary=True,
        defaults={**_IMAGES, "z_dim": 10, "lr": 1e-3, "batch_size": 256, "epochs": 1.0},
        about="dSprites, 737,280 images of 64x64: the real file if found, else rendered"),
    "nonlinear": DatasetEntry(
        make=lambda config, progress: NonlinearFactors(),
        image_shape=(12,), binary=False,
        defaults={**_VECTORS, "z_dim": 10, "lr": 1e-3, "batch_size": 256, "steps": 2000},
        about="1,000 vectors: a 10x10x10 factor grid through a fixed nonlinear map"),
}

#: The dataset that ``pyro-tcvae train`` with no options trains on.
BUILTIN_DATASET = "small_sprites"

#: Objective name -> (alpha, beta, gamma) as a function of the configured beta.
OBJECTIVES = {
    "tcvae": lambda b: (1.0, b, 1.0),       # beta-TCVAE: only the total correlation
    "beta-vae": lambda b: (b, b, b),        # beta-VAE: the whole KL term
    "vae": lambda b: (1.0, 1.0, 1.0),       # the plain ELBO (beta is ignored)
}

#: The other registries: names only; the parts are built by their own modules.
CHOICES = {
    "dataset": tuple(DATASETS),
    "objective": tuple(OBJECTIVES),
    "estimator": ESTIMATORS,
    "prior": tuple(PRIORS),
    "latent": tuple(LATENTS),
    "arch": ARCHS,
    "likelihood": tuple(LIKELIHOODS),
    "precision": PRECISIONS,
}
