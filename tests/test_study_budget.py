"""The budget curve of a study with ``mig_at`` readings: readings matched to their epochs,
means and ranges over seeds, paired differences at each epoch, and the report's section
and figure, from records alone."""

import json

import pytest

from pyro_tcvae.study import load_study, report, study_rows
from pyro_tcvae.study.budget import budget_section, differences_along, readings_at
from pyro_tcvae.study.record import make_record
from study_files import STUDY, write

# small_sprites at batch 64: 72 steps per epoch; epochs 0.5 and 1 are steps 36 and 72
BUDGET = STUDY.replace("seeds = [0, 1]", "seeds = [0, 1, 2]").replace(
    "steps = 30", 'steps = 100\nmig_at = "0.5,1,2"\nmig_every = "20steps"\nmig_items = 500')


def _mig(objective, beta, seed, epoch):
    """A made-up MIG: beta-TCVAE's lead over beta-VAE grows as 0.1 x epoch on every seed."""
    return 0.1 * beta / 4 + (0.1 * epoch if objective == "tcvae" else 0.0) + 0.01 * seed


def _records(tmp_path):
    study = load_study(write(tmp_path, BUDGET))
    folder = tmp_path / "results" / "budget"
    folder.mkdir(parents=True)
    (folder / "study.json").write_text(json.dumps(study.plan()))
    for name, cfg in study.runs:
        readings = []
        for step in (20, 36, 40, 60, 72, 80, 100):  # every 20 steps, and at epochs 0.5, 1
            e = step / 72
            readings.append({"step": step, "epoch": e, "time": step * 0.1,
                             "mig": _mig(cfg.objective, cfg.beta, cfg.seed, e), "stderr": 0.01,
                             "elbo": -100.0 - step / 10 - cfg.seed, "tc": 2.0 - e,
                             "loss": 100.0})
        ev = {"mig": {"score": 0.3, "stderr": 0.004, "gaps": {"a": 0.3}},
              "mig_histogram": {"score": 0.2, "stderr": 0.01},
              "decomposition": {"elbo": -100, "tc": 1.0, "mi": 1.0, "dwkl": 1.0, "kl": 5.0,
                                "log_likelihood": -90.0, "stderr": {"elbo": 0.1, "tc": 0.1}},
              "items": 1000, "seconds": 1.0}
        rec = make_record(study, name, cfg, ev, 60.0, monitor=readings)
        (folder / f"{name}.json").write_text(json.dumps(rec))
    return folder


def test_readings_are_matched_to_their_epochs(tmp_path):
    rows, _ = study_rows(_records(tmp_path))
    at = readings_at(rows[0])
    # 0.5 -> step 36, 1 -> step 72; the run ends at step 100 < epoch 2; the every-20-steps
    # readings in between belong to no epoch
    assert sorted(at) == [0.5, 1.0]
    assert at[0.5]["step"] == 36 and at[1.0]["step"] == 72


def test_budget_section_means_ranges_and_paired_differences(tmp_path):
    rows, _ = study_rows(_records(tmp_path))
    lines = "\n".join(budget_section(rows))
    # beta-TCVAE at beta 4, epoch 1: 0.1 + 0.1 + 0.01 x seed -> mean 0.21, range 0.20-0.22
    assert "| tcvae_beta4 | 3 | 0.160 (0.150 to 0.170) | 0.210 (0.200 to 0.220) |" in lines
    assert "| beta-vae_beta4 | 3 | 0.110 (0.100 to 0.120) | 0.110 (0.100 to 0.120) |" in lines
    # the ELBO at epoch 0.5 (step 36): -103.6 - seed -> mean -104.60
    assert "| tcvae_beta4 | 3 | -104.60 (-105.60 to -103.60) |" in lines
    # the difference is exactly 0.1 x epoch on every seed
    assert ("| tcvae - beta-vae | beta = 4 | +0.050 [+0.050, +0.050] (3) | "
            "+0.100 [+0.100, +0.100] (3) |") in lines
    assert "one pair has no interval" not in lines
    diffs = differences_along(rows)
    (key,) = diffs
    assert key[:2] == ("tcvae", "beta-vae") and sorted(diffs[key]) == [0.5, 1.0]
    assert diffs[key][1.0]["mean"] == pytest.approx(0.1)
    # seed 0 alone: one pair at each epoch, a difference without an interval
    lines = "\n".join(budget_section([r for r in rows if r["seed"] == 0]))
    assert "| tcvae - beta-vae | beta = 4 | +0.050 (1) | +0.100 (1) |" in lines
    assert "(pairs; one pair has no interval)" in lines


def test_the_report_has_the_budget_curve_only_where_runs_read_at_epochs(tmp_path):
    folder = _records(tmp_path)
    text = report(folder, echo=lambda *a: None)
    assert "## Along training (the budget curve)" in text
    assert "a fixed subset of 500 items" in text
    assert (folder / "budget_curves.png").stat().st_size > 5000
    rows, _ = study_rows(folder)
    plain = [{**r, "mig_at": []} for r in rows]  # runs without mig_at: no section
    assert budget_section(plain) == []
