"""Sweeps: betas x seeds x objectives into one folder, then a table and two plots.

A sweep's runs are folders side by side (``<out>/tcvae_beta4_seed0``); a run's record is
its ``eval.json``, and a run without one is trained (or resumed) and evaluated by the
step a study uses too (:func:`~.runner.train_missing`)."""

import csv
import dataclasses
from pathlib import Path

from ..runs.build import make_dataset
from ..runs.config import RunError
from ..runs.evaluate import evaluate
from ..runs.folder import RunFolder, fs_errors, read_json, write_json
from ..runs.registry import OBJECTIVES
from ..viz import plot_sweep
from .runner import train_missing


#: Grids a sweep uses when none is given: each objective over its own hyperparameter.
DEFAULT_GRID = {"tcvae": [1.0, 4.0, 6.0], "beta-vae": [1.0, 4.0, 6.0], "vae": [None],
                "factorvae": [10.0, 35.0], "annealed": [5.0, 25.0], "dip-i": [1.0, 10.0],
                "dip-ii": [1.0, 10.0]}


def run_name(config):
    """The folder name of a sweep's run: objective, setting and seed."""
    return f"{config.label()}_seed{config.seed}"


def sweep_configs(base, grid=None, seeds=(0,)):
    """The validated configurations of a sweep, objective by objective, value by value,
    seed by seed.  The base's objective keeps the base's other options (e.g. tcvae's
    ``gamma``); another objective starts from its own defaults, so that no option of
    one objective leaks into another (FactorVAE's gamma is not tcvae's)."""
    base = base.validate()
    grid = {base.objective: DEFAULT_GRID[base.objective]} if grid is None else grid
    clear = {k: None for k in ("beta", "gamma", "capacity", "lambda_od", "lambda_d",
                               "capacity_steps")}
    configs = []
    for objective, values in grid.items():
        options = OBJECTIVES[objective].options
        for value in values:
            for seed in seeds:
                changes = {**({} if objective == base.objective else clear),
                           "objective": objective, "seed": int(seed)}
                if options and value is not None:
                    changes[options[0]] = float(value)
                configs.append(dataclasses.replace(base, **changes).validate())
    return configs


def sweep(base, out_dir, grid=None, seeds=(0,), num_samples=10_000, progress=True,
          echo=print):
    """Train and evaluate every objective x value x seed; a run already evaluated is
    skipped, an interrupted one resumed.  The dataset is built once for all runs.

    ``grid`` maps an objective to the values of its main hyperparameter (``beta``,
    ``gamma``, ``capacity``, ``lambda_od``; ``[None]`` for the plain VAE); default: the
    base configuration's objective over :data:`DEFAULT_GRID`.  Writes
    ``summary.csv``, ``summary.json``, ``mig_vs_hyperparameter.png`` and
    ``tc_vs_mig.png``; returns the summary rows."""
    configs = sweep_configs(base, grid, seeds)
    out_dir = Path(out_dir)
    with fs_errors(out_dir, "create"):
        out_dir.mkdir(parents=True, exist_ok=True)
    data = make_dataset(base, progress)
    rows = []
    for cfg in configs:
        folder = RunFolder(out_dir / run_name(cfg))
        if not folder.eval_path.is_file():
            model, _ = train_missing(cfg, folder, data, progress, echo)
            result = evaluate(folder.path, num_samples=num_samples, data=data, model=model,
                              progress=progress)
        else:
            result = read_json(folder.eval_path, error=lambda e: RunError(
                f"{folder.eval_path} is unreadable ({e}); remove it to evaluate the run again"))
        d = result["decomposition"]
        hyper, value = cfg.hyperparameter()
        rows.append({"run": folder.path.name, "objective": cfg.objective, "hyper": hyper,
                     "value": value, "seed": cfg.seed,
                     **_mig_columns(result),
                     "elbo": d["elbo"], "log_likelihood": d["log_likelihood"],
                     "mi": d["mi"], "tc": d["tc"], "dwkl": d["dwkl"]})
        r = rows[-1]
        mig_text = "no MIG" if r["mig"] is None else f"MIG {r['mig']:.4f} +- {r['mig_stderr']:.4f}"
        echo(f"{folder.path.name}: {mig_text}, TC {r['tc']:.3f}, ELBO {r['elbo']:.2f} "
             f"(full dataset)")
    with fs_errors(out_dir / "summary.csv"):
        with open(out_dir / "summary.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    write_json(out_dir / "summary.json", rows)
    if any(r["mig"] is not None for r in rows):
        plot_sweep([r for r in rows if r["mig"] is not None], out_dir)
    return rows


def _mig_columns(result):
    """MIG, its SE and the histogram MIG of an evaluation (None without factors)."""
    m, h = result["mig"], result["mig_histogram"]
    return {"mig": m and m["score"], "mig_stderr": m and m["stderr"],
            "mig_histogram": h and h["score"]}


def format_rows(rows):
    """The rows :func:`sweep` returns as a plain-text table: run, MIG, its SE, the
    histogram MIG, ELBO and TC ("-" where a run has no MIG)."""
    def num(v, width, digits):
        return f"{'-':>{width}s}" if v is None else f"{v:{width}.{digits}f}"

    head = f"{'run':32s} {'MIG':>8s} {'+-':>7s} {'hist.':>7s} {'ELBO':>9s} {'TC':>7s}"
    lines = [head] + [f"{r['run']:32s} {num(r['mig'], 8, 4)} {num(r['mig_stderr'], 7, 4)} "
                      f"{num(r['mig_histogram'], 7, 4)} {r['elbo']:9.2f} {r['tc']:7.3f}"
                      for r in rows]
    return "\n".join(lines)
