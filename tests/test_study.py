"""Studies: the file is checked before anything runs, a half-finished study resumes
without redoing finished runs, records of another configuration are reported and left
out, and the report is regenerated from records alone."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pyro_tcvae.cli import main
from pyro_tcvae.runs import RunError, load_study, report, run_study, study_status
from pyro_tcvae.runs.host import cpu_has_bf16
from pyro_tcvae.runs import study as study_module
from pyro_tcvae.runs.stats import (bootstrap_interval, mean_difference_interval, mean_interval,
                                   ranks, spearman)

STUDY = """
name = "tiny"
about = "a test study"
seeds = [0, 1]

[train]
dataset = "small_sprites"
arch = "small_mlp"
z_dim = 3
batch_size = 64
steps = 30
checkpoint_every = 15
log_every = 15

[evaluate]
num_samples = 500
items = 1000

[[runs]]
objective = "tcvae"
beta = [1, 4]

[[runs]]
objective = "beta-vae"
beta = 4
"""


def write(tmp_path, text=STUDY, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("change, message", [
    (("seeds = [0, 1]", "seeds = [0, 1]\ncolour = 3"), "unknown key 'colour'"),
    (("steps = 30", "steps = 30\nbetta = 2"), "unknown option 'betta' in train"),
    (("beta = [1, 4]", "beta = [1, 4]\nseed = 3"), "the seeds are the study's 'seeds'"),
    (("beta = [1, 4]", "beta = [1, -4]"), "beta must be a finite number >= 0"),
    (("objective = \"tcvae\"", "objective = \"tcvea\""), "objective must be one of"),
    (("items = 1000", "items = 1000\nbatches = 2"), "unknown key 'evaluate.batches'"),
    (("items = 1000", "items = -5"), "evaluate.items"),
    (("items = 1000", "items = 1000\nmetrics = [\"sap\", \"dcii\"]"),
     "evaluate.metrics in .*unknown metric 'dcii': choose from mig, beta_vae"),
    (("items = 1000", "items = 1000\nmetrics = 3"), "evaluate.metrics .*must be \"all\" or a list"),
    (("name = \"tiny\"", "name = \"../tiny\""), "must be a folder name"),
    (("beta = 4\n", "beta = 4\ngamma = 2\n"), "gamma is not an option of the objective"),
    (("seeds = [0, 1]", "seeds = [0, 0]"), "different integers"),
    (("[[runs]]\nobjective = \"beta-vae\"", "[[runs]]\nobjective = \"tcvae\""), "are both"),
    (("beta = 4\n", "beta = 4\nstage = 0\n"), "stage in runs block 2 .*integer >= 1"),
    (("steps = 30", "steps = 30\nmig_every = \"5\""), "needs a unit: 5m"),
])
def test_a_bad_study_file_is_refused_before_anything_runs(tmp_path, change, message):
    path = write(tmp_path, STUDY.replace(*change, 1))
    with pytest.raises(RunError, match=message):
        load_study(path)
    assert not (tmp_path / "results").exists()


def test_the_runs_are_the_product_of_each_block_and_the_seeds(tmp_path):
    study = load_study(write(tmp_path))
    names = [n for n, _ in study.runs]
    assert names == ["tcvae_beta1_seed0", "tcvae_beta1_seed1", "tcvae_beta4_seed0",
                     "tcvae_beta4_seed1", "beta-vae_beta4_seed0", "beta-vae_beta4_seed1"]
    cfg = dict(study.runs)["beta-vae_beta4_seed1"]
    assert (cfg.objective, cfg.beta, cfg.seed, cfg.steps, cfg.z_dim) == ("beta-vae", 4.0, 1, 30, 3)
    assert load_study(write(tmp_path), device="cpu").runs[0][1].device == "cpu"


def test_a_half_finished_study_resumes_without_redoing_finished_runs(tmp_path, monkeypatch):
    study = load_study(write(tmp_path))
    results, work = tmp_path / "results", tmp_path / "work"
    trained = []
    real_train = study_module.train

    def counting_train(config, run_dir, **kw):
        trained.append((Path(run_dir).name, kw.get("resume")))
        return real_train(config, run_dir, **kw)

    monkeypatch.setattr(study_module, "train", counting_train)
    states = run_study(study, results, work, progress=False, limit=2, echo=lambda *a: None)
    assert [s for _, _, s in states].count("done") == 2
    assert trained == [("tcvae_beta1_seed0", False), ("tcvae_beta4_seed0", False)]
    # the next run was interrupted half-way: a checkpoint at step 15, no model
    name, cfg = study.runs[4]
    real_train(cfg.__class__(**{**cfg.to_dict(), "steps": 15}), work / "tiny" / name,
               progress=False)
    (work / "tiny" / name / "model.pt").unlink()
    trained.clear()
    states = run_study(study, results, work, progress=False, echo=lambda *a: None)
    assert all(s == "done" for _, _, s in states)
    rest = sorted([r for r in study.runs if r[0] not in
                   ("tcvae_beta1_seed0", "tcvae_beta4_seed0", name)],
                  key=lambda run: run[1].seed)  # seed by seed
    assert trained == [(name, True)] + [(n, False) for n, _ in rest]
    record = json.loads((results / "tiny" / f"{name}.json").read_text())
    assert record["config"]["steps"] == 30 and record["eval"]["items"] == 1000
    assert set(record) >= {"commit", "train_seconds", "eval", "evaluate", "host"}
    assert record["host"]["cpu_bf16"] == cpu_has_bf16()  # a bf16 run on a CPU without: emulated
    assert set(record["eval"]["mig"]) >= {"score", "stderr", "gaps"}
    assert set(record["eval"]["decomposition"]["stderr"]) >= {"elbo", "tc"}
    # the resumed run ends where an uninterrupted one does
    straight = tmp_path / "straight"
    real_train(cfg, straight, progress=False)
    a = torch.load(work / "tiny" / name / "model.pt", weights_only=False)["state_dict"]
    b = torch.load(straight / "model.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # nothing left to do: no training at all
    trained.clear()
    run_study(study, results, work, progress=False, echo=lambda *a: None)
    assert trained == []

    # a record of another configuration is reported and left out, not mixed in
    changed = load_study(write(tmp_path, STUDY.replace("steps = 30", "steps = 40")))
    said = []
    states = run_study(changed, results, work, progress=False, limit=0, echo=said.append)
    assert all(s == "mismatch" for _, _, s in states)
    assert any("steps: record 30, study 40" in line and "--replace" in line for line in said)
    with pytest.raises(RunError, match="no usable records"):
        report(results / "tiny", echo=said.append)
    assert any("6 of 6 planned runs have no record yet" in line for line in said)
    assert any("made by another configuration" in line for line in said)


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
        rec = study_module.make_record(study, name, cfg, {**ev}, 60.0)
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
    from pyro_tcvae.runs.report import study_rows
    from pyro_tcvae.runs.tables import seed_table
    rows = [r for r in study_rows(folder)[0] if r["seed"] != 2 or r["cell"] != "tcvae_beta1"]
    table = seed_table(rows, threshold=0.605)
    assert "| tcvae_beta4 | 0.600 | 0.610 | 0.620 | 2 of 3 | 2, 0.620 |" in table
    assert "| tcvae_beta1 | 0.300 | 0.310 | - | 0 of 2 | 1, 0.310 |" in table
    assert "stray.json: unreadable" in text
    rho = float(text.split("| all runs | 9 | ")[1].split(" ")[0])
    assert rho < -0.9  # TC was made to fall with MIG


def test_statistics_against_closed_forms():
    m, lo, hi = mean_interval([1.0, 2.0, 3.0])
    assert m == 2.0 and math.isclose(hi - m, 2.920 * 1.0 / math.sqrt(3), rel_tol=1e-9)
    assert mean_interval([5.0]) == (5.0, 5.0, 5.0)
    assert list(ranks([3.0, 1.0, 3.0, 2.0])) == [3.5, 1.0, 3.5, 2.0]
    x = np.arange(10.0)
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    assert spearman(x, -np.exp(x)) == pytest.approx(-1.0)
    scipy_stats = pytest.importorskip("scipy.stats")
    y = np.random.default_rng(1).normal(size=10)
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y)[0])
    lo, hi = bootstrap_interval(spearman, x, x ** 2)
    assert lo == hi == pytest.approx(1.0)
    assert mean_difference_interval([1.0] * 4, [0.0, 0.0]) == (1.0, 1.0, 1.0)
    # groups of different sizes, resampled each on its own: the normal approximation
    # of the difference of two means (SE = sqrt(0.25 / 100 + 0.01 / 25) = 0.0539)
    a, b = [0.0, 1.0] * 50, [0.2, 0.4] * 12 + [0.3]
    m, lo, hi = mean_difference_interval(a, b, draws=20000)
    assert m == pytest.approx(0.2) and hi - m == pytest.approx(1.645 * 0.0539, rel=0.06)
    assert math.isnan(mean_difference_interval([], [1.0])[0])


def test_the_command_line_runs_a_study_and_lists_its_state(tmp_path, capsys):
    path = write(tmp_path, STUDY.replace("beta = [1, 4]", "beta = 4").replace(
        "seeds = [0, 1]", "seeds = [0]"))
    args = ["study", str(path), "--results", str(tmp_path / "r"), "--work", str(tmp_path / "w"),
            "--quiet"]
    assert main(args + ["--status"]) == 0
    assert "2 missing" in capsys.readouterr().out
    assert main(args + ["--status", "--part", "2/2"]) == 0  # what that process would run
    out = capsys.readouterr().out
    assert "study tiny: 1 missing" in out and len(out.strip().splitlines()) == 2
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "study tiny: 2 done" in out and (tmp_path / "r" / "tiny" / "report.md").is_file()
    assert [s for _, _, s in study_status(load_study(path), tmp_path / "r" / "tiny")] == \
        ["done", "done"]
    assert main(["study", str(tmp_path / "nope.toml")]) == 2


def test_settings_override_every_run_and_are_checked(tmp_path):
    from pyro_tcvae.runs.study import parse_settings

    sets = parse_settings(["steps=50", "precision=fp32", "batch_size=128", "fused=false"])
    assert sets == {"steps": 50, "precision": "fp32", "batch_size": 128, "fused": False}
    study = load_study(write(tmp_path), name="tiny_big", eval_items=0, **sets)
    assert study.name == "tiny_big" and all(c.steps == 50 and c.batch_size == 128
                                            for _, c in study.runs)
    assert study.evaluate["items"] == 0
    for bad, message in (("seed=3", "other than seed"), ("stepz=3", "OPTION=VALUE"),
                         ("steps=many", "'many' is not a int")):
        with pytest.raises(RunError, match=message):
            parse_settings([bad])


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
                study_module.make_record(study, name, cfg, ev, 1.0)))
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


def test_time_to_mig_from_the_monitor_readings(tmp_path):
    from pyro_tcvae.runs.tables import time_to_mig

    rows = [{"cell": "tcvae_beta6", "seed": s, "mig_over_time": [
        {"step": 100 * k, "time": 120.0 * k, "mig": m, "stderr": 0.01}
        for k, m in enumerate(migs, 1)]} for s, migs in enumerate(
            ([0.1, 0.31, 0.4], [0.2, 0.25, 0.35], [0.1, 0.1, 0.1]))]
    times = time_to_mig(rows, 0.3)["tcvae_beta6"]
    assert times == [(0, 4.0, 200, 6.0), (1, 6.0, 300, 6.0), (2, None, None, 6.0)]
    from pyro_tcvae.runs.tables import time_section
    table = "\n".join(time_section({"tcvae_beta6": times}, 0.3))
    assert "| tcvae_beta6 | 3 | 2 | 5.0 | 4.0-6.0 | 250 | 1 (6) |" in table
    from pyro_tcvae.viz.study import plot_mig_over_time
    assert plot_mig_over_time(rows, tmp_path / "t.png").stat().st_size > 5000
    assert plot_mig_over_time([{**rows[0], "mig_over_time": []}], tmp_path / "u.png") is None
    assert load_study(Path(__file__).resolve().parents[1] / "studies" / "time_to_mig.toml") \
        .runs[0][1].mig_every == "2m"  # the file's number: minutes, as before


def test_pooled_pairs_that_share_seeds_are_averaged_by_seed():
    from pyro_tcvae.runs.stats import t90
    from pyro_tcvae.runs.tables import differences_section, paired_differences
    diffs = {(4.0, 0): 0.10, (6.0, 0): 0.30, (4.0, 1): -0.05, (6.0, 1): 0.05,
             (4.0, 2): 0.00, (6.0, 2): -0.20}
    rows = []
    for (v, seed), d in diffs.items():
        base = dict(hyper="beta", variant=None, value=v, seed=seed, correlation=None)
        rows += [{**base, "objective": "tcvae", "mig": 0.5 + d},
                 {**base, "objective": "beta-vae", "mig": 0.5}]
    out = paired_differences(rows, pool_from=4.0)
    pooled = [d for d in out if d["value"] == "pooled"][0]
    seed_means = np.array([0.2, 0.0, -0.1])
    half = t90(2) * seed_means.std(ddof=1) / math.sqrt(3)
    assert pooled["seeds"] == 3 and pooled["n"] == 6 and pooled["wins"] == 3
    assert pooled["mean"] == pytest.approx(seed_means.mean())
    assert (pooled["low"], pooled["high"]) == pytest.approx((seed_means.mean() - half,
                                                             seed_means.mean() + half))
    d = np.array(list(diffs.values()))  # the pairs as if independent: df = 5
    half6 = t90(5) * d.std(ddof=1) / math.sqrt(6)
    assert (pooled["pairs_low"], pooled["pairs_high"]) == pytest.approx((d.mean() - half6,
                                                                         d.mean() + half6))
    assert pooled["high"] - pooled["low"] > pooled["pairs_high"] - pooled["pairs_low"]
    single = [d for d in out if d["value"] == 4.0][0]  # one pair per seed: as before
    assert "seeds" not in single and single["n"] == 3
    assert "over 3 seeds" in "\n".join(differences_section(out, "MIG", 4.0))


def test_stages_train_block_by_block_then_seed_by_seed(tmp_path):
    text = STUDY.replace('beta = 4\n', 'beta = 4\nstage = 1\n').replace(
        'beta = [1, 4]\n', 'beta = [1, 4]\nstage = 2\n')
    study = load_study(write(tmp_path, text))
    states = [(n, c, "missing") for n, c in study.runs]
    order = [n for n, _ in study_module.runs_to_do(study, states)[1]]
    assert order == ["beta-vae_beta4_seed0", "beta-vae_beta4_seed1",
                     "tcvae_beta1_seed0", "tcvae_beta4_seed0", "tcvae_beta1_seed1",
                     "tcvae_beta4_seed1"]
    assert study.plan()["stages"]["tcvae_beta1_seed0"] == 2
    assert "stages" not in load_study(write(tmp_path)).plan()  # plans of older files unchanged


def test_the_paper_scale_study_is_the_papers_recipe():
    study = load_study(Path(__file__).resolve().parents[1] / "studies" / "dsprites_paper.toml")
    states = [(n, c, "missing") for n, c in study.runs]
    order = [n for n, _ in study_module.runs_to_do(study, states)[1]]
    assert order[:6] == [f"{o}_beta6_seed{s}" for s in range(3) for o in ("tcvae", "beta-vae")]
    assert order[6:12] == [f"{o}_beta4_seed{s}" for s in range(3) for o in ("tcvae", "beta-vae")]
    assert order[12:] == [f"vae_seed{s}" for s in range(3)]
    for _, c in study.runs:
        assert (c.arch, c.z_dim, c.likelihood, c.batch_size, c.lr, c.estimator, c.precision) \
            == ("mlp", 10, "bernoulli", 2048, 1e-3, "mws", "fp32")
        assert c.total_steps(737_280 // 2048) == 18_000  # 50 epochs
        assert c.mig_at == "2,5,10,20,35,50" and c.mig_items == 100_000
    assert study.evaluate["items"] == 0 and study.evaluate["metrics"] == "all"


def test_parts_share_a_study_without_overlap_whatever_records_exist(tmp_path):
    study = load_study(write(tmp_path))
    states = [(n, c, "missing") for n, c in study.runs]
    _, whole = study_module.runs_to_do(study, states)
    assert [c.seed for _, c in whole] == [0, 0, 0, 1, 1, 1]  # seed by seed
    parts = [study_module.runs_to_do(study, states, part=(i, 3))[1] for i in (1, 2, 3)]
    assert sorted(n for p in parts for n, _ in p) == sorted(n for n, _ in whole)
    assert all(len(p) == 2 for p in parts)
    # a record written by another part meanwhile does not move the split
    done = [(n, c, "done" if n == whole[0][0] else s) for n, c, s in states]
    held, todo = study_module.runs_to_do(study, done, part=(2, 3))
    assert (held, todo) == (2, parts[1])
    assert study_module.runs_to_do(study, done, part=(1, 3)) == (2, parts[0][1:])
    assert [n for n, _ in study_module.runs_to_do(study, done, seeds=[1])[1]] == \
        [n for n, _ in whole if n.endswith("seed1")]
    with pytest.raises(RunError, match="seed 7 is not one of the study's seeds"):
        study_module.runs_to_do(study, done, seeds=[7])
    with pytest.raises(RunError, match="seed 7 is not one of the study's seeds"):
        run_study(study, tmp_path / "results", tmp_path / "work", seeds=[7], progress=False)
    assert [n for n, _ in study_module.runs_to_do(study, done, objectives=["beta-vae"])[1]] \
        == [n for n, _ in whole if n.startswith("beta-vae")]
    with pytest.raises(RunError, match="objective factorvae has no runs in the study"):
        run_study(study, tmp_path / "results", tmp_path / "work", objectives=["factorvae"],
                  progress=False)
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()
    for bad in ("0/2", "3/2", "2", "a/b"):
        with pytest.raises(RunError, match="--part takes I/N"):
            study_module.parse_part(bad)
    assert study_module.parse_part("2/3") == (2, 3)


def test_factors_sharing_their_best_latent_are_named():
    from pyro_tcvae.runs.report import shared_latents

    names = ["color", "shape", "scale", "posX", "posY"]
    mi = [[0.0, 0.0, 0.0], [0.9, 0.0, 0.0], [0.0, 0.5, 0.1],
          [1.4, 0.0, 0.0], [1.3, 0.1, 0.0]]  # posX and posY both on latent 0
    m = {"factor_names": names, "mi": mi, "included": ["scale", "posX", "posY"]}
    assert shared_latents(m) == [["posX", "posY"]]  # shape is not included
    assert shared_latents({**m, "included": names}) == [["posX", "posY", "shape"]]
    mi[4] = [0.1, 1.3, 0.0]  # posY moves to latent 1, where scale is: both counted
    assert shared_latents(m) == [["posY", "scale"]]
    mi[2] = [0.0, 0.15, 0.1]  # scale below 0.2 nats: not a claim on the latent
    assert shared_latents(m) == []


def test_paired_differences_per_sampling_bias_and_pooled_over_the_biased_sets():
    from pyro_tcvae.runs.tables import differences_section, paired_differences
    rows = []
    for s in (0, 100, 30):
        for seed in range(3):
            for objective, mig in (("tcvae", 0.3 + 0.001 * s), ("beta-vae", 0.2)):
                rows.append({"objective": objective, "hyper": "beta", "value": 6.0,
                             "variant": f"correlateposX-posY-{s}", "seed": seed,
                             "correlation": float(s), "mig": mig + 0.01 * seed})
    diffs = paired_differences(rows)
    # in order of the bias (not of the names), each exactly 0.1 + 0.001 S on every seed
    assert [(d["variant"], d["n"], round(d["mean"], 9)) for d in diffs] == [
        ("correlateposX-posY-0", 3, 0.1), ("correlateposX-posY-30", 3, 0.13),
        ("correlateposX-posY-100", 3, 0.2),
        ("every biased set pooled (2 strengths)", 6, 0.165)]
    text = "\n".join(differences_section(diffs, "MIG", 4.0))
    assert "| tcvae - beta-vae | beta = 6, correlateposX-posY-30 | 3 | +0.130 | " \
           "[+0.130, +0.130] | 3 of 3 |" in text
    assert "beta >= 4 (pooled)" not in text  # one value: nothing to pool over values
    more = rows + [{**r, "value": 8.0, "mig": r["mig"] + 0.05 * (r["objective"] == "tcvae")}
                   for r in rows if r["correlation"] == 0]
    pooled = [d for d in paired_differences(more) if d["value"] == "pooled"]
    assert [(d["variant"], d["n"], round(d["mean"], 9)) for d in pooled] == \
        [("correlateposX-posY-0", 6, 0.125)]  # beta 6 and 8 of the unbiased set


def test_objectives_at_one_setting_each_are_paired_by_seed_across_hyperparameters():
    from pyro_tcvae.runs.tables import differences_section, paired_differences
    rows = []
    for s in (0, 10, 30):
        for seed in range(3):
            for objective, hyper, value, mig in (("tcvae", "beta", 6.0, 0.3),
                                                 ("beta-vae", "beta", 6.0, 0.2),
                                                 ("factorvae", "gamma", 35.0, 0.25 + 0.01 * s)):
                rows.append({"objective": objective, "hyper": hyper, "value": value,
                             "variant": f"correlateposX-posY-{s}", "seed": seed,
                             "correlation": float(s), "mig": mig + 0.01 * seed * (s + 1)})
    diffs = paired_differences(rows)
    got = [(d["first"], d["second"], d["hyper"], d["variant"], d["value"], d["n"],
            round(d["mean"], 9)) for d in diffs]
    cross = "beta = 6, gamma = 35"
    # tcvae - factorvae per seed: 0.05 - 0.01 S (the seed terms cancel)
    assert [g for g in got if g[:2] == ("tcvae", "factorvae")] == [
        ("tcvae", "factorvae", cross, "correlateposX-posY-0", None, 3, 0.05),
        ("tcvae", "factorvae", cross, "correlateposX-posY-10", None, 3, -0.05),
        ("tcvae", "factorvae", cross, "correlateposX-posY-30", None, 3, -0.25),
        ("tcvae", "factorvae", cross, "every biased set pooled (2 strengths)", None, 6, -0.15)]
    assert [g[3] for g in got if g[:2] == ("beta-vae", "factorvae")][:3] == [
        "correlateposX-posY-0", "correlateposX-posY-10", "correlateposX-posY-30"]
    assert got[0][:3] == ("tcvae", "beta-vae", "beta")  # same-hyperparameter pairs first
    text = "\n".join(differences_section(diffs, "MIG", 4.0))
    assert ("| tcvae - factorvae | beta = 6, gamma = 35, correlateposX-posY-10 | 3 | -0.050 | "
            "[-0.050, -0.050] | 0 of 3 |") in text
    # a second gamma: FactorVAE is no longer at one setting, so it is not paired
    more = rows + [{**r, "value": 10.0} for r in rows if r["objective"] == "factorvae"]
    assert all("factorvae" not in (d["first"], d["second"]) for d in paired_differences(more))


SUITE_STUDY = STUDY.replace("seeds = [0, 1]", "seeds = [0]").replace(
    "items = 1000", "items = 600\nmetrics = \"all\"").replace(
    "[[runs]]\nobjective = \"beta-vae\"\nbeta = 4\n", "")


def test_a_study_with_the_suite_keeps_codes_and_rescores_them(tmp_path, capsys):
    study = load_study(write(tmp_path, SUITE_STUDY))
    assert study.evaluate["metrics"] == "all" and len(study.runs) == 2
    # the same metrics spelt as a list are the same evaluation (not a mismatch)
    listed = load_study(write(tmp_path, SUITE_STUDY.replace(
        'metrics = "all"', 'metrics = ["mig", "modularity", "sap", "dci", "factor_vae", '
        '"beta_vae"]'), name="listed.toml"))
    assert listed.evaluate == study.evaluate
    results = tmp_path / "results"
    run_study(study, results, tmp_path / "work", progress=False, echo=lambda *a: None)
    folder = results / "tiny"
    name = study.runs[0][0]
    record = json.loads((folder / f"{name}.json").read_text())
    suite = record["eval"]["suite"]
    assert set(suite) == {"beta_vae", "factor_vae", "dci", "sap", "modularity", "timings",
                          "items"} and suite["items"] == 600
    assert all("score" in suite[m] for m in ("beta_vae", "factor_vae", "dci", "sap",
                                              "modularity"))
    codes = folder / f"{name}.codes.npz"
    assert 0 < codes.stat().st_size < 600_000
    assert all(s == "done" for _, _, s in study_status(study, folder))
    assert all(s == "done" for _, _, s in study_status(listed, folder))
    text = report(folder, echo=lambda *a: None)
    assert "## The metric suite" in text and "### DCI completeness" in text
    assert "### Rank correlations between the metrics" in text
    # rescore from the codes files alone: the same numbers as the evaluation
    for n, _ in study.runs:
        rec = json.loads((folder / f"{n}.json").read_text())
        del rec["eval"]["suite"]
        (folder / f"{n}.json").write_text(json.dumps(rec))
    (folder / f"{study.runs[1][0]}.codes.npz").unlink()  # this one cannot be rescored
    assert main(["report", str(folder), "--rescore"]) == 0
    assert "scored again for 1 record" in capsys.readouterr().out
    again = json.loads((folder / f"{name}.json").read_text())["eval"]["suite"]
    assert again.pop("rescored")["commit"] == study_module.git_commit()
    for metric in ("beta_vae", "factor_vae", "dci", "sap", "modularity"):
        assert again[metric] == suite[metric], metric
    assert again["items"] == 600
    other = json.loads((folder / f"{study.runs[1][0]}.json").read_text())
    assert "suite" not in other["eval"]
    assert "## The metric suite" in (folder / "report.md").read_text()


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
            study_module.make_record(study, name, cfg, ev, 60.0)))
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
