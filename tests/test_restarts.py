"""Restarts: K short candidates, the lowest total correlation trained on, every stage resumable."""

import dataclasses
import json

import pytest
from helpers import assert_same_run

from pyro_tcvae.runs import RunError, TrainConfig, evaluate, train
from pyro_tcvae.runs.restarts import candidate_seeds, choose, train_restarts
from pyro_tcvae.runs.training import _train_one

SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64, log_every=10,
             checkpoint_every=10, threads=1)
RESTARTS = dict(restarts=3, restart_steps=10, restart_items=500, steps=30)


def test_the_choice_is_the_lowest_tc_and_the_candidates_seeds_are_disjoint():
    assert choose([{"tc": 0.4}, {"tc": 0.1}, {"tc": 0.3}]) == 1
    assert choose([{"tc": 0.2}, {"tc": 0.2}]) == 0  # a tie: the first
    with pytest.raises(ValueError):
        choose([])
    seeds = [candidate_seeds(s, 4) for s in range(5)]
    assert seeds[0] == [0, 1, 2, 3] and seeds[2] == [8, 9, 10, 11]
    flat = [x for s in seeds for x in s]
    assert len(flat) == len(set(flat))


def test_restarts_train_on_the_lowest_tc_candidate_as_its_own_run_would(tmp_path):
    run = tmp_path / "run"
    summary = train(TrainConfig(**SMALL, **RESTARTS), run, progress=False)
    assert summary["step"] == 30 and not summary["interrupted"]
    plan = json.loads((run / "restarts.json").read_text())
    seeds = [c["seed"] for c in plan["candidates"]]
    assert seeds == [0, 1, 2]
    # each candidate's TC is that of its own 10-step model on the fixed subset
    for c in plan["candidates"]:
        ev = json.loads((run / "candidates" / f"seed{c['seed']}" / "restart_eval.json")
                        .read_text())
        assert ev["decomposition"]["tc"] == c["tc"] and ev["items"] == 500
    tcs = [c["tc"] for c in plan["candidates"]]
    assert plan["chosen"] == tcs.index(min(tcs))
    winner = seeds[plan["chosen"]]
    # the chosen candidate went on exactly as a plain run with its seed does
    alone = tmp_path / "alone"
    train(TrainConfig(**SMALL, steps=30, seed=winner), alone, progress=False)
    assert_same_run(run, alone)
    # the training time counts every candidate
    assert summary["elapsed"] >= sum(c["train_seconds"] for c in plan["candidates"])
    assert plan["train_seconds"] == summary["elapsed"]
    assert evaluate(run, num_samples=300, progress=False)["mig"] is not None
    with pytest.raises(RunError, match="already holds a run"):
        train(TrainConfig(**SMALL, **RESTARTS), run, progress=False)


def test_an_interrupted_run_with_restarts_resumes_without_training_a_candidate_twice(tmp_path):
    calls = []

    def counting(config, run_dir, resume=False, **kw):
        calls.append((config.seed, config.steps, resume))
        summary = _train_one(config, run_dir, resume=resume, **kw)
        if len(calls) == 2 and not resume:  # a signal after the second candidate
            summary = {**summary, "interrupted": True}
        return summary

    cfg = TrainConfig(**SMALL, **RESTARTS).validate()
    run = tmp_path / "run"
    first = train_restarts(cfg, run, counting, progress=False)
    assert first["interrupted"] and not (run / "restarts.json").exists()
    scored = run / "candidates" / "seed0" / "restart_eval.json"
    before = scored.stat().st_mtime_ns
    train_restarts(cfg, run, counting, resume=True, progress=False)
    assert scored.stat().st_mtime_ns == before  # seed 0's score is reused, not recomputed
    # seeds 0 and 1 were trained once (seed 1's model was written before the signal),
    # seed 2 once, then the chosen one went on from its checkpoint
    assert [c[:2] for c in calls[:3]] == [(0, 10), (1, 10), (2, 10)]
    assert len(calls) == 4 and calls[3][1] == 30 and calls[3][2]
    plan = json.loads((run / "restarts.json").read_text())
    assert calls[3][0] == plan["candidates"][plan["chosen"]]["seed"]
    # with the choice written, a further resume does not score the candidates again
    calls.clear()
    train_restarts(cfg, run, counting, resume=True, progress=False)
    assert len(calls) == 1 and calls[0][1] == 30
    # other candidates would not match the choice made: refused; a longer run is fine
    for change in (dict(restarts=4), dict(restart_steps=5), dict(seed=1)):
        with pytest.raises(RunError, match="other settings"):
            train(dataclasses.replace(cfg, **change), run, resume=True, progress=False)
    longer = train(dataclasses.replace(cfg, steps=40), run, resume=True, progress=False)
    assert longer["step"] == 40


@pytest.mark.parametrize("change, message", [
    (dict(restarts=1), "0 \\(off\\) or 2 or more"),
    (dict(restarts=-2), "0 \\(off\\) or 2 or more"),
    (dict(restarts=2, restart_steps=30, steps=30), "fewer than steps"),
    (dict(restarts=2, restart_steps=0), "restart_steps must be >= 1"),
])
def test_bad_restart_options_are_refused_naming_the_fix(change, message):
    with pytest.raises(RunError, match=message):
        TrainConfig(**{**SMALL, "steps": 30, **change}).validate()


def test_the_report_lists_the_candidates_and_scores_the_choice():
    from pyro_tcvae.study.tables import restarts_table

    def plan(cands, chosen):
        return {"restart_steps": 500, "chosen": chosen,
                "candidates": [{"seed": s, "tc": tc, "mig": m} for s, tc, m in cands]}

    rows = [  # run a: the lowest TC is the best MIG; run b: it is not
        {"run": "a_seed0", "cell": "a", "seed": 0, "mig": 0.40,
         "restarts": plan([(0, 0.3, 0.25), (1, 0.5, 0.05)], 0)},
        {"run": "a_seed1", "cell": "a", "seed": 1, "mig": 0.10,
         "restarts": plan([(2, 0.4, 0.04), (3, 0.6, 0.20)], 0)},
        {"run": "plain_seed0", "cell": "plain", "seed": 0, "mig": 0.2, "restarts": None},
    ]
    text = "\n".join(restarts_table(rows))
    assert "| a_seed0 | 0: 0.300 / 0.250, 1: 0.500 / 0.050 | 0 | 0.400 |" in text
    assert "highest-MIG one in 1 of 2 runs" in text
    assert "over the 4 candidates: -0.200" in text  # ranks TC 1,3,2,4 vs MIG 4,2,1,3
    assert "plain_seed0" not in text
    assert restarts_table(rows[2:]) == []
