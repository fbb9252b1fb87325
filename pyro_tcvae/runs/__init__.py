"""One training run and everything that knows its folder: the configuration (schema,
registries, one ``validate``), building the parts, the folder (atomic files, lock,
checksummed checkpoints, logs), host settings, the training loop (on one process or
several), evaluation and plots.  Studies and sweeps of many runs are in
:mod:`pyro_tcvae.study`.

>>> from pyro_tcvae.runs import TrainConfig, train, evaluate, plot_run
>>> run = train(TrainConfig(dataset="small_sprites"), "runs/demo")
>>> evaluate("runs/demo", data=run["data"], model=run["model"])
"""

import importlib

from .build import check_fits, load_model, make_dataset, make_model, make_svi
from .config import RunError, TrainConfig
from .evaluate import evaluate, format_eval
from .folder import MetricsLog, RunFolder, read_checkpoint
from .host import ThreadGovernor, flush_denormals, reuse_freed_memory
from .plot import plot_run
from .registry import BUILTIN_DATASET, CHOICES, DATASETS, OBJECTIVES
from .training import MIGMonitor, train

__all__ = [
    "BUILTIN_DATASET", "CHOICES", "DATASETS", "MIGMonitor", "MetricsLog", "OBJECTIVES",
    "RunError", "RunFolder", "ThreadGovernor", "TrainConfig", "check_fits", "evaluate",
    "flush_denormals", "format_eval", "load_model", "make_dataset", "make_model", "make_svi",
    "plot_run", "read_checkpoint", "reuse_freed_memory", "train",
]

#: Names that moved to :mod:`pyro_tcvae.study`, still importable from here for the code
#: written before (``from pyro_tcvae.runs import load_study``).  They are looked up when
#: first asked for, so that importing this package never imports the layer above it.
MOVED_TO_STUDY = ("Study", "format_rows", "load_study", "report", "run_study", "study_rows",
                  "study_status", "sweep")


def __getattr__(name):
    if name in MOVED_TO_STUDY:
        return getattr(importlib.import_module("pyro_tcvae.study"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
