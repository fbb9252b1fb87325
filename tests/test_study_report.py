"""A study's report, regenerated from records alone: the committed studies' reports byte
for byte, records of several studies pooled, a table per suite metric."""

import json
from pathlib import Path

import numpy as np
import pytest

from pyro_tcvae.cli import main
from pyro_tcvae.study import load_study, report, study_rows
from pyro_tcvae.study.record import make_record
from pyro_tcvae.study.tables import seed_table
from study_files import STUDY, write


def test_the_report_is_regenerated_from_records_alone(tmp_path):
    """Figures and tables from a few committed-style records, no training."""
    study = load_study(write(tmp_path, STUDY.replace("seeds = [0, 1]", "seeds = [0, 1, 2]")))
    folder = tmp_path / "results" / "tiny"
    folder.mkdir(parents=True)
    (folder / "study.json").write_text(json.dumps(study.plan()))
    rng = np.random.default_rng(0)
    for name, cfg in study.runs:
        mig = 0.1 * cfg.beta + (0.2 if cfg.objective == "tcvae" else 0.0) + 0.01 * cfg.seed
        tc = 5.0 - 10 * mig + rng.normal(0, 0.1)
        ev = {"mig": {"score": mig, "stderr": 0.004, "gaps": {"a": mig}},
              "mig_histogram": {"score": mig / 2, "stderr": 0.01},
              "decomposition": {"elbo": -100 - cfg.beta, "tc": tc, "mi": 1.0, "dwkl": 1.0,
                                "kl": 5.0, "log_likelihood": -90.0,
                                "stderr": {"elbo": 0.1, "tc": 0.1}},
              "items": 1000, "seconds": 1.0}
        rec = make_record(study, name, cfg, {**ev}, 60.0)
        (folder / f"{name}.json").write_text(json.dumps(rec))
    (folder / "stray.json").write_text("{not json")
    assert main(["report", str(folder)]) == 0
    text = (folder / "report.md").read_text()
    for png in ("mig_vs_hyperparameter.png", "mig_by_setting.png", "tc_vs_mig.png"):
        assert (folder / png).stat().st_size > 5000, png
    # the paired difference at beta 4 is exactly 0.2 on every seed
    assert "| tcvae - beta-vae | beta = 4 | 3 | +0.200 | [+0.200, +0.200] | 3 of 3 |" in text
    assert "beta >= 4 (pooled)" not in text  # beta-VAE has one value: nothing to pool
    assert "| tcvae_beta4 | 3 | 0.610 [0.593, 0.627] |" in text
    # seed by seed; TC falls with MIG here, so the lowest-TC seed is the best one
    assert "| tcvae_beta4 | 0.600 | 0.610 | 0.620 | 3 of 3 | 2, 0.620 |" in text
    rows = [r for r in study_rows(folder)[0] if r["seed"] != 2 or r["cell"] != "tcvae_beta1"]
    table = seed_table(rows, threshold=0.605)
    assert "| tcvae_beta4 | 0.600 | 0.610 | 0.620 | 2 of 3 | 2, 0.620 |" in table
    assert "| tcvae_beta1 | 0.300 | 0.310 | - | 0 of 2 | 1, 0.310 |" in table
    assert "stray.json: unreadable" in text
    rho = float(text.split("| all runs | 9 | ")[1].split(" ")[0])
    assert rho < -0.9  # TC was made to fall with MIG


RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


@pytest.mark.parametrize("study", sorted(p.parent.name for p in RESULTS.glob("*/study.json")))
def test_the_committed_records_regenerate_their_report(tmp_path, study):
    """Every committed study's figures and tables, from its records alone."""
    import shutil

    folder = tmp_path / study
    shutil.copytree(RESULTS / study, folder)
    for stale in list(folder.glob("*.png")) + list(folder.glob("report.md")):
        stale.unlink()
    records = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "study.json"]
    if not records:
        pytest.skip("no records yet")
    text = report(folder, echo=lambda *a: None)
    committed = RESULTS / study / "report.md"
    if committed.is_file():  # records without suite results: the report is unchanged
        assert text == committed.read_text()
    assert "## The metric suite" not in text
    assert (folder / "mig_by_setting.png").stat().st_size > 5000
    assert (folder / "tc_vs_mig.png").stat().st_size > 5000
    strengths = {r["config"].get("correlate") for r in records} - {None}
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):  # no table is written without a row
        if line.startswith("|---"):
            assert lines[i + 1].startswith("| "), f"an empty table under {lines[i - 1]}"
    if len(strengths) > 1:  # a sampling-bias study: MIG against the strength
        assert (folder / "mig_vs_correlation.png").stat().st_size > 5000
        # the settings table lists each objective's strengths in order (10 before 100)
        table = lines[lines.index("|---|---|---|---|---|---|---|---|") + 1:]
        table = [l.split(" | ")[0][2:] for l in table[:[l[:1] for l in table].index("")]]
        for objective in {c.split("_")[0] for c in table}:
            s = [float(c.rsplit("-", 1)[1]) for c in table if c.startswith(objective + "_")]
            assert s == sorted(s), (objective, s)
    # each setting's mean MIG in the table is the mean of its records'
    cells = {}
    for r in records:
        cells.setdefault(r["run"].rsplit("_seed", 1)[0], []).append(r["eval"]["mig"]["score"])
    for cell, migs in cells.items():
        assert f"| {cell} | {len(migs)} | {sum(migs) / len(migs):.3f}" in text, cell


def test_records_of_several_studies_pool_into_one_report(tmp_path):
    """The paper's Fig. 4 and 5 take beta-VAE/beta-TCVAE from one study and the other
    objectives from another: their records pool into one report."""
    a = load_study(write(tmp_path, STUDY.replace("seeds = [0, 1]", "seeds = [0]")))
    b = load_study(write(tmp_path, STUDY.replace('name = "tiny"', 'name = "other"').replace(
        "seeds = [0, 1]", "seeds = [0]").replace("beta = [1, 4]", "beta = 2"), name="o.toml"))
    for study, mig_value in ((a, 0.5), (b, 0.2)):
        folder = tmp_path / "results" / study.name
        folder.mkdir(parents=True)
        (folder / "study.json").write_text(json.dumps(study.plan()))
        for name, cfg in study.runs:
            ev = {"mig": {"score": mig_value, "stderr": 0.004, "gaps": {"a": mig_value}},
                  "mig_histogram": {"score": mig_value, "stderr": 0.01},
                  "decomposition": {"elbo": -100.0, "tc": 1.0 - mig_value, "mi": 1.0,
                                    "dwkl": 1.0, "kl": 3.0, "log_likelihood": -97.0,
                                    "stderr": {}}, "items": 1000, "seconds": 1.0}
            (folder / f"{name}.json").write_text(json.dumps(
                make_record(study, name, cfg, ev, 1.0)))
    out = tmp_path / "both"
    assert main(["report", str(tmp_path / "results" / "tiny"), str(tmp_path / "results" / "other"),
                 "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "# Study tiny + other" in text and "| tcvae_beta2 | 1 | 0.200" in text
    assert "| tcvae_beta4 | 1 | 0.500" in text and (out / "tc_vs_mig.png").is_file()
    # each objective over all its settings (Fig. 4's distributions): 0.5, 0.5, 0.2
    assert "| tcvae | 3 | 3 | 0.500 | 0.400 [" in text
    assert "| tcvae_beta1 (0.500, 1 seed) | 3 of 3 | - |" in text
    assert "| tcvae - beta-vae | +0.050 [" in text  # 0.4 - mean(0.5, 0.2), unpaired
    assert (out / "mig_by_objective.png").is_file() and "`mig_by_objective.png`" in text


def _suite_of(mig, seed):
    """Suite results (as a record keeps them) built from a run's MIG."""
    r = lambda v, extra=None: {"score": v, "stderr": 0.01, **(extra or {})}  # noqa: E731
    return {"beta_vae": r(0.5 + mig), "factor_vae": r(1 - mig),
            "dci": r(mig / 2, {"completeness": mig + 0.1 * seed, "completeness_stderr": 0.02,
                               "informativeness": 0.9, "informativeness_stderr": 0.003}),
            "sap": r(mig ** 2), "modularity": r(0.8, {"explicitness": 0.7 + mig,
                                                       "explicitness_stderr": 0.004}),
            "timings": {"sap": 1.0}, "items": 15000}


def test_the_report_shows_a_table_per_metric_and_their_rank_correlations(tmp_path):
    study = load_study(write(tmp_path, STUDY.replace("seeds = [0, 1]", "seeds = [0, 1, 2]")
                             .replace("items = 1000", "items = 1000\nmetrics = \"all\"")))
    folder = tmp_path / "results" / "tiny"
    folder.mkdir(parents=True)
    (folder / "study.json").write_text(json.dumps(study.plan()))
    for name, cfg in study.runs:
        mig = 0.1 * cfg.beta + (0.2 if cfg.objective == "tcvae" else 0.0) + 0.01 * cfg.seed
        ev = {"mig": {"score": mig, "stderr": 0.004, "gaps": {"a": mig}, "sup": mig / 2,
                      "sup_stderr": 0.01},
              "mig_histogram": {"score": mig / 2, "stderr": 0.01},
              "decomposition": {"elbo": -100.0, "tc": 1.0 - mig, "mi": 1.0, "dwkl": 1.0,
                                "kl": 3.0, "log_likelihood": -97.0, "stderr": {}},
              "items": 1000, "seconds": 1.0, "suite": _suite_of(mig, cfg.seed)}
        if name == "beta-vae_beta4_seed2":  # a record made before the suite: left out of it
            del ev["suite"]
        (folder / f"{name}.json").write_text(json.dumps(
            make_record(study, name, cfg, ev, 60.0)))
    text = report(folder, echo=lambda *a: None)
    assert "8 of 9 runs were scored with the field's metrics" in text
    for label in ("BetaVAE score", "FactorVAE score", "DCI disentanglement", "DCI completeness",
                  "DCI informativeness", "SAP", "modularity", "explicitness"):
        assert f"### {label}\n" in text, label
    # BetaVAE = 0.5 + MIG: tcvae_beta4's seeds 0.6, 0.61, 0.62 -> 1.1, 1.11, 1.12
    assert ("| tcvae_beta4 | 3 | 1.110 [1.093, 1.127] | 1.100 +- 0.010 | 1.110 +- 0.010 | "
            "1.120 +- 0.010 |") in text
    assert "| beta-vae_beta4 | 2 | 0.905 [0.873, 0.937] | 0.900 +- 0.010 | 0.910 +- 0.010 | - |" \
        in text
    matrix = text.split("### Rank correlations between the metrics")[1]
    assert "(each pair over the runs that have both: 8 runs)" in matrix
    assert ("| | MIG | MIG-sup | BetaVAE | FactorVAE | DCI-D | DCI-C | DCI-I | SAP | modularity "
            "| explicitness |") in matrix
    # monotone in MIG: +1 (BetaVAE, DCI-D, SAP, explicitness) or -1 (FactorVAE); constant: -
    assert "| MIG | +1.00 | +1.00 | +1.00 | -1.00 | +1.00 |" in matrix
    assert "| FactorVAE | -1.00 | -1.00 | -1.00 | +1.00 | -1.00 |" in matrix
    assert "| DCI-I | - | - | - | - | - | - | - | - | - | - |" in matrix
    row = next(l for l in matrix.splitlines() if l.startswith("| MIG |"))
    # DCI-C has a seed term of its own (below +1); DCI-I and modularity are constant
    assert row.endswith("| +0.88 | - | +1.00 | - | +1.00 |")
    # the records' MIG tables are those of records without the suite
    assert "| tcvae_beta4 | 3 | 0.610 [0.593, 0.627] |" in text
