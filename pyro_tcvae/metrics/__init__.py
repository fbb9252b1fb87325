"""Disentanglement metrics: MIG (paper estimator and histogram variant), MIG-sup, and the
full-dataset ELBO decomposition; helpers to encode a dataset."""

from .decomposition import decomposition_terms, elbo_decomposition
from .mig import MIGResult, factor_entropy, mig, mig_ceiling, mig_histogram, mig_sup
from .posterior import cat_posteriors, encode_dataset, index_posterior, posterior_location

__all__ = [
    "MIGResult",
    "cat_posteriors",
    "decomposition_terms",
    "elbo_decomposition",
    "encode_dataset",
    "factor_entropy",
    "index_posterior",
    "mig",
    "mig_ceiling",
    "mig_histogram",
    "mig_sup",
    "posterior_location",
]
