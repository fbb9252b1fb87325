"""Objectives: the TC-decomposed ELBOs."""

from .tc_elbo import TraceMeanFieldTC_ELBO, TraceTC_ELBO

__all__ = ["TraceTC_ELBO", "TraceMeanFieldTC_ELBO"]
