"""A study's figures and tables, regenerated from its records alone.

:func:`report` reads ``<results>/<study>/*.json`` (and the plan ``study.json`` the
runner wrote beside them), leaves out records the plan does not ask for (saying so),
and writes ``report.md`` and the figures into the same folder.  :func:`rescore`
computes the metric suite again for the records that keep their codes
(``<run>.codes.npz``), from those files alone.
"""

import json
import time
from collections import defaultdict
from pathlib import Path

from ..metrics import mig_sup
from ..metrics.suite import SUITE, load_codes, score_codes
from ..viz import study as figures
from .config import RunError, TrainConfig, parse_correlate
from .folder import fs_errors, write_json, write_text
from .stats import mean_interval
from .study import _config_key, evaluate_key, git_commit
from .tables import (SUITE_COLUMNS, cell_table, correlation_section, differences_section,
                     objective_table, paired_differences, restarts_table, seed_table,
                     suite_section, tc_mig_correlations, time_section, time_to_mig,
                     uniform_section)


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
                    evaluate_key(rec.get("evaluate")) != evaluate_key(plan.get("evaluate")):
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
        "suite": suite_values(ev.get("suite")),
        "suite_items": (ev.get("suite") or {}).get("items"),
    }


def suite_values(suite):
    """{column: (value, stderr)} of a record's suite results for the report's columns
    (:data:`~.tables.SUITE_COLUMNS`); {} without suite results."""
    out = {}
    for key, _, _, name, value, stderr in SUITE_COLUMNS:
        r = (suite or {}).get(name)
        if r and r.get(value) is not None:
            out[key] = (r[value], r.get(stderr))
    return out


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


def rescore(results_dir, metrics=SUITE, echo=print):
    """Compute the metric suite again for every record of a study folder that has a
    codes file beside it, from that file alone (no model, no dataset), and write the
    results into the records (``eval.suite``; ``eval_uniform.suite`` from
    ``<run>.uniform.codes.npz``), each with ``rescored``: the code's commit and the
    time.  Returns how many records were rewritten."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise RunError(f"no study results in {folder}: run pyro-tcvae study FILE first")
    commit, done = git_commit(), 0
    for path in sorted(folder.glob("*.json")):
        if path.name == "study.json":
            continue
        rec = None
        for key, suffix in (("eval", ".codes.npz"), ("eval_uniform", ".uniform.codes.npz")):
            codes_path = path.with_name(path.stem + suffix)
            if not codes_path.is_file():
                continue
            rec = rec or json.loads(path.read_text())
            if not rec.get(key):
                echo(f"{codes_path.name}: the record has no {key!r}, left as it is")
                continue
            codes = load_codes(codes_path)
            suite = score_codes(codes, metrics, errors="record")
            suite["items"] = len(codes["loc"])
            suite["rescored"] = {"commit": commit, "created": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            rec[key]["suite"] = suite
        if rec is not None:
            write_json(path, rec)
            done += 1
    echo(f"{folder.name}: the suite scored again for {done} record{'s' * (done != 1)} from "
         f"their codes files")
    return done


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
    text += uniform_section(rows)
    text += ["Figures: " + ", ".join(f"`{Path(p).name}`" for p in made if p), ""]
    if notes:
        text += ["Left out:", ""] + [f"- {n}" for n in notes] + [""]
    md = "\n".join(text)
    write_text(folder / "report.md", md)
    return md
