"""A study's rows: one flat dict per record, what every table and figure of a report
reads.

:func:`study_rows` reads ``<results>/<study>/*.json`` (and the plan ``study.json`` the
runner wrote beside them) and leaves out the records the plan does not ask for, saying
so.  A row holds the run's setting (``cell``: its name without the seed; ``objective``,
``hyper``, ``value``, ``variant``, ``seed``, ``correlation``), its scores (``mig``,
``mig_se``, ``mig_hist``, ``mig_sup``, ``mig_uniform``, the decomposition's ``elbo``,
``tc``, ``mi``, ``dwkl``, ``kl``; ``suite``: {column: (value, stderr)} of
:data:`SUITE_COLUMNS`) and its history (``train_seconds``, ``mig_over_time``,
``restarts``, ``commit``).
"""

import json
from collections import defaultdict
from pathlib import Path

from ..metrics import mig_sup
from ..runs.config import RunError, TrainConfig, parse_correlate, parse_epochs
from .plan import config_key, evaluate_key

#: The suite's numbers in a report: (row key, label, short label, suite metric, value
#: field, stderr field).
SUITE_COLUMNS = (
    ("beta_vae", "BetaVAE score", "BetaVAE", "beta_vae", "score", "stderr"),
    ("factor_vae", "FactorVAE score", "FactorVAE", "factor_vae", "score", "stderr"),
    ("dci_d", "DCI disentanglement", "DCI-D", "dci", "score", "stderr"),
    ("dci_c", "DCI completeness", "DCI-C", "dci", "completeness", "completeness_stderr"),
    ("dci_i", "DCI informativeness", "DCI-I", "dci", "informativeness",
     "informativeness_stderr"),
    ("sap", "SAP", "SAP", "sap", "score", "stderr"),
    ("modularity", "modularity", "modularity", "modularity", "score", "stderr"),
    ("explicitness", "explicitness", "explicitness", "modularity", "explicitness",
     "explicitness_stderr"),
)


def setting_order(row):
    """Sort key of a setting (cell) by one of its rows: objective, sampling bias (by
    strength: 10 before 100), variant, hyperparameter value."""
    bias = row.get("correlation")
    return row["objective"], -1 if bias is None else bias, row["variant"], row["value"] or 0


def _comparable(config):
    """A configuration's study key as JSON would give it back (options added since a
    record or plan was written take their defaults on both sides)."""
    return json.loads(json.dumps(config_key(config)))


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
        rows.append(record_row(rec, cfg))
    if plan is not None:
        missing = sorted(set(plan["runs"]) - {r["run"] for r in rows})
        if missing:
            notes.append(f"{len(missing)} of {len(plan['runs'])} planned runs have no record "
                         f"yet: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
    return rows, notes


def record_row(rec, cfg):
    """The row of the record ``rec`` (a dict) made by the configuration ``cfg``."""
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
        "mig_at": parse_epochs(cfg.mig_at), "mig_items": cfg.mig_items,
        "restarts": rec.get("restarts"),
        "shared": shared_latents(m) if m else [],
        "suite": suite_values(ev.get("suite")),
        "suite_items": (ev.get("suite") or {}).get("items"),
        "sessions": rec.get("sessions") or [],
    }


def suite_values(suite):
    """{column: (value, stderr)} of a record's suite results for the report's columns
    (:data:`SUITE_COLUMNS`); {} without suite results."""
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
