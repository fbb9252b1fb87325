"""Pure tensor math shared by the objectives and the metrics."""

from .mixture import log_mixture, normal_log_mixture
from .weights import ESTIMATORS, importance_weight_matrix, log_importance_weights

__all__ = [
    "ESTIMATORS",
    "importance_weight_matrix",
    "log_importance_weights",
    "log_mixture",
    "normal_log_mixture",
]
