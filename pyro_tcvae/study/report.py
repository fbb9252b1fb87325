"""A study's report: ``report.md`` and the figures, regenerated from its records alone.

:func:`report` reads the rows of one or more study folders (:func:`~.rows.study_rows`),
draws the figures (:mod:`~.figures`) and writes the tables (:mod:`~.tables`,
:mod:`~.differences`) into ``report.md``.
"""

import json
from pathlib import Path

from ..runs.config import RunError, parse_correlate
from ..runs.folder import fs_errors, write_text
from . import figures
from .budget import budget_section
from .differences import differences_section, paired_differences
from .rows import study_rows
from .stats import mean_interval
from .tables import (cell_table, correlation_section, objective_table, restarts_table,
                     seed_table, sessions_section, suite_section, tc_mig_correlations,
                     time_section, time_to_mig, uniform_section)


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
        left = [p.name for f in folders for p in sorted(f.glob("*.json"))
                if p.name != "study.json"]  # with no rows, every record file was left out
        raise RunError(f"no usable records in {', '.join(map(str, folders))}" +
                       (f" ({len(left)} file(s) left out, e.g. {left[0]}: see the lines "
                        f"above)" if left else " (no record files: run pyro-tcvae study "
                                               "FILE first)"))
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
        made.append(figures.plot_budget_curves(rows, folder / "budget_curves.png"))
        pairs = [r["correlate"] for r in rows if r["correlate"]]
        if pairs:
            a, b, _ = parse_correlate(pairs[0])
            made.append(figures.plot_against_correlation(
                rows, folder / "mig_vs_correlation.png",
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
            "code of K factors in D latents scores min(K, D) / D.", "",
            cell_table(rows), "", "## MIG seed by seed", "", seed_table(rows), ""]
    if several_objectives and any(r["correlation"] is None for r in rows):
        text += ["## Each objective over all its settings", "", objective_table(rows), ""]
    for key, what in (("mig", "MIG"), ("mig_sup", "MIG-sup"),
                      ("mig_uniform", "MIG on the uniform set")):
        text += differences_section(paired_differences(rows, pool_from, key), what, pool_from)
    text += correlation_section(corr)
    text += suite_section(rows)
    text += restarts_table(rows)
    times = time_to_mig(rows)
    if times:
        text += time_section(times, 0.3)
    text += budget_section(rows)
    text += uniform_section(rows)
    text += sessions_section(rows)
    text += ["Figures: " + ", ".join(f"`{Path(p).name}`" for p in made if p), ""]
    if notes:
        text += ["Left out:", ""] + [f"- {n}" for n in notes] + [""]
    md = "\n".join(text)
    write_text(folder / "report.md", md)
    return md
