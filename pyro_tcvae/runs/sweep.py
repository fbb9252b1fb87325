"""Sweeps: betas x seeds x objectives into one folder, then a table and two plots."""

import csv
import dataclasses
import json
from pathlib import Path

from ..viz import plot_sweep
from .build import make_dataset
from .config import RunError
from .evaluate import evaluate
from .folder import RunFolder, fs_errors, write_json
from .training import train


def run_name(objective, beta, seed):
    return f"{objective}_beta{beta:g}_seed{seed}"


def sweep(base, out_dir, betas=(1.0, 4.0, 6.0), seeds=(0,), objectives=("tcvae",),
          num_samples=10_000, progress=True, echo=print):
    """Train and evaluate every combination; a run already evaluated is skipped, an
    interrupted one resumed.  The dataset is built once for all runs.  Writes
    ``summary.csv``, ``summary.json``, ``mig_vs_beta.png`` and ``tc_vs_mig.png``;
    returns the summary rows."""
    base = base.validate()
    configs = []
    for objective in objectives:
        for beta in betas:
            if objective == "vae" and beta != betas[0]:
                continue  # the plain ELBO has no beta: one run per seed
            for seed in seeds:
                configs.append(dataclasses.replace(base, objective=objective,
                                                   beta=float(beta), seed=int(seed)).validate())
    out_dir = Path(out_dir)
    with fs_errors(out_dir, "create"):
        out_dir.mkdir(parents=True, exist_ok=True)
    data = make_dataset(base, progress)
    rows = []
    for cfg in configs:
        folder = RunFolder(out_dir / run_name(cfg.objective, cfg.beta, cfg.seed))
        if not folder.eval_path.is_file():
            model = None
            if not folder.model_path.is_file():
                resume = folder.checkpoint_path.is_file()
                summary = train(None if resume else cfg, folder.path, resume=resume,
                                progress=progress, data=data, echo=echo)
                if summary["interrupted"]:
                    raise KeyboardInterrupt
                model = summary["model"]
            result = evaluate(folder.path, num_samples=num_samples, data=data, model=model,
                              progress=progress)
        else:
            result = _read_json(folder.eval_path)
        d = result["decomposition"]
        rows.append({"run": folder.path.name, "objective": cfg.objective,
                     "beta": 1.0 if cfg.objective == "vae" else cfg.beta, "seed": cfg.seed,
                     "mig": result["mig"]["score"], "mig_stderr": result["mig"]["stderr"],
                     "mig_histogram": result["mig_histogram"]["score"],
                     "elbo": d["elbo"], "log_likelihood": d["log_likelihood"],
                     "mi": d["mi"], "tc": d["tc"], "dwkl": d["dwkl"]})
        echo(f"{folder.path.name}: MIG {rows[-1]['mig']:.4f} +- {rows[-1]['mig_stderr']:.4f}, "
             f"TC {rows[-1]['tc']:.3f}, ELBO {rows[-1]['elbo']:.2f} (full dataset)")
    with fs_errors(out_dir / "summary.csv"):
        with open(out_dir / "summary.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    write_json(out_dir / "summary.json", rows)
    plot_sweep(rows, out_dir)
    return rows


def _read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"{path} is unreadable ({e}); remove it to evaluate the run again") from None


def format_rows(rows):
    head = f"{'run':32s} {'MIG':>8s} {'+-':>7s} {'hist.':>7s} {'ELBO':>9s} {'TC':>7s}"
    lines = [head] + [f"{r['run']:32s} {r['mig']:8.4f} {r['mig_stderr']:7.4f} "
                      f"{r['mig_histogram']:7.4f} {r['elbo']:9.2f} {r['tc']:7.3f}" for r in rows]
    return "\n".join(lines)
