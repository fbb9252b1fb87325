"""Sweeps: betas x seeds x objectives into one folder, then a table and two plots."""

import csv
import json
from pathlib import Path

from .evaluate import evaluate
from .runs import TrainConfig, write_json
from .train import make_dataset, train


def run_name(objective, beta, seed):
    return f"{objective}_beta{beta:g}_seed{seed}"


def sweep(base, out_dir, betas=(1.0, 4.0, 6.0), seeds=(0,), objectives=("tcvae",),
          num_samples=10_000, progress=True, echo=print):
    """Train and evaluate every combination; a run already evaluated is skipped, an
    interrupted one resumed. Writes ``summary.csv``, ``summary.json``,
    ``mig_vs_beta.png`` and ``tc_vs_mig.png``; returns the summary rows."""
    from .viz import plot_sweep

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = make_dataset(base, progress)
    rows = []
    for objective in objectives:
        for beta in betas:
            for seed in seeds:
                if objective == "vae" and beta != betas[0]:
                    continue  # the plain ELBO has no beta: one run per seed
                cfg = TrainConfig(**{**base.to_dict(), "objective": objective,
                                     "beta": float(beta), "seed": int(seed)})
                run = out_dir / run_name(objective, beta, seed)
                if not (run / "eval.json").is_file():
                    if not (run / "model.pt").is_file():
                        resume = (run / "checkpoint.pt").is_file()
                        summary = train(None if resume else cfg, run, resume=resume,
                                        progress=progress, data=data, echo=echo)
                        if summary["interrupted"]:
                            raise KeyboardInterrupt
                    evaluate(run, num_samples=num_samples, data=data, progress=progress)
                result = json.loads((run / "eval.json").read_text())
                d = result["decomposition"]
                rows.append({"run": run.name, "objective": objective,
                             "beta": 1.0 if objective == "vae" else float(beta), "seed": seed,
                             "mig": result["mig"]["score"],
                             "mig_stderr": result["mig"]["stderr"],
                             "mig_histogram": result["mig_histogram"]["score"],
                             "elbo": d["elbo"], "log_likelihood": d["log_likelihood"],
                             "mi": d["mi"], "tc": d["tc"], "dwkl": d["dwkl"]})
                echo(f"{run.name}: MIG {rows[-1]['mig']:.4f} +- {rows[-1]['mig_stderr']:.4f}, "
                     f"TC {rows[-1]['tc']:.3f}, ELBO {rows[-1]['elbo']:.2f}")
    with open(out_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_json(out_dir / "summary.json", rows)
    plot_sweep(rows, out_dir)
    return rows


def format_rows(rows):
    head = f"{'run':32s} {'MIG':>8s} {'+-':>7s} {'hist.':>7s} {'ELBO':>9s} {'TC':>7s}"
    lines = [head] + [f"{r['run']:32s} {r['mig']:8.4f} {r['mig_stderr']:7.4f} "
                      f"{r['mig_histogram']:7.4f} {r['elbo']:9.2f} {r['tc']:7.3f}" for r in rows]
    return "\n".join(lines)
