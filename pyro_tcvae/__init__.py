"""pyro-tcvae: beta-TCVAE (Chen et al., NeurIPS 2018) for Pyro.

The objective (:class:`TraceTC_ELBO`), a ready VAE (:class:`VAE`), the metrics
(:func:`mig`, :func:`mig_histogram`, :func:`elbo_decomposition`) and datasets
(:mod:`pyro_tcvae.data`), a fused Adam for ``SVI`` (:mod:`pyro_tcvae.optim`);
training runs, their folders and evaluation in :mod:`pyro_tcvae.runs`; studies, sweeps
and their reports in :mod:`pyro_tcvae.study`; all behind the ``pyro-tcvae`` command.
"""

from .infer import TraceMeanFieldTC_ELBO, TraceTC_ELBO
from .metrics import elbo_decomposition, mig, mig_histogram
from .models import VAE
from .ops import importance_weight_matrix, log_importance_weights
from . import optim

__version__ = "0.1.0"

__all__ = [
    "TraceTC_ELBO",
    "TraceMeanFieldTC_ELBO",
    "VAE",
    "elbo_decomposition",
    "importance_weight_matrix",
    "log_importance_weights",
    "mig",
    "mig_histogram",
    "optim",
]
