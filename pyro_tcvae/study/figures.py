"""Figures of a study, drawn from its rows (one dict per run; see
:func:`~.rows.study_rows`): MIG and ELBO against the hyperparameter,
MIG per setting, TC against MIG, MIG against the strength of a sampling bias."""

import math
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .rows import setting_order  # noqa: E402

_COLOURS = {"tcvae": "C0", "beta-vae": "C1", "factorvae": "C2", "annealed": "C3",
            "dip-i": "C4", "dip-ii": "C5", "vae": "C7"}


def _colour(objective):
    return _COLOURS.get(objective, "C8")


def _finish(fig, path):
    """Lay out, save and close a figure; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _interval(values, interval):
    m, lo, hi = interval([v for v in values if v is not None])
    return m, lo, hi


def plot_against_hyperparameter(rows, path, interval):
    """MIG (left) and full-dataset ELBO (right) against each objective's hyperparameter:
    the mean over seeds, its 90% interval (band) and every seed (dots)."""
    groups = defaultdict(list)
    for r in rows:
        if r["value"] is not None:
            groups[(r["objective"], r["variant"], r["hyper"])].append(r)
    if not any(len({r["value"] for r in v}) > 1 for v in groups.values()):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for (objective, variant, hyper), rs in sorted(groups.items()):
        label = objective + (f" {variant}" if variant else "")
        xs = sorted({r["value"] for r in rs})
        for ax, key in zip(axes, ("mig", "elbo")):
            stats = [_interval([r[key] for r in rs if r["value"] == x], interval) for x in xs]
            m = [s[0] for s in stats]
            ax.plot(xs, m, "-o", color=_colour(objective), label=label, ms=4)
            ax.fill_between(xs, [s[1] for s in stats], [s[2] for s in stats],
                            color=_colour(objective), alpha=0.2, lw=0)
            ax.scatter([r["value"] for r in rs], [r[key] for r in rs], s=8,
                       color=_colour(objective), alpha=0.5)
            ax.set_xlabel(hyper)
    axes[0].set_ylabel("MIG")
    axes[1].set_ylabel("ELBO (nats per item, evaluated items)")
    _off_scale(axes[1], [r for rs in groups.values() for r in rs], "elbo")
    axes[0].legend(fontsize=8)
    fig.suptitle("mean over seeds, 90% interval of the mean (band), seeds (dots)", fontsize=9)
    return _finish(fig, path)


def _off_scale(ax, rows, key, side="low", axis="y"):
    """Keep a diverged run (a value far below, ``side="low"``, or above the rest) from
    flattening the others: the ``axis`` stops at the rest's range and the run is named
    at the bottom edge."""
    vals = sorted(r[key] for r in rows if r[key] is not None)
    if len(vals) < 4:
        return
    q1, q3 = np.quantile(vals, [0.25, 0.75])
    reach = 10 * max(q3 - q1, 1e-9)
    off = (lambda v: v < q1 - reach) if side == "low" else (lambda v: v > q3 + reach)
    out = [r for r in rows if r[key] is not None and off(r[key])]
    if not out:
        return
    kept = [v for v in vals if not off(v)]
    span = max(kept) - min(kept) or 1.0
    pad_low, pad_high = (0.15, 0.05) if side == "low" else (0.05, 0.15)
    (ax.set_ylim if axis == "y" else ax.set_xlim)(min(kept) - pad_low * span,
                                                  max(kept) + pad_high * span)
    text = "off scale:\n" + "\n".join(f"{r['run']} {r[key]:.0f}" for r in out)
    right = side == "high" and axis == "x"
    ax.text(0.98 if right else 0.02, 0.3 if right else 0.02, text, transform=ax.transAxes,
            fontsize=6, color="C3", va="bottom", ha="right" if right else "left")


def plot_by_cell(rows, path, key="mig", ylabel="MIG", group="cell"):
    """A box and the runs of ``key`` for every setting (``group="cell"``: its seeds) or
    every objective (``group="objective"``: all its settings and seeds, the paper's
    Fig. 4)."""
    cells = defaultdict(list)
    for r in rows:
        if r[key] is not None:
            cells[r[group]].append(r)
    if not cells:
        return None
    names = sorted(cells, key=lambda c: setting_order(cells[c][0]))
    fig, ax = plt.subplots(figsize=(max(5, 0.55 * len(names) + 2), 4))
    data = [[r[key] for r in cells[c]] for c in names]
    ax.boxplot(data, widths=0.5, showfliers=False, medianprops={"color": "k"})
    for i, c in enumerate(names):
        ys = [r[key] for r in cells[c]]
        xs = i + 1 + np.linspace(-0.12, 0.12, len(ys)) if len(ys) > 1 else [i + 1]
        ax.scatter(xs, ys, s=14, color=_colour(cells[c][0]["objective"]), zorder=3)
    ax.set_xticks(range(1, len(names) + 1))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    return _finish(fig, path)


def plot_tc_vs_mig(rows, path, correlations):
    """Full-dataset TC against MIG, one point per run, coloured by objective;
    ``correlations`` maps an objective to (rho, low, high, n) for the legend."""
    pts = [r for r in rows if r["mig"] is not None and r["tc"] is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 4))
    for objective in sorted({r["objective"] for r in pts}):
        rs = [r for r in pts if r["objective"] == objective]
        rho = correlations.get(objective)
        text = "" if rho is None or math.isnan(rho[0]) else \
            f" (Spearman {rho[0]:+.2f} [{rho[1]:+.2f}, {rho[2]:+.2f}], n={rho[3]})"
        ax.scatter([r["tc"] for r in rs], [r["mig"] for r in rs], s=16,
                   color=_colour(objective), label=objective + text)
    ax.set_xlabel("total correlation (nats, estimated on the evaluated items)")
    ax.set_ylabel("MIG")
    _off_scale(ax, pts, "tc", side="high", axis="x")
    ax.legend(fontsize=7)
    return _finish(fig, path)


def plot_against_correlation(rows, path, xlabel="strength of the sampling bias"):
    """MIG against the strength of the sampling bias: on the biased set the runs trained
    on (left) and on the uniform set (right).  Each run is a point, each objective's
    mean over its seeds a line (the intervals are in the report's tables: with 3 seeds a
    t-interval spans most of [0, 1]).  None with fewer than two strengths."""
    rs = [r for r in rows if r["correlation"] is not None]
    xs = sorted({r["correlation"] for r in rs})
    if len(xs) < 2:
        return None
    panels = [(k, t) for k, t in (("mig", "on the biased set (trained on)"),
                                  ("mig_uniform", "on the uniform set"))
              if any(r[k] is not None for r in rs)]
    objectives = sorted({r["objective"] for r in rs})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False,
                             sharey=True)
    for ax, (key, title) in zip(axes[0], panels):
        for i, objective in enumerate(objectives):
            mine = [r for r in rs if r["objective"] == objective and r[key] is not None]
            shift = (i - (len(objectives) - 1) / 2) * 0.1  # side by side, not on top
            ax.scatter([xs.index(r["correlation"]) + shift for r in mine],
                       [r[key] for r in mine], color=_colour(objective), s=14, alpha=0.7)
            means = [(xs.index(x), float(np.mean(v))) for x in xs
                     if (v := [r[key] for r in mine if r["correlation"] == x])]
            ax.plot([m[0] + shift for m in means], [m[1] for m in means], "-",
                    color=_colour(objective), lw=1.2, label=f"{objective} (mean)")
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([f"{x:g}" for x in xs])
        ax.set_xlabel(xlabel)
        ax.set_title(f"MIG {title}", fontsize=9)
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("MIG")
    axes[0][0].legend(fontsize=7)
    return _finish(fig, path)


def plot_mig_over_time(rows, path, threshold=0.3):
    """The MIG monitor's readings against training minutes, one line per run (seed),
    a panel per setting, with the ``threshold`` line; None when no run has readings."""
    cells = defaultdict(list)
    for r in rows:
        if r["mig_over_time"]:
            cells[r["cell"]].append(r)
    if not cells:
        return None
    fig, axes = plt.subplots(1, len(cells), figsize=(5.2 * len(cells), 3.8), squeeze=False)
    for ax, cell in zip(axes[0], sorted(cells)):
        for r in sorted(cells[cell], key=lambda r: r["seed"]):
            pts = r["mig_over_time"]
            ax.plot([p["time"] / 60 for p in pts], [p["mig"] for p in pts],
                    marker=".", label=f"seed {r['seed']}")
        ax.axhline(threshold, color="0.6", lw=0.8, ls="--")
        ax.set_title(cell, fontsize=9)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("training minutes")
        ax.set_ylabel("MIG (the monitor's fixed subset)")
        ax.legend(fontsize=7)
    return _finish(fig, path)


def plot_budget_curves(rows, path):
    """MIG (top) and the ELBO (bottom, where the readings have it) of the MIG monitor's
    ``mig_at`` readings against epochs: a panel per value of the hyperparameter (e.g.
    beta 4, beta 6), a colour per objective, a thin line per seed and a thick one for
    the mean over seeds; runs without a hyperparameter value (the plain VAE) are drawn
    in every panel as the reference.  None when no run has such readings."""
    from .budget import readings_at

    runs = [r for r in rows if readings_at(r)]
    if not runs:
        return None
    values = sorted({r["value"] for r in runs if r["value"] is not None}) or [None]
    has_elbo = any(x.get("elbo") is not None for r in runs for x in readings_at(r).values())
    keys = [("mig", "MIG (monitor's subset)")] + ([("elbo", "ELBO (nats)")] if has_elbo else [])
    fig, axes = plt.subplots(len(keys), len(values), figsize=(5.2 * len(values),
                                                              3.4 * len(keys)),
                             squeeze=False)
    for col, value in enumerate(values):
        panel = [r for r in runs if r["value"] == value or r["value"] is None]
        groups = defaultdict(list)
        for r in panel:
            groups[r["objective"]].append(r)
        for row_i, (key, label) in enumerate(keys):
            ax = axes[row_i][col]
            for objective, rs in sorted(groups.items()):
                colour = _colour(objective)
                by_epoch = defaultdict(list)
                for r in sorted(rs, key=lambda r: r["seed"]):
                    pts = sorted((e, x[key]) for e, x in readings_at(r).items()
                                 if x.get(key) is not None)
                    if pts:
                        ax.plot(*zip(*pts), color=colour, lw=0.8, alpha=0.35)
                    for e, v in pts:
                        by_epoch[e].append(v)
                if by_epoch:
                    es = sorted(by_epoch)
                    ax.plot(es, [float(np.mean(by_epoch[e])) for e in es], color=colour,
                            lw=2, marker="o", ms=4,
                            label=f"{objective} (mean of {len(rs)})")
            hyper = next((r["hyper"] for r in panel if r["value"] is not None), None)
            if row_i == 0:
                ax.set_title(f"{hyper} = {value:g}" if value is not None else "all runs",
                             fontsize=9)
                ax.set_ylim(bottom=0)
                ax.legend(fontsize=7)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
    return _finish(fig, path)
