"""A study's tables in markdown, from its rows (:func:`~.rows.study_rows`): each
setting's means, seed by seed, each objective over its settings, TC against MIG, the
metric suite (a table per metric and their rank correlations), restarts, time to a MIG,
and MIG on a biased set against the uniform (paired differences: :mod:`~.differences`)."""

import math
from collections import defaultdict

import numpy as np

from .rows import SUITE_COLUMNS, setting_order
from .stats import (bootstrap_interval, estimate_text, mean_difference_interval, mean_interval,
                    spearman)


def _fmt(m, lo, hi, digits=3):
    if m is None or math.isnan(m):
        return "-"
    if lo == hi:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def cell_table(rows):
    """Markdown table: every setting's mean and 90% interval over seeds."""
    cells = defaultdict(list)
    for r in rows:
        cells[r["cell"]].append(r)
    lines = ["| setting | seeds | MIG | histogram MIG | MIG-sup | ELBO | TC | train min |",
             "|---|---|---|---|---|---|---|---|"]
    for c in sorted(cells, key=lambda c: setting_order(cells[c][0])):
        rs = cells[c]
        secs = [r["train_seconds"] for r in rs if r["train_seconds"] is not None]
        cols = [_fmt(*mean_interval([r[k] for r in rs])) for k in ("mig", "mig_hist", "mig_sup")]
        cols += [_fmt(*mean_interval([r["elbo"] for r in rs]), digits=1),
                 _fmt(*mean_interval([r["tc"] for r in rs]), digits=2),
                 f"{sum(secs) / len(secs) / 60:.1f}" if secs else "-"]
        lines.append(f"| {c} | {len(rs)} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def objective_table(rows, threshold=0.2):
    """Markdown table: each objective over all its runs (every hyperparameter value and
    seed; the paper's Fig. 4 compares these distributions): runs, median and mean MIG
    with the 90% interval, the best setting by mean MIG over its seeds (chosen with the
    labels, so optimistic), runs reaching ``threshold``, mean MIG-sup, median training
    minutes.  Runs trained on a biased set are left out."""
    groups = defaultdict(list)
    for r in rows:
        if r["mig"] is not None and r["correlation"] is None:
            groups[r["objective"]].append(r)
    lines = ["| objective | runs | settings | median MIG | mean MIG | best setting (mean MIG) | "
             f"runs with MIG >= {threshold:g} | mean MIG-sup | median train min |",
             "|---|---|---|---|---|---|---|---|---|"]
    for objective in sorted(groups):
        rs = groups[objective]
        cells = defaultdict(list)
        for r in rs:
            cells[r["cell"]].append(r["mig"])
        best = max(cells, key=lambda c: sum(cells[c]) / len(cells[c]))
        secs = sorted(r["train_seconds"] for r in rs if r["train_seconds"] is not None)
        lines.append(
            f"| {objective} | {len(rs)} | {len(cells)} | "
            f"{float(np.median([r['mig'] for r in rs])):.3f} | "
            f"{_fmt(*mean_interval([r['mig'] for r in rs]))} | "
            f"{best} ({sum(cells[best]) / len(cells[best]):.3f}, {len(cells[best])} seed"
            f"{'s' if len(cells[best]) > 1 else ''}) | "
            f"{sum(r['mig'] >= threshold for r in rs)} of {len(rs)} | "
            f"{_fmt(*mean_interval([r['mig_sup'] for r in rs]))} | "
            + (f"{float(np.median(secs)) / 60:.1f} |" if secs else "- |"))
    if "tcvae" in groups and len(groups) > 1:
        lines += [""] + _differences_from(groups, "tcvae")
    return "\n".join(lines)


def _differences_from(groups, reference):
    """Markdown lines: the mean MIG and MIG-sup over all runs of ``reference`` minus
    those of each other objective in ``groups`` ({objective: rows}), unpaired."""
    body, single = [], False
    for objective in sorted(set(groups) - {reference}):
        cols = []
        for key in ("mig", "mig_sup"):
            a = [r[key] for r in groups[reference] if r[key] is not None]
            b = [r[key] for r in groups[objective] if r[key] is not None]
            m, lo, hi = mean_difference_interval(a, b)
            single |= not math.isnan(m) and math.isnan(lo)
            cols.append(estimate_text(m, lo, hi))
        body.append(f"| {reference} - {objective} | " + " | ".join(cols) + " |")
    return [f"Mean over all runs of {reference} minus that of each other objective "
            f"(unpaired; 90% bootstrap interval, runs resampled within each objective"
            f"{'; none where an objective has one run' if single else ''}):",
            "", "| difference | MIG | MIG-sup |", "|---|---|---|"] + body


def seed_table(rows, threshold=0.3):
    """Markdown table: every setting's MIG seed by seed, how many seeds reached
    ``threshold`` (the spread a mean hides: a setting can work on some seeds only), and
    the MIG of the seed with the lowest total correlation (choosing a seed without
    labels)."""
    cells = defaultdict(dict)
    for r in rows:
        cells[r["cell"]][r["seed"]] = r
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| setting | " + " | ".join(f"seed {s}" for s in seeds) +
             f" | seeds with MIG >= {threshold:g} | lowest TC: seed, MIG |",
             "|---|" + "---|" * (len(seeds) + 2)]
    for c in sorted(cells, key=lambda c: setting_order(next(iter(cells[c].values())))):
        got = [cells[c][s]["mig"] for s in seeds if s in cells[c]]
        low = min((r for r in cells[c].values() if r["mig"] is not None),
                  key=lambda r: r["tc"], default=None)
        lines.append(f"| {c} | " + " | ".join(
            "-" if s not in cells[c] or cells[c][s]["mig"] is None
            else f"{cells[c][s]['mig']:.3f}" for s in seeds) +
            f" | {sum(m is not None and m >= threshold for m in got)} of {len(got)} | " +
            ("-" if low is None else f"{low['seed']}, {low['mig']:.3f}") + " |")
    shared = [r for r in rows if r.get("shared")]
    if shared:
        lines += ["", "Runs where two or more factors have the same most informative latent "
                  "(>= 0.2 nats each; MIG scores each factor's gap all the same): " +
                  "; ".join(f"{r['run']} ({', '.join('+'.join(g) for g in r['shared'])})"
                            for r in sorted(shared, key=lambda r: r["run"])) + "."]
    return "\n".join(lines)


def time_to_mig(rows, threshold=0.3):
    """Per setting with MIG-monitor readings: each seed's first training time (minutes)
    and step at which the monitored MIG reached ``threshold`` (None: never, within the
    run).  Returns {cell: [(seed, minutes or None, step or None, last reading's
    minutes)]}."""
    out = defaultdict(list)
    for r in rows:
        readings = r["mig_over_time"]
        if not readings:
            continue
        hit = next((x for x in readings if x["mig"] >= threshold), None)
        out[r["cell"]].append((r["seed"], hit and hit["time"] / 60, hit and hit["step"],
                               readings[-1]["time"] / 60))
    return dict(out)


def time_section(times, threshold):
    """Markdown lines: the times of :func:`time_to_mig` per setting."""
    lines = [f"## Time to MIG {threshold:g} (the MIG monitor's fixed subset)", "",
             "| setting | seeds | reached | median minutes | range | median step | never "
             "(within minutes) |", "|---|---|---|---|---|---|---|"]
    for cell, seeds in sorted(times.items()):
        got = [(m, s) for _, m, s, _ in seeds if m is not None]
        never = [last for _, m, _, last in seeds if m is None]
        mins = sorted(m for m, _ in got)
        steps = sorted(s for _, s in got)
        med = lambda xs: (xs[len(xs) // 2] if len(xs) % 2 else
                          (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2)
        lines.append(
            f"| {cell} | {len(seeds)} | {len(got)} | {med(mins):.1f} | "
            f"{mins[0]:.1f}-{mins[-1]:.1f} | {med(steps):.0f} | "
            + (f"{len(never)} ({', '.join(f'{t:.0f}' for t in never)}) |" if never else "0 |")
            if got else f"| {cell} | {len(seeds)} | 0 | - | - | - | {len(never)} |")
    return lines + [""]


def tc_mig_correlations(rows):
    """Spearman's rho of full-dataset TC against MIG per objective (and over all runs),
    with a 90% bootstrap interval: {objective: (rho, low, high, n)}."""
    out = {}
    groups = defaultdict(list)
    for r in rows:
        if r["mig"] is not None:
            groups[r["objective"]].append(r)
            groups["all runs"].append(r)
    for k, rs in groups.items():
        tc, mig = [r["tc"] for r in rs], [r["mig"] for r in rs]
        lo, hi = bootstrap_interval(spearman, tc, mig)
        out[k] = (spearman(tc, mig), lo, hi, len(rs))
    return out


def restarts_table(rows):
    """Markdown lines on the runs with restarts: each candidate's TC and MIG after the
    candidates' steps, the one chosen (lowest TC), the final MIG, how often the choice
    was also the candidate of highest MIG, and Spearman's rho of TC against MIG over
    every candidate (does the early TC rank the codes?).  [] when no run had restarts."""
    runs = [r for r in rows if r["restarts"]]
    if not runs:
        return []
    lines = ["## Restarts: the candidates, and the one of lowest TC trained on", "",
             "| run | candidates: seed TC / MIG | chosen | MIG at the end |",
             "|---|---|---|---|"]
    tcs, migs, best = [], [], 0
    for r in sorted(runs, key=lambda r: (r["cell"], r["seed"])):
        plan = r["restarts"]
        cands = plan["candidates"]
        chosen = cands[plan["chosen"]]
        lines.append(f"| {r['run']} | " + ", ".join(
            f"{c['seed']}: {c['tc']:.3f} / " + ("-" if c["mig"] is None else f"{c['mig']:.3f}")
            for c in cands) + f" | {chosen['seed']} | {_fmt(r['mig'], 0, 0)} |")
        known = [c for c in cands if c["mig"] is not None]
        tcs += [c["tc"] for c in known]
        migs += [c["mig"] for c in known]
        best += bool(known) and chosen["mig"] == max(c["mig"] for c in known)
    steps = sorted({r["restarts"]["restart_steps"] for r in runs})
    lines += ["", f"TC (nats) and MIG of each candidate after {', '.join(map(str, steps))} "
              f"steps; the MIG is not used in the choice. The lowest-TC candidate was "
              f"also the highest-MIG one in {best} of {len(runs)} runs."]
    if len(tcs) >= 3:
        rho, (lo, hi) = spearman(tcs, migs), bootstrap_interval(spearman, tcs, migs)
        lines.append(f"Spearman's rho of TC against MIG over the {len(tcs)} candidates: "
                     f"{rho:+.3f} (90% bootstrap interval [{lo:+.3f}, {hi:+.3f}]).")
    return lines + [""]


def correlation_section(corr):
    """Markdown lines: the rank correlations of :func:`tc_mig_correlations`."""
    lines = ["## Total correlation against MIG", "",
             "| runs | n | Spearman rho (TC, MIG) | 90% bootstrap interval |", "|---|---|---|---|"]
    for k, (rho, lo, hi, n) in sorted(corr.items()):
        lines.append(f"| {k} | {n} | {rho:+.3f} | [{lo:+.3f}, {hi:+.3f}] |" if not math.isnan(rho)
                     else f"| {k} | {n} | - | - |")
    return lines + [""]


def uniform_section(rows):
    """Markdown lines: each setting's MIG on the (biased) set it trained on and on the
    uniform set; [] when no run was evaluated on both."""
    if not any(r["mig_uniform"] is not None for r in rows):
        return []
    lines = ["## MIG on the biased set and on the uniform set", "",
             "| setting | seeds | MIG (biased, trained on) | MIG (uniform) |", "|---|---|---|---|"]
    cells = defaultdict(list)
    for r in rows:
        cells[r["cell"]].append(r)
    for c, rs in sorted(cells.items(), key=lambda item: setting_order(item[1][0])):
        lines.append(f"| {c} | {len(rs)} | {_fmt(*mean_interval([r['mig'] for r in rs]))} | "
                     f"{_fmt(*mean_interval([r['mig_uniform'] for r in rs]))} |")
    return lines + [""]


def suite_table(rows, key):
    """Markdown lines: the suite number ``key`` (a :data:`SUITE_COLUMNS` key) of every
    setting: its mean over seeds with the 90% t-interval, and each seed's score +- its
    standard error."""
    cells = defaultdict(dict)
    for r in rows:
        if key in (r.get("suite") or {}):
            cells[r["cell"]][r["seed"]] = r["suite"][key]
    seeds = sorted({s for c in cells.values() for s in c})
    lines = ["| setting | seeds | mean | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|---|---|" + "---|" * len(seeds)]
    order = {r["cell"]: setting_order(r) for r in rows}
    for c in sorted(cells, key=lambda c: order[c]):
        got = cells[c]
        each = ["-" if s not in got else f"{got[s][0]:.3f}" + (
            "" if got[s][1] is None or math.isnan(got[s][1]) else f" +- {got[s][1]:.3f}")
            for s in seeds]
        lines.append(f"| {c} | {len(got)} | {_fmt(*mean_interval([v for v, _ in got.values()]))}"
                     f" | " + " | ".join(each) + " |")
    return lines


def metric_correlations(rows):
    """Spearman's rho between every two of MIG, MIG-sup and the suite's numbers over the
    runs with suite results (each pair over the runs that have both).

    Returns
    -------
    (labels, rho, n): the short labels of the quantities present, and [M, M] lists of
    rho (NaN where undefined) and of the runs behind each.
    """
    runs = [r for r in rows if r.get("suite")]
    quantities = [("MIG", lambda r: r["mig"]), ("MIG-sup", lambda r: r["mig_sup"])] + [
        (short, lambda r, k=key: r["suite"].get(k, (None,))[0])
        for key, _, short, *_ in SUITE_COLUMNS]
    values = [(label, [get(r) for r in runs]) for label, get in quantities]
    values = [(label, v) for label, v in values if any(x is not None for x in v)]
    rho, n = [], []
    for _, a in values:
        rho.append([]), n.append([])
        for _, b in values:
            both = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
            n[-1].append(len(both))
            rho[-1].append(spearman([x for x, _ in both], [y for _, y in both]))
    return [label for label, _ in values], rho, n


def suite_section(rows):
    """Markdown lines: the metric suite, when some runs have its results: a table per
    number, and the rank-correlation matrix between the metrics (do they agree, as
    Locatello et al. 2019 asked?).  [] when no run has them."""
    runs = [r for r in rows if r.get("suite")]
    if not runs:
        return []
    items = sorted({r["suite_items"] for r in runs if r.get("suite_items")})
    lines = ["## The metric suite", "",
             f"{len(runs)} of {len(rows)} runs were scored with the field's metrics, each on "
             f"its evaluation's fixed subset of {', '.join(f'{i:,}' for i in items)} items "
             f"(the posterior means). Per setting: the mean over seeds with its 90% "
             f"t-interval, then each seed's score +- its standard error.", ""]
    for key, label, *_ in SUITE_COLUMNS:
        if any(key in r["suite"] for r in runs):
            lines += [f"### {label}", ""] + suite_table(runs, key) + [""]
    labels, rho, n = metric_correlations(rows)
    sizes = sorted({x for row in n for x in row})
    lines += ["### Rank correlations between the metrics", "",
              f"Spearman's rho over the runs (each pair over the runs that have both: "
              f"{sizes[0]}" + (f" to {sizes[-1]}" if sizes[-1] != sizes[0] else "") +
              " runs); - where a metric is constant or there are fewer than 3 runs.", "",
              "| | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for label, row in zip(labels, rho):
        lines.append(f"| {label} | " + " | ".join(
            "-" if math.isnan(x) else f"{x:+.2f}" for x in row) + " |")
    return lines + [""]


def sessions_section(rows):
    """Markdown lines: the runs that more than one process trained (resumed in another
    session, at another commit or on another machine), from each record's ``sessions``:
    the step each process started from, the commits and the CPUs.  A change of CPU or
    thread count reorders floating-point sums from the step where it happened, so such
    a run repeats an uninterrupted one only up to that spread.  [] when each run was
    trained by one process (or its record predates ``sessions``)."""
    lines = []
    for r in rows:
        parts = r.get("sessions") or []
        if len(parts) < 2:
            continue
        commits = dict.fromkeys((p.get("commit") or "unknown")[:7] for p in parts)
        cpus = dict.fromkeys(p.get("cpu") or "unknown" for p in parts)
        lines.append(f"| {r['run']} | {len(parts)} | "
                     + " / ".join(f"{p['step']:,}" for p in parts)
                     + f" | {', '.join(commits)} | {'; '.join(cpus)} |")
    if not lines:
        return []
    return ["## Runs trained in several sessions", "",
            "Each process that trained the run, from its record: the step it resumed "
            "from, its commit and its CPU. On one CPU and thread count a resumed run "
            "repeats an uninterrupted one exactly; another CPU or thread count changes "
            "the order of floating-point sums from there on.", "",
            "| run | processes | started at step | commits | CPUs |",
            "|---|---|---|---|---|", *lines, ""]
