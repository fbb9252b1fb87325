"""The registries: every name a run configuration can choose, in one place.

The configuration's validation asks these tables about every choice, the command line
takes its ``choices=`` and help from them, and :mod:`.build` makes the parts from them.
Adding a dataset or an objective is one entry here.
"""

import dataclasses
from typing import Callable

from ..data import (MPI3D, Cars3D, ColorDSprites, DSprites, ImageFolder, NoisyDSprites,
                    NonlinearFactors, Shapes3D, SmallNORB, SmallSprites)
from ..infer import (TraceAnnealedVAE_ELBO, TraceDIPVAE_ELBO, TraceFactorVAE_ELBO, TraceTC_ELBO,
                     discriminator_mlp)
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
    dsprites_file : bool
        Built from dSprites (``--dsprites-path`` applies).
    user_file : bool
        Loaded from the user's own file (``--data-path`` applies).
    """

    make: Callable
    image_shape: tuple
    binary: bool
    defaults: dict
    about: str
    dsprites_file: bool = False
    user_file: bool = False


_IMAGES = {"arch": "mlp", "likelihood": "bernoulli"}
# Colour images in [0, 1]: the continuous Bernoulli is a proper density there, with the
# same logits as the Bernoulli cross-entropy that disentanglement_lib uses on them, and,
# unlike a Gaussian, no noise level to choose.
_COLOUR = {"arch": "mlp", "likelihood": "continuous_bernoulli", "z_dim": 10, "lr": 1e-3,
           "batch_size": 256, "epochs": 1.0}
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
        # the fast recipe's batch (docs/results.md, "The fast recipe across seeds"):
        # at batch 256 the minibatch TC is too poor an estimate to disentangle
        defaults={**_IMAGES, "z_dim": 10, "lr": 1e-3, "batch_size": 1024, "epochs": 3.0},
        about="dSprites, 737,280 images of 64x64: the real file if found, else rendered",
        dsprites_file=True),
    **{name: DatasetEntry(
        make=lambda config, progress, cls=cls: cls(
            base=DSprites(path=config.dsprites_path, progress=progress)),
        image_shape=(64, 64, 3), binary=False, defaults=_COLOUR, about=about,
        dsprites_file=True) for name, cls, about in (
            ("color_dsprites", ColorDSprites,
             "dSprites in colour (each sprite in a colour from [0.5, 1]^3, fixed per item)"),
            ("noisy_dsprites", NoisyDSprites, "dSprites on uniform noise (fixed per item)"))},
    "shapes3d": DatasetEntry(
        make=lambda config, progress: Shapes3D(path=config.data_path, progress=progress),
        image_shape=(64, 64, 3), binary=False, defaults={**_COLOUR, "arch": "conv"},
        about="3D Shapes, 480,000 images of 64x64x3, 6 factors: your 3dshapes.h5 if found "
              "(needs h5py), else rendered", user_file=True),
    **{f"mpi3d_{variant}": DatasetEntry(
        make=lambda config, progress, variant=variant: MPI3D(variant, path=config.data_path,
                                                             progress=progress),
        image_shape=(64, 64, 3), binary=False, defaults={**_COLOUR, "arch": "conv"},
        about=f"MPI3D {variant} from your file (1,036,800 images of 64x64x3, 7 factors)",
        user_file=True) for variant in ("toy", "realistic", "real")},
    "smallnorb": DatasetEntry(
        make=lambda config, progress: SmallNORB(config.data_path, progress=progress),
        image_shape=(64, 64), binary=False, defaults={**_COLOUR, "arch": "conv"},
        about="SmallNORB from your files (48,600 grey 64x64 images, 5 factors)",
        user_file=True),
    "cars3d": DatasetEntry(
        make=lambda config, progress: Cars3D(config.data_path, progress=progress),
        image_shape=(64, 64, 3), binary=False, defaults={**_COLOUR, "arch": "conv"},
        about="Cars3D from your files (17,568 images of 64x64x3, 3 factors; needs scipy)",
        user_file=True),
    "images": DatasetEntry(
        make=lambda config, progress: ImageFolder(config.data_path, progress=progress),
        image_shape=(64, 64, 3), binary=False, defaults={**_COLOUR, "arch": "conv"},
        about="a folder of your images (e.g. CelebA), 64x64 RGB, no factors: no MIG",
        user_file=True),
    "nonlinear": DatasetEntry(
        make=lambda config, progress: NonlinearFactors(),
        image_shape=(12,), binary=False,
        defaults={**_VECTORS, "z_dim": 10, "lr": 1e-3, "batch_size": 256, "steps": 2000},
        about="1,000 vectors: a 10x10x10 factor grid through a fixed nonlinear map"),
}

#: The dataset that ``pyro-tcvae train`` with no options trains on.
BUILTIN_DATASET = "small_sprites"

@dataclasses.dataclass(frozen=True)
class ObjectiveEntry:
    """An objective a run can train with.

    Attributes
    ----------
    make : callable (config, dataset_size, z_dim, total_steps) -> a Pyro ELBO
    at_step : callable (elbo, config, step) -> None
        Sets what changes during the run (beta's warm-up, AnnealedVAE's capacity).
    options : tuple of str
        The configuration options the objective reads; the first is the one a sweep
        varies and a run's name shows (none for the plain VAE).
    defaults : dict
        Values of those options that the configuration leaves unset (None).
    batches_per_step : int
        Batches one training step uses (FactorVAE: two, as Kim & Mnih).
    about : str
    """

    make: Callable
    at_step: Callable
    options: tuple
    defaults: dict
    batches_per_step: int = 1
    about: str = ""


def _set_weights(elbo, config, step):
    elbo.alpha, elbo.beta, elbo.gamma = config.weights(step)


def _tc_family(config, dataset_size, z_dim, total_steps):
    return TraceTC_ELBO(*config.weights(0), estimator=config.estimator,
                        dataset_size=dataset_size, memory=config.memory)


def _factorvae(config, dataset_size, z_dim, total_steps):
    return TraceFactorVAE_ELBO(gamma=config.gamma, discriminator=discriminator_mlp(z_dim),
                               estimator=config.estimator, dataset_size=dataset_size,
                               precision=config.precision)


def _annealed(config, dataset_size, z_dim, total_steps):
    return TraceAnnealedVAE_ELBO(gamma=config.gamma, capacity=config.capacity,
                                 capacity_steps=config.capacity_steps or total_steps,
                                 estimator=config.estimator, dataset_size=dataset_size)


def _set_capacity_step(elbo, config, step):
    elbo.step = step


def _dip(kind):
    def make(config, dataset_size, z_dim, total_steps):
        return TraceDIPVAE_ELBO(lambda_od=config.lambda_od, lambda_d=config.lambda_d,
                                kind=kind, estimator=config.estimator,
                                dataset_size=dataset_size)
    return make


def _nothing(elbo, config, step):
    pass


#: Objective name -> how to make it and what it reads from the configuration.
OBJECTIVES = {
    "tcvae": ObjectiveEntry(_tc_family, _set_weights, ("beta", "gamma"), {"beta": 6.0},
                            about="beta-TCVAE: the total correlation weighed by beta "
                                  "(and the dimension-wise KL by gamma, default 1)"),
    "beta-vae": ObjectiveEntry(_tc_family, _set_weights, ("beta",), {"beta": 6.0},
                               about="beta-VAE: the whole KL weighed by beta"),
    "vae": ObjectiveEntry(_tc_family, _nothing, (), {}, about="the plain ELBO"),
    "factorvae": ObjectiveEntry(_factorvae, _nothing, ("gamma",), {"gamma": 35.0},
                                batches_per_step=2,
                                about="FactorVAE: a discriminator's TC estimate weighed by gamma"),
    "annealed": ObjectiveEntry(_annealed, _set_capacity_step,
                               ("capacity", "gamma", "capacity_steps"),
                               {"capacity": 25.0, "gamma": 1000.0},
                               about="AnnealedVAE: gamma |KL - C|, C raised to --capacity"),
    "dip-i": ObjectiveEntry(_dip("i"), _nothing, ("lambda_od", "lambda_d"), {"lambda_od": 10.0},
                            about="DIP-VAE-I: the covariance of the encoder means"),
    "dip-ii": ObjectiveEntry(_dip("ii"), _nothing, ("lambda_od", "lambda_d"),
                             {"lambda_od": 10.0},
                             about="DIP-VAE-II: the covariance of the aggregate posterior"),
}

#: (alpha, beta, gamma) of the TC-decomposed objectives as a function of beta and of
#: the configuration's gamma (None: not set).
TC_WEIGHTS = {
    # beta-TCVAE: the total correlation (and the dimension-wise KL by --gamma, default 1)
    "tcvae": lambda b, g: (1.0, b, 1.0 if g is None else g),
    "beta-vae": lambda b, g: (b, b, b),     # beta-VAE: the whole KL term
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
