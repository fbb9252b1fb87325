"""pyro-tcvae: beta-TCVAE (Chen et al., NeurIPS 2018) for Pyro."""

from .infer import TraceMeanFieldTC_ELBO, TraceTC_ELBO
from .ops import importance_weight_matrix, log_importance_weights

__version__ = "0.1.0"

__all__ = [
    "TraceTC_ELBO",
    "TraceMeanFieldTC_ELBO",
    "importance_weight_matrix",
    "log_importance_weights",
]
