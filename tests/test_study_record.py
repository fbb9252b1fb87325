"""A study's records: what a record holds, and each run's state read from its record
(done, missing, made by another configuration or evaluation, damaged)."""

import dataclasses

from pyro_tcvae.study import load_study
from pyro_tcvae.study.record import (RECORD_VERSION, differences, make_record, read_record,
                                     record_path, status, write_record)
from study_files import write

EVALUATION = {"mig": {"score": 0.3, "stderr": 0.01, "gaps": {"a": 0.3}},
              "mig_histogram": {"score": 0.2, "stderr": 0.01},
              "decomposition": {"elbo": -100.0, "tc": 1.0, "mi": 1.0, "dwkl": 1.0, "kl": 3.0,
                                "log_likelihood": -97.0, "stderr": {}},
              "items": 1000, "seconds": 1.0, "codes": "left out of the record"}


def test_a_record_holds_the_run_its_evaluation_and_where_it_ran(tmp_path):
    study = load_study(write(tmp_path))
    name, cfg = study.runs[0]
    rec = make_record(study, name, cfg, EVALUATION, 60.0, commit="abc")
    assert (rec["version"], rec["study"], rec["run"], rec["commit"]) == \
        (RECORD_VERSION, "tiny", name, "abc")
    assert rec["config"] == cfg.to_dict() and rec["evaluate"] == study.evaluate
    assert rec["eval"] == {k: v for k, v in EVALUATION.items() if k != "codes"}
    assert rec["eval_uniform"] is None and rec["mig_over_time"] == [] and "restarts" not in rec
    assert set(rec["host"]) >= {"python", "torch", "threads", "cpu_bf16"}
    assert rec["digest"] == make_record(study, name, cfg, EVALUATION, 1.0)["digest"]
    write_record(tmp_path, rec)
    assert read_record(record_path(tmp_path, name)) == rec


def test_each_runs_state_comes_from_its_record(tmp_path):
    study = load_study(write(tmp_path))
    (n0, c0), (n1, c1), (n2, _), (n3, c3), (n4, _), (n5, c5) = study.runs
    results = tmp_path / "results"
    results.mkdir()
    write_record(results, make_record(study, n0, c0, EVALUATION, 1.0))
    write_record(results, make_record(study, n1, dataclasses.replace(c1, steps=40),
                                      EVALUATION, 1.0))
    record_path(results, n2).write_text("{not json")
    other_evaluation = dataclasses.replace(study, evaluate={**study.evaluate, "items": 5})
    write_record(results, make_record(other_evaluation, n3, c3, EVALUATION, 1.0))
    # where the data lives or how many threads ran it is not part of a run's identity
    write_record(results, make_record(study, n5, dataclasses.replace(c5, threads=2),
                                      EVALUATION, 1.0))
    assert [s for _, _, s in status(study, results)] == \
        ["done", "mismatch", "damaged", "mismatch", "missing", "done"]
    assert differences(read_record(record_path(results, n1))["config"], c1) == \
        "steps: record 40, study 30"
    assert differences(read_record(record_path(results, n3))["config"], c3) == ""


def test_the_commit_of_a_copy_without_git_comes_from_the_environment(monkeypatch):
    # a working tree sent to another machine has no .git: git prints nothing there
    import subprocess

    from pyro_tcvae.study import record

    in_checkout = record.git_commit()
    monkeypatch.setenv(record.ENV_COMMIT, "0123abc")
    if in_checkout is not None:  # the tests run in a clone: its own commit wins
        assert len(in_checkout.split("+")[0]) == 40 and record.git_commit() == in_checkout

    def outside_a_repository(*args, **kw):
        return subprocess.CompletedProcess(args, 128, stdout="", stderr="not a git repository")

    monkeypatch.setattr(record.subprocess, "run", outside_a_repository)
    assert record.git_commit() == "0123abc"
    monkeypatch.delenv(record.ENV_COMMIT)
    assert record.git_commit() is None
