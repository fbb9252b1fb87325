"""The budget curve of a study whose runs read MIG at given epochs (``mig_at``): each
setting's MIG and ELBO at those epochs over its seeds, and the paired difference of two
objectives (e.g. beta-TCVAE minus beta-VAE at the same beta and seed) at each epoch.
Pure functions of a study's rows (:func:`~.rows.study_rows`)."""

import math
from collections import defaultdict

from .differences import paired_differences
from .stats import estimate_text


def readings_at(row):
    """{epoch: reading} of a row's MIG-monitor readings taken at its ``mig_at`` epochs.

    The monitor reads at the first step at or past each epoch, so a reading belongs to
    epoch ``e`` when its own epoch lies within one step after ``e``; epochs past the
    run's end have none."""
    out = {}
    for e in row.get("mig_at") or ():
        for r in row["mig_over_time"]:
            ep, step = r.get("epoch"), r.get("step")
            if ep is None or not step:
                continue
            if 0 <= ep - e < ep / step + 1e-9:
                out[e] = r
                break
    return out


def budget_epochs(rows):
    """The epochs at which some run of ``rows`` has a ``mig_at`` reading, sorted."""
    return sorted({e for r in rows for e in readings_at(r)})


def _cells(rows):
    cells = defaultdict(list)
    for r in rows:
        if readings_at(r):
            cells[r["cell"]].append(r)
    return dict(sorted(cells.items()))


def _spread(values, digits):
    """'mean (min to max)' of ``values``; '-' for none."""
    if not values:
        return "-"
    m = sum(values) / len(values)
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ({min(values):.{digits}f} to {max(values):.{digits}f})"


def curve_table(rows, key="mig", digits=3):
    """Markdown lines: per setting, the mean of ``key`` ("mig", "elbo", "tc" ...) over
    its seeds at each ``mig_at`` epoch, with the seeds' range."""
    epochs = budget_epochs(rows)
    lines = ["| setting | seeds | " + " | ".join(f"epoch {e:g}" for e in epochs) + " |",
             "|---|---|" + "---|" * len(epochs)]
    for cell, runs in _cells(rows).items():
        at = [readings_at(r) for r in runs]
        values = [[a[e][key] for a in at if e in a and a[e].get(key) is not None]
                  for e in epochs]
        lines.append(f"| {cell} | {len(runs)} | " +
                     " | ".join(_spread(v, digits) for v in values) + " |")
    return lines


def differences_along(rows, key="mig"):
    """The paired differences of :func:`~.differences.paired_differences` of ``key`` at
    each ``mig_at`` epoch (each value separately, none pooled): {(first, second, hyper,
    value, variant): {epoch: difference row}}."""
    out = defaultdict(dict)
    for e in budget_epochs(rows):
        at = []
        for r in rows:
            reading = readings_at(r).get(e)
            if reading is not None and reading.get(key) is not None:
                at.append({**r, key: reading[key]})
        for d in paired_differences(at, pool_from=math.inf, key=key):
            out[(d["first"], d["second"], d["hyper"], d["value"], d["variant"])][e] = d
    return dict(out)


def budget_section(rows):
    """Markdown lines: the budget curve (MIG, the ELBO and the total correlation of the
    monitor's fixed subset at each ``mig_at`` epoch; the paired difference of MIG at
    each epoch); [] when no run has ``mig_at`` readings."""
    if not budget_epochs(rows):
        return []
    items = sorted({r.get("mig_items") for r in rows if r.get("mig_items")})
    subset = f"a fixed subset of {', '.join(f'{n:,}' for n in items)} items" if items else \
        "a fixed subset"
    lines = ["## Along training (the budget curve)", "",
             f"The MIG monitor's readings at the epochs of `mig_at`, on {subset} "
             "(drawn with the run's seed; all of it is the aggregate posterior): the mean "
             "over the seeds, with their range. A reading is taken at the first step at or "
             "past the epoch.", "", "MIG:", ""] + curve_table(rows, "mig")
    if any(r.get("elbo") is not None for row in rows for r in readings_at(row).values()):
        lines += ["", "ELBO of the subset (nats per image):", ""] + \
            curve_table(rows, "elbo", 2) + \
            ["", "Total correlation of the subset (nats):", ""] + curve_table(rows, "tc", 2)
    diffs = differences_along(rows)
    if diffs:
        epochs = budget_epochs(rows)
        single = any(math.isnan(d["low"]) for by in diffs.values() for d in by.values())
        lines += ["", "Paired difference of MIG at each epoch (same setting, same seed): "
                  "mean [90% t-interval] (pairs" + ("; one pair has no interval" if single
                                                    else "") + "):", "",
                  "| first - second | at | " + " | ".join(f"epoch {e:g}" for e in epochs) +
                  " |", "|---|---|" + "---|" * len(epochs)]
        for (first, second, hyper, value, variant), by in diffs.items():
            at = hyper if value is None else f"{hyper} = {value:g}"
            at += f", {variant}" if variant else ""
            cells = [f"{estimate_text(by[e]['mean'], by[e]['low'], by[e]['high'])} "
                     f"({by[e]['n']})" if e in by else "-" for e in epochs]
            lines.append(f"| {first} - {second} | {at} | " + " | ".join(cells) + " |")
    return lines + [""]
