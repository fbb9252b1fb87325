"""Everything that knows a run folder: the configuration (schema, registries, one
``validate``), building the parts, the folder (atomic files, lock, checksummed
checkpoints, logs), host settings, the training loop, evaluation, sweeps, plots, and
studies (a declarative file of runs into committed records, and their report).

>>> from pyro_tcvae.runs import TrainConfig, train, evaluate, plot_run
>>> run = train(TrainConfig(dataset="small_sprites"), "runs/demo")
>>> evaluate("runs/demo", data=run["data"], model=run["model"])
"""

from .build import check_fits, load_model, make_dataset, make_model, make_svi
from .config import RunError, TrainConfig
from .evaluate import evaluate, format_eval
from .folder import MetricsLog, RunFolder, read_checkpoint
from .host import ThreadGovernor, flush_denormals, reuse_freed_memory
from .plot import plot_run
from .registry import BUILTIN_DATASET, CHOICES, DATASETS, OBJECTIVES
from .report import report, study_rows
from .study import Study, load_study, run_study
from .study import status as study_status
from .sweep import format_rows, sweep
from .training import MIGMonitor, train

__all__ = [
    "BUILTIN_DATASET", "CHOICES", "DATASETS", "MIGMonitor", "MetricsLog", "OBJECTIVES",
    "RunError", "RunFolder", "Study", "ThreadGovernor", "TrainConfig", "check_fits", "evaluate",
    "flush_denormals", "format_eval", "format_rows", "load_model", "make_dataset",
    "load_study", "make_model", "make_svi", "plot_run", "read_checkpoint", "report",
    "reuse_freed_memory", "run_study", "study_rows", "study_status", "sweep", "train",
]
