"""Running a study: a half-finished study resumes without redoing finished runs,
records of another configuration are reported and left out, the command line runs a
study and lists its state, and a study with the metric suite keeps the codes from
which the suite is scored again.  (The study file: test_study_plan; the order and the
parts: test_study_selection; the report: test_study_report.)"""

import errno
import json
import os
import re
from pathlib import Path

import pytest
import torch

from pyro_tcvae.cli import main
from pyro_tcvae.runs import RunError
from pyro_tcvae.runs.host import cpu_has_bf16, cpu_name
from pyro_tcvae.study import load_study, report, run_study, study_status
from pyro_tcvae.study import runner
from pyro_tcvae.study.record import git_commit
from study_files import STUDY, SUITE_STUDY, write


def test_a_half_finished_study_resumes_without_redoing_finished_runs(tmp_path, monkeypatch):
    study = load_study(write(tmp_path))
    results, work = tmp_path / "results", tmp_path / "work"
    trained = []
    real_train = runner.train

    def counting_train(config, run_dir, **kw):
        trained.append((Path(run_dir).name, kw.get("resume")))
        return real_train(config, run_dir, **kw)

    monkeypatch.setattr(runner, "train", counting_train)
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
    # which process trained it from where: the study resumed it from step 15 (its first
    # part was trained outside the study, so that part has no line)
    assert [(p["step"], p["commit"], p["cpu"]) for p in record["sessions"]] == \
        [(15, git_commit(), cpu_name())]
    first = json.loads((results / "tiny" / "tcvae_beta1_seed0.json").read_text())
    assert [p["step"] for p in first["sessions"]] == [0]
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
    assert again.pop("rescored")["commit"] == git_commit()
    for metric in ("beta_vae", "factor_vae", "dci", "sap", "modularity"):
        assert again[metric] == suite[metric], metric
    assert again["items"] == 600
    other = json.loads((folder / f"{study.runs[1][0]}.json").read_text())
    assert "suite" not in other["eval"]
    assert "## The metric suite" in (folder / "report.md").read_text()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
@pytest.mark.parametrize("full, option", [("checkpoint", "--work"), ("tcvae_beta4_seed0.json",
                                                                     "--results")])
def test_a_full_disk_during_a_study_names_the_studys_option(tmp_path, monkeypatch, full,
                                                             option):
    # a study has no --out: a checkpoint sits under --work, a record under --results
    import pyro_tcvae.runs.folder as folder

    study = load_study(write(tmp_path, STUDY.replace("beta = [1, 4]", "beta = 4").replace(
        "seeds = [0, 1]", "seeds = [0]")))
    real_fsync = folder.os.fsync

    def no_space(fd):
        if full in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(folder.os, "fsync", no_space)
    with pytest.raises(RunError) as e:
        run_study(study, tmp_path / "r", tmp_path / "w", progress=False, echo=lambda *a: None)
    message = str(e.value)
    assert "no space left on the device" in message and full in message
    assert message.endswith(f"choose another {option}") and "--out" not in message
    # outside a study the same error names --out again
    with pytest.raises(RunError, match="choose another --out$"):
        with folder.fs_errors(tmp_path / "x"):
            raise OSError(errno.ENOSPC, "No space left on device")


def test_status_says_how_far_an_unfinished_run_got(tmp_path, capsys):
    import subprocess
    import sys

    text = STUDY.replace("seeds = [0, 1]", "seeds = [0]").replace(
        "[train]", "[train]\nmig_at = \"0.1\"\nmig_items = 200")  # a MIG reading at step 8
    path = write(tmp_path, text)
    study = load_study(path)
    work = tmp_path / "w" / "tiny"
    args = ["study", str(path), "--results", str(tmp_path / "r"), "--work", str(tmp_path / "w"),
            "--status"]
    # one run stopped half-way (a checkpoint at step 15 of 30, its logs), one trained
    # but not yet recorded, one not started
    (stopped, cfg), (trained, cfg2), (untouched, _) = study.runs
    runner.train(cfg.__class__(**{**cfg.to_dict(), "steps": 15, "log_every": 5}),
                 work / stopped, progress=False)
    (work / stopped / "model.pt").unlink()
    runner.train(cfg2, work / trained, progress=False)
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    at = {line.split()[0]: i for i, line in enumerate(lines) if not line.startswith(" ")}
    note = lines[at[stopped] + 1].strip()
    assert re.match(r"stopped at step 15 of 30 \(50%\), epoch 0\.2, \d+ s to go at "
                    r"\d+\.\d\d s/step; MIG \(subset\) ", note), note
    logged = [json.loads(line) for line in (work / stopped / "metrics.jsonl").open()]
    pace = (logged[-1]["time"] - logged[0]["time"]) / (15 - 5)  # the logs' own clock
    assert f"to go at {pace:.2f} s/step" in note
    assert "at epoch 0.111, ELBO -" in note and note.endswith("resumes it from its last checkpoint")
    assert lines[at[trained] + 1].strip() == "trained; the study evaluates and records it next"
    assert not lines[at[untouched] + 1].startswith(" ")  # nothing under a run not started
    # a live process holding the lock is said to be training
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (work / stopped / "lock").write_text(str(sleeper.pid))
        assert main(args) == 0
        out = capsys.readouterr().out
        assert f"training now (pid {sleeper.pid}): step 15 of 30 (50%)" in out
    finally:
        sleeper.kill()
        sleeper.wait()
    # a run of epochs: its length in steps from the logged epoch
    from pyro_tcvae.study.progress import run_progress

    epochs = cfg.__class__(**{**cfg.to_dict(), "steps": None, "epochs": 4})
    line = run_progress(work / stopped, epochs)
    logged = [r for r in (work / stopped / "metrics.jsonl").read_text().splitlines()]
    last = json.loads(logged[-1])
    total = round(last["step"] / last["epoch"] * 4)
    assert f"step 15 of {total} (" in line and f"epoch {last['epoch']:.1f}" in line
