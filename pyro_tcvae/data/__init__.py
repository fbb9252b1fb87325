"""Ground-truth datasets (factors of variation known for every item)."""

from .synthetic import nonlinear_factors

__all__ = ["nonlinear_factors"]
