"""Disentanglement metrics: MIG (paper estimator and histogram variant), MIG-sup, the
field's suite (BetaVAE and FactorVAE scores, DCI, SAP, modularity and explicitness), and
the full-dataset ELBO decomposition; helpers to encode a dataset."""

from .beta_vae_score import BetaVAEResult, beta_vae_score
from .dci import DCIResult, dci, dci_from_importance
from .decomposition import decomposition_terms, elbo_decomposition
from .factor_vae_score import FactorVAEResult, factor_vae_score
from .mig import MIGResult, factor_entropy, mig, mig_ceiling, mig_histogram, mig_sup
from .modularity import ModularityResult, modularity, modularity_from_mi
from .posterior import cat_posteriors, encode_dataset, index_posterior, posterior_location
from .sap import SAPResult, sap, sap_from_matrix
from .suite import load_codes, save_codes, score_codes, score_suite

__all__ = [
    "BetaVAEResult",
    "DCIResult",
    "FactorVAEResult",
    "MIGResult",
    "ModularityResult",
    "SAPResult",
    "beta_vae_score",
    "cat_posteriors",
    "dci",
    "dci_from_importance",
    "decomposition_terms",
    "elbo_decomposition",
    "encode_dataset",
    "factor_entropy",
    "factor_vae_score",
    "index_posterior",
    "load_codes",
    "mig",
    "mig_ceiling",
    "mig_histogram",
    "mig_sup",
    "modularity",
    "modularity_from_mi",
    "posterior_location",
    "sap",
    "sap_from_matrix",
    "save_codes",
    "score_codes",
    "score_suite",
]
