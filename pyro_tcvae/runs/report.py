"""A study's figures and tables, regenerated from its records alone.

:func:`report` reads ``<results>/<study>/*.json`` (and the plan ``study.json`` the
runner wrote beside them), leaves out records the plan does not ask for (saying so),
and writes ``report.md`` and the figures into the same folder.
"""

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..metrics import mig_sup
from ..viz import study as figures
from .config import RunError, TrainConfig, parse_correlate
from .folder import fs_errors, write_text
from .stats import bootstrap_interval, mean_difference_interval, mean_interval, spearman
from .study import _config_key


def _comparable(config):
    """A configuration's study key as JSON would give it back (options added since a
    record or plan was written take their defaults on both sides)."""
    return json.loads(json.dumps(_config_key(config)))


def study_rows(results_dir):
    """(rows, notes): one row per record that the plan asks for (all records when there
    is no plan), and lines about the records left out."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise RunError(f"no study results in {folder}: run pyro-tcvae study FILE first")
    plan = None
    if (folder / "study.json").is_file():
        plan = json.loads((folder / "study.json").read_text())
    rows, notes = [], []
    for path in sorted(folder.glob("*.json")):
        if path.name == "study.json":
            continue
        try:
            rec = json.loads(path.read_text())
            cfg = TrainConfig.from_dict(rec["config"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            notes.append(f"{path.name}: unreadable ({type(e).__name__}), left out")
            continue
        if plan is not None:
            want = plan["runs"].get(rec.get("run"))
            if want is None:
                notes.append(f"{path.name}: not a run of the study's plan, left out")
                continue
            if _comparable(cfg) != _comparable(TrainConfig.from_dict(want)) or \
                    rec.get("evaluate") != plan.get("evaluate"):
                notes.append(f"{path.name}: made by another configuration than the plan's, "
                             f"left out")
                continue
        rows.append(_row(rec, cfg))
    if plan is not None:
        missing = sorted(set(plan["runs"]) - {r["run"] for r in rows})
        if missing:
            notes.append(f"{len(missing)} of {len(plan['runs'])} planned runs have no record "
                         f"yet: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
    return rows, notes


def _row(rec, cfg):
    ev, uni = rec["eval"], rec.get("eval_uniform")
    hyper, value = cfg.hyperparameter()
    label = cfg.label()
    cell = rec["run"].rsplit("_seed", 1)[0]
    d = ev["decomposition"]
    m, h = ev["mig"], ev["mig_histogram"]
    return {
        "run": rec["run"], "cell": cell, "objective": cfg.objective, "hyper": hyper,
        "value": value, "variant": cell[len(label) + 1:] if cell.startswith(label) else cell,
        "seed": cfg.seed,
        "correlation": None if cfg.correlate is None else parse_correlate(cfg.correlate)[2],
        "correlate": cfg.correlate,
        "mig": m and m["score"], "mig_se": m and m["stderr"], "mig_hist": h and h["score"],
        "mig_sup": record_sup(m) if m else None,
        "gaps": m and m["gaps"],
        "mig_uniform": uni["mig"]["score"] if uni and uni["mig"] else None,
        "elbo": d["elbo"], "tc": d["tc"], "mi": d["mi"], "dwkl": d["dwkl"], "kl": d["kl"],
        "items": ev["items"], "train_seconds": rec.get("train_seconds"),
        "steps": cfg.steps, "commit": rec.get("commit"),
        "mig_over_time": rec.get("mig_over_time") or [],
        "restarts": rec.get("restarts"),
        "shared": shared_latents(m) if m else [],
    }


def record_sup(mig_result):
    """MIG-sup of a record's ``mig``: its ``sup`` where the record has one, else from
    its MI matrix [K, D] and the factor entropies the gaps imply (records made before
    MIG-sup was recorded keep no entropies, but each gap is (top-1 - top-2) MI / H(v_k),
    so H(v_k) follows exactly).  None without an MI matrix, or when an entropy cannot be
    recovered (a gap of 0)."""
    if mig_result.get("sup") is not None:
        return mig_result["sup"]
    names, mi, gaps = mig_result.get("factor_names"), mig_result.get("mi"), mig_result["gaps"]
    if not names or not mi:
        return None
    rows, entropy = [], []
    for name, g in gaps.items():
        top = sorted(mi[names.index(name)], reverse=True) + [0.0]
        if not g > 0:
            return None
        rows.append(mi[names.index(name)])
        entropy.append((top[0] - top[1]) / g)
    return mig_sup(rows, entropy)


def shared_latents(mig_result, min_nats=0.2):
    """Groups of (included) factors whose most informative latent is the same one, each
    carrying at least ``min_nats`` about it: a code MIG does not penalize (each factor's
    gap counts, whichever latent the others use).  ``mig_result``: a record's ``mig``
    with ``mi`` [K, D] (nats), ``factor_names`` and ``included``.  Returns a list of
    sorted name lists, e.g. [["posX", "posY"]]."""
    names, mi = mig_result.get("factor_names"), mig_result.get("mi")
    if not names or not mi:
        return []
    groups = defaultdict(list)
    for k, name in enumerate(names):
        if name not in mig_result.get("included", names) or not mi[k]:
            continue
        j = max(range(len(mi[k])), key=lambda d: mi[k][d])
        if mi[k][j] >= min_nats:
            groups[j].append(name)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def _fmt(m, lo, hi, digits=3):
    if m is None or math.isnan(m):
        return "-"
    if lo == hi:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _setting_order(row):
    """Sort key of a setting (cell) by one of its rows: objective, variant, value."""
    return row["objective"], row["variant"], row["value"] or 0


def cell_table(rows):
    """Markdown table: every setting's mean and 90% interval over seeds."""
    cells = defaultdict(list)
    for r in rows:
        cells[r["cell"]].append(r)
    lines = ["| setting | seeds | MIG | histogram MIG | MIG-sup | ELBO | TC | train min |",
             "|---|---|---|---|---|---|---|---|"]
    for c in sorted(cells, key=lambda c: _setting_order(cells[c][0])):
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
    lines = [f"Mean over all runs of {reference} minus that of each other objective "
             f"(unpaired; 90% bootstrap interval, runs resampled within each objective):",
             "", "| difference | MIG | MIG-sup |", "|---|---|---|"]
    for objective in sorted(set(groups) - {reference}):
        cols = []
        for key in ("mig", "mig_sup"):
            a = [r[key] for r in groups[reference] if r[key] is not None]
            b = [r[key] for r in groups[objective] if r[key] is not None]
            m, lo, hi = mean_difference_interval(a, b)
            cols.append("-" if math.isnan(m) else f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        lines.append(f"| {reference} - {objective} | " + " | ".join(cols) + " |")
    return lines


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
    for c in sorted(cells, key=lambda c: _setting_order(next(iter(cells[c].values())))):
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


def _time_table(times, threshold):
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


def paired_differences(rows, pool_from=4.0, key="mig"):
    """For two objectives run at the same hyperparameter values and seeds (e.g.
    beta-TCVAE and beta-VAE over beta): the per-seed difference of ``key`` (a row's
    "mig", "mig_sup", ...) at each value, and pooled over the values >= ``pool_from``.
    Returns a list of dicts."""
    by = defaultdict(dict)
    for r in rows:
        if r["value"] is not None and r[key] is not None and r["correlation"] is None:
            by[(r["objective"], r["hyper"], r["variant"])][(r["value"], r["seed"])] = r[key]
    out = []
    keys = sorted(by)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if a[1] != b[1] or a[2] != b[2]:
                continue
            first, second = (a, b) if a[0] == "tcvae" or b[0] != "tcvae" else (b, a)
            shared = sorted(set(by[first]) & set(by[second]))
            if not shared:
                continue
            values = sorted({v for v, _ in shared})
            for v in values + ["pooled"]:
                pairs = [k for k in shared if (k[0] == v if v != "pooled" else k[0] >= pool_from)]
                if not pairs:
                    continue
                diffs = [by[first][k] - by[second][k] for k in pairs]
                m, lo, hi = mean_interval(diffs)
                out.append({"first": first[0], "second": second[0], "hyper": first[1],
                            "value": v, "n": len(diffs), "mean": m, "low": lo, "high": hi,
                            "wins": sum(d > 0 for d in diffs)})
    return out


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


def report(results_dir, pool_from=4.0, echo=print, out=None):
    """Write ``report.md`` and the figures of a study from its records; returns the
    markdown text.

    ``results_dir`` may be a list of study folders (e.g. beta-VAE and beta-TCVAE from
    one study, the other objectives from another, for the paper's Fig. 4 and 5): their
    records are pooled and the report goes to ``out`` (default: the first folder)."""
    folders = [Path(d) for d in ([results_dir] if isinstance(results_dir, (str, Path))
                                 else results_dir)]
    rows, notes = [], []
    for f in folders:
        r, n = study_rows(f)
        rows += r
        notes += [f"{f.name}: {line}" for line in n] if len(folders) > 1 else n
    for n in notes:
        echo(n)
    if not rows:
        raise RunError(f"no usable records in {', '.join(map(str, folders))}")
    plans = [json.loads((f / "study.json").read_text()) if (f / "study.json").is_file()
             else {"name": f.name, "about": ""} for f in folders]
    plan = plans[0] if len(plans) == 1 else {
        "name": " + ".join(p["name"] for p in plans),
        "about": "Records pooled from the studies " + ", ".join(p["name"] for p in plans) + "."}
    folder = Path(out) if out is not None else folders[0]
    with fs_errors(folder, "create"):
        folder.mkdir(parents=True, exist_ok=True)
    several_objectives = len({r["objective"] for r in rows}) > 1
    made = []
    with fs_errors(folder, "write"):
        made.append(figures.plot_against_hyperparameter(rows, folder / "mig_vs_hyperparameter.png",
                                                        mean_interval))
        made.append(figures.plot_by_cell(rows, folder / "mig_by_setting.png"))
        if several_objectives:
            unbiased = [r for r in rows if r["correlation"] is None]
            made.append(figures.plot_by_cell(unbiased, folder / "mig_by_objective.png",
                                             group="objective"))
            made.append(figures.plot_by_cell(unbiased, folder / "mig_sup_by_objective.png",
                                             key="mig_sup", ylabel="MIG-sup",
                                             group="objective"))
        corr = tc_mig_correlations(rows)
        made.append(figures.plot_tc_vs_mig(rows, folder / "tc_vs_mig.png", corr))
        made.append(figures.plot_mig_over_time(rows, folder / "mig_over_time.png"))
        pairs = [r["correlate"] for r in rows if r["correlate"]]
        if pairs:
            a, b, _ = parse_correlate(pairs[0])
            made.append(figures.plot_against_correlation(
                rows, folder / "mig_vs_correlation.png", mean_interval,
                xlabel=f"strength of the {a}-{b} sampling bias"))
    items = sorted({r["items"] for r in rows})
    commits = sorted({(r["commit"] or "unknown")[:12] + ("+dirty" if "+dirty" in (r["commit"] or "")
                                                           else "") for r in rows})
    se = [r["mig_se"] for r in rows if r["mig_se"] is not None]
    text = [f"# Study {plan['name']}", "", plan.get("about", ""), "",
            (f"{len(rows)} runs; evaluated on {', '.join(map(str, items))} items "
             f"(largest MIG standard error {max(se):.4f})" if se else f"{len(rows)} runs")
            + f"; code: {', '.join(commits)}.", "",
            "Means over seeds with 90% t-intervals of the mean in brackets. MIG-sup (Li et "
            "al. 2020) is each latent's gap over the factors, averaged over the latents: "
            "it penalizes one latent carrying two factors, which MIG does not; a perfect "
            "code scores (factors scored) / (latents).", "",
            cell_table(rows), "", "## MIG seed by seed", "", seed_table(rows), ""]
    if several_objectives:
        text += ["## Each objective over all its settings", "", objective_table(rows), ""]
    for key, what in (("mig", "MIG"), ("mig_sup", "MIG-sup")):
        diffs = paired_differences(rows, pool_from, key)
        if not diffs:
            continue
        text += [f"## Paired differences of {what} (same setting, same seed)", "",
                 "| first - second | at | pairs (seeds x values) | mean difference | 90% interval | "
                 "first higher |",
                 "|---|---|---|---|---|---|"]
        for d in diffs:
            at = (f"{d['hyper']} >= {pool_from:g} (pooled)" if d["value"] == "pooled"
                  else f"{d['hyper']} = {d['value']:g}")
            text.append(f"| {d['first']} - {d['second']} | {at} | {d['n']} | {d['mean']:+.3f} | "
                        f"[{d['low']:+.3f}, {d['high']:+.3f}] | {d['wins']} of {d['n']} |")
        text.append("")
    text += ["## Total correlation against MIG", "",
             "| runs | n | Spearman rho (TC, MIG) | 90% bootstrap interval |", "|---|---|---|---|"]
    for k, (rho, lo, hi, n) in sorted(corr.items()):
        text.append(f"| {k} | {n} | {rho:+.3f} | [{lo:+.3f}, {hi:+.3f}] |" if not math.isnan(rho)
                    else f"| {k} | {n} | - | - |")
    text.append("")
    text += restarts_table(rows)
    times = time_to_mig(rows)
    if times:
        text += _time_table(times, 0.3)
    if any(r["mig_uniform"] is not None for r in rows):
        text += ["## MIG on the biased set and on the uniform set", "",
                 "| setting | seeds | MIG (biased, trained on) | MIG (uniform) |", "|---|---|---|---|"]
        cells = defaultdict(list)
        for r in rows:
            cells[r["cell"]].append(r)
        for c, rs in sorted(cells.items()):
            text.append(f"| {c} | {len(rs)} | {_fmt(*mean_interval([r['mig'] for r in rs]))} | "
                        f"{_fmt(*mean_interval([r['mig_uniform'] for r in rs]))} |")
        text.append("")
    text += ["Figures: " + ", ".join(f"`{Path(p).name}`" for p in made if p), ""]
    if notes:
        text += ["Left out:", ""] + [f"- {n}" for n in notes] + [""]
    md = "\n".join(text)
    write_text(folder / "report.md", md)
    return md
