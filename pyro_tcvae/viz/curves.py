"""Figures of records: MIG over training time (``mig.jsonl``) and the summary of a
sweep (MIG against beta, TC against MIG).  They take plain records, not run folders."""

from pathlib import Path


def plot_mig_over_time(records, path=None, target=None, title=None, label="MIG"):
    """MIG (+- standard error) against training time, from ``mig.jsonl`` records, with
    the per-factor gaps as thin lines and the epoch on a top axis.

    records : list of dict with ``time`` (s), ``epoch``, ``mig``, ``stderr``, ``gaps``.
    target : float, optional, a horizontal reference line (e.g. 0.3).
    label : str, the legend entry of the MIG line.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    t = np.array([r["time"] for r in records]) / 60.0
    m = np.array([r["mig"] for r in records])
    se = np.array([r["stderr"] for r in records])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name in records[0]["gaps"]:
        g = [r["gaps"][name] for r in records]
        ax.plot(t, g, lw=0.9, alpha=0.6, label=f"gap {name}")
    ax.errorbar(t, m, yerr=se, color="k", marker="o", ms=3, lw=1.8, capsize=2, label=label)
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("MIG / per-factor gap")
    ax.set_ylim(bottom=0)
    epochs = np.array([r["epoch"] for r in records])
    epoch_axis = t[-1] > 0 and epochs[-1] > 0
    if epoch_axis:  # training runs at a steady pace: epochs ~ time
        k = epochs[-1] / t[-1]
        top = ax.secondary_xaxis("top", functions=(lambda x: x * k, lambda e: e / k))
        top.set_xlabel("epoch (approx.)")
    if title:
        ax.set_title(title, fontsize=8, pad=30 if epoch_axis else 6)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_sweep(rows, out_dir):
    """MIG against each objective's hyperparameter (mean +- standard error over seeds;
    beta-weighted objectives share a panel, every other objective has its own) and TC
    against MIG (one point per run), from the sweep's summary rows (``objective``,
    ``hyper``, ``value``, ``mig``, ``mig_stderr``, ``tc``).  Writes
    ``mig_vs_hyperparameter.png`` and ``tc_vs_mig.png``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    out_dir = Path(out_dir)
    panels = {}
    for r in rows:
        panels.setdefault(r["hyper"] or "(none)", set()).add(r["objective"])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (hyper, objectives) in zip(axes[0], sorted(panels.items())):
        for obj in sorted(objectives):
            sel = [r for r in rows if r["objective"] == obj]
            values = sorted({r["value"] if r["value"] is not None else 0.0 for r in sel})
            means, errs = [], []
            for v in values:
                pick = [r for r in sel if (r["value"] if r["value"] is not None else 0.0) == v]
                m = np.array([r["mig"] for r in pick])
                means.append(m.mean())
                errs.append(m.std(ddof=1) / np.sqrt(len(m)) if len(m) > 1 else
                            max(r["mig_stderr"] for r in pick))
            ax.errorbar(values, means, yerr=errs, marker="o", capsize=3, label=obj)
        ax.set_xlabel(hyper)
        ax.set_ylabel("MIG")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "mig_vs_hyperparameter.png", dpi=100)
    fig2, ax2 = plt.subplots(figsize=(4.5, 3.2))
    for obj in sorted({r["objective"] for r in rows}):
        sel = [r for r in rows if r["objective"] == obj]
        ax2.scatter([r["tc"] for r in sel], [r["mig"] for r in sel], label=obj)
    ax2.set_xlabel("total correlation (nats, full dataset)")
    ax2.set_ylabel("MIG")
    ax2.legend(fontsize=8)
    fig2.tight_layout()
    fig2.savefig(out_dir / "tc_vs_mig.png", dpi=100)
    plt.close("all")
    return [out_dir / "mig_vs_hyperparameter.png", out_dir / "tc_vs_mig.png"]
