"""Many runs: studies and sweeps, their records, statistics, tables, figures and reports.

A study is a declarative file of runs (:mod:`~.plan`) trained and evaluated into one
small JSON record per run (:mod:`~.record`) by the runner, which trains only what is
missing (:mod:`~.runner`; which runs, in which order, in which part:
:mod:`~.selection`).  A report (:mod:`~.report`) is regenerated from the records alone:
their rows (:mod:`~.rows`), statistics (:mod:`~.stats`), tables (:mod:`~.tables`,
:mod:`~.differences`) and figures (:mod:`~.figures`); :mod:`~.rescore` scores the metric
suite again from the codes kept beside the records.  A sweep (:mod:`~.sweep`) is the
quick form: objectives x values x seeds into one folder.  One run is
:mod:`pyro_tcvae.runs`' business.

>>> from pyro_tcvae.study import load_study, run_study, report
>>> study = load_study("studies/dsprites_beta.toml", steps=100)
>>> run_study(study, "results", "runs")
>>> report("results/dsprites_beta")
"""

from .plan import Study, config_key, load_study, parse_settings
from .record import status as study_status
from .report import report
from .rescore import rescore
from .rows import study_rows
from .runner import run_study, train_missing
from .selection import parse_part, select_runs
from .sweep import DEFAULT_GRID, format_rows, sweep

__all__ = [
    "DEFAULT_GRID", "Study", "config_key", "format_rows", "load_study", "parse_part",
    "parse_settings", "report", "rescore", "run_study", "select_runs", "study_rows",
    "study_status", "sweep", "train_missing",
]
