"""A user's own dataset, objective or prior, named by import path.

``--prior mypkg.priors:StudentTPrior`` (or ``prior = "mypkg.priors:StudentTPrior"`` in
a study file, or ``TrainConfig(prior=...)``) imports the module ``mypkg.priors`` and
takes its attribute ``StudentTPrior``, which must be what the registry holds for that
option:

- ``dataset``: a :class:`~.registry.DatasetEntry` (how to make the data, the shape of
  one observation, whether it is binary, the defaults of the options it leaves unset);
- ``objective``: an :class:`~.registry.ObjectiveEntry` (how to make the ELBO, the
  options it reads and their defaults);
- ``prior``: a subclass of :class:`~pyro_tcvae.models.priors.Prior` (built with
  ``z_dim``).

The entry is then registered under the path itself, so the rest of a run (checks,
training, resuming, evaluation) treats it as a built-in choice, and ``config.json``
keeps the path: the module must be importable (installed, on ``PYTHONPATH`` or in the
current folder) wherever the run is resumed or evaluated.  A model with a user's prior is saved whole (pickled), as any model with
parts that a config cannot rebuild.
"""

import importlib
import os
import sys

from ..models.priors import PRIORS, Prior
from .registry import CHOICES, DATASETS, OBJECTIVES, DatasetEntry, ObjectiveEntry

#: option -> (the registry it extends, what the path must name, the kind in words)
KINDS = {
    "dataset": (DATASETS, DatasetEntry, "a DatasetEntry (pyro_tcvae.runs.registry)"),
    "objective": (OBJECTIVES, ObjectiveEntry, "an ObjectiveEntry (pyro_tcvae.runs.registry)"),
    "prior": (PRIORS, Prior, "a subclass of pyro_tcvae.models.priors.Prior"),
}


class PluginError(ValueError):
    """An import path that does not name what its option needs."""


def is_import_path(value):
    """Whether an option's value is "module:attribute" rather than a built-in name."""
    return isinstance(value, str) and ":" in value


def _import(module_name):
    """Import a module, looking in the current folder too (a console script such as
    ``pyro-tcvae`` does not put it on ``sys.path``, ``python -m`` does)."""
    try:
        return importlib.import_module(module_name)
    except ImportError:
        here = os.getcwd()
        if here in sys.path or "" in sys.path:
            raise
        sys.path.append(here)
        try:
            return importlib.import_module(module_name)
        finally:
            sys.path.remove(here)


def load(option, path):
    """The object that ``path`` ("pkg.module:Name") names for ``option``.

    Raises :class:`PluginError` naming the module, the attribute and the fix.
    """
    _, want, words = KINDS[option]
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise PluginError(f"{option} {path!r}: an import path is 'package.module:Name'")
    try:
        module = _import(module_name)
    except ImportError as e:
        raise PluginError(f"{option} {path!r}: cannot import {module_name!r} ({e}); install "
                          f"it or add its folder to PYTHONPATH") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"{option} {path!r}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    ok = issubclass(obj, want) if want is Prior and isinstance(obj, type) else isinstance(obj, want)
    if not ok:
        raise PluginError(f"{option} {path!r} names a {type(obj).__name__}, but a {option} "
                          f"given by import path must be {words}")
    return obj


def register(option, path):
    """Load ``path`` for ``option`` and add it to the registry under the path (once)."""
    registry = KINDS[option][0]
    if path not in registry:
        registry[path] = load(option, path)
    if path not in CHOICES[option]:
        CHOICES[option] = CHOICES[option] + (path,)


def register_all(config):
    """Register every option of ``config`` (a TrainConfig) given by import path."""
    for option in KINDS:
        value = getattr(config, option, None)
        if is_import_path(value):
            register(option, value)
