"""The parts of a run, made from its configuration: dataset, model, objective and SVI.

Training, evaluation, plots, sweeps and the benchmarks all build through here, so a
configuration means the same thing everywhere.
"""

import pyro
from pyro.infer import SVI

from ..models import VAE
from ..optim import Adam
from .config import RunError, parse_correlate
from .folder import RunFolder, describe_os_error
from .registry import DATASETS, OBJECTIVES


def make_dataset(config, progress=True, biased=True):
    """The ground-truth dataset a (validated) configuration names; with ``correlate``,
    the biased view of it that the run trains on (``biased=False``: the uniform set)."""
    data = DATASETS[config.dataset].make(config, progress)
    if config.correlate is None or not biased:
        return data
    a, b, strength = parse_correlate(config.correlate)
    try:
        return data.correlated(a, b, strength, seed=0)
    except ValueError as e:
        raise RunError(f"correlate {config.correlate!r}: {e}") from None


def check_fits(config, data):
    """The checks that need the data: the batch must fit in the dataset."""
    if config.batch_size > len(data):
        raise RunError(f"batch_size {config.batch_size} is larger than the dataset "
                       f"{config.dataset} ({len(data)} items): use --batch-size {len(data)} "
                       f"or less")


def make_model(config, x_shape, dataset_size):
    """The VAE a (validated) configuration describes, for observations ``x_shape``."""
    return VAE(x_shape=x_shape, z_dim=config.z_dim, arch=config.arch, latent=config.latent,
               prior=config.prior, likelihood=config.likelihood, dataset_size=dataset_size,
               precision=config.precision)


def make_svi(config, vae, dataset_size, total_steps=None):
    """(svi, elbo): ``pyro.infer.SVI`` with the configured objective and Adam.

    The objective is told the dataset size, so a batch of the whole dataset is no
    special case; ``total_steps`` is the run's length (AnnealedVAE's default schedule).
    A FactorVAE discriminator is made on the VAE's device."""
    elbo = OBJECTIVES[config.objective].make(config, dataset_size, vae.z_dim, total_steps)
    discriminator = getattr(elbo, "discriminator", None)
    if discriminator is not None:
        discriminator.to(next(vae.parameters()).device)
    optim = Adam(lr=config.lr, fused=None if config.fused else False)
    return SVI(vae.model, vae.guide, optim, loss=elbo), elbo


def load_model(run_dir):
    """(model, config) of a run: ``model.pt``, else the latest checkpoint."""
    folder = RunFolder(run_dir)
    config = folder.read_config()
    if folder.model_path.is_file():
        try:
            return VAE.load(folder.model_path), config
        except OSError as e:
            raise RunError(describe_os_error(e, folder.model_path, "read")) from None
        except ValueError as e:
            raise RunError(f"{e}; retrain, or remove it to use the checkpoint") from None
    state = folder.load_checkpoint()
    vae = make_model(config, tuple(state["x_shape"]), state["dataset_size"])
    vae.load_state_dict(state["model"])
    return vae, config


def fresh_model(config, data, device):
    """A new VAE for ``data`` on ``device``, initialized from ``config.seed`` (Pyro's
    param store cleared first)."""
    pyro.clear_param_store()
    pyro.set_rng_seed(config.seed)
    return make_model(config, data.image_shape, len(data)).to(device)
