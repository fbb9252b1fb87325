"""Training runs: checkpoints and exact resume, evaluation, plots, one build per command."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import assert_same_run

from pyro_tcvae.runs import RunError, TrainConfig, evaluate, plot_run, read_checkpoint, train

# one thread: runs compared bit for bit must sum in one order (the adaptive default
# follows the machine's load)
SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64, log_every=10,
             checkpoint_every=15, threads=1)


def test_a_short_run_writes_checkpoint_log_model_eval_and_plots(tmp_path):
    run = tmp_path / "run"
    summary = train(TrainConfig(steps=30, **SMALL), run, progress=False)
    assert summary["step"] == 30 and not summary["interrupted"]
    for name in ("config.json", "checkpoint.pt", "metrics.jsonl", "model.pt"):
        assert (run / name).is_file(), name
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [10, 20, 30]
    assert set(log[0]) >= {"loss", "elbo", "mi", "tc", "dwkl", "beta", "time"}
    result = evaluate(run, num_samples=800, progress=False)
    assert set(result) >= {"mig", "mig_histogram", "decomposition"}
    assert set(result["mig"]) >= {"score", "stderr", "gaps", "mi"}
    assert set(result["decomposition"]) >= {"elbo", "log_likelihood", "mi", "tc", "dwkl", "kl",
                                            "stderr"}
    assert json.loads((run / "eval.json").read_text())["mig"]["score"] == result["mig"]["score"]
    files = plot_run(run, progress=False)
    names = {Path(f).name for f in files}
    assert names == {"traversals.png", "traversals.gif", "reconstructions.png",
                     "latents_vs_factors.png", "training_curves.png"}
    assert all(Path(f).stat().st_size > 1000 for f in files)


def test_warmup_schedule_and_objectives():
    cfg = TrainConfig(objective="tcvae", beta=6.0, warmup=100, beta_start=1.0)
    assert cfg.weights(0) == (1.0, 1.0, 1.0)
    assert cfg.weights(50) == (1.0, 3.5, 1.0)
    assert cfg.weights(1000) == (1.0, 6.0, 1.0)
    assert TrainConfig(objective="beta-vae", beta=4.0).weights(0) == (4.0, 4.0, 4.0)
    assert TrainConfig(objective="vae", beta=4.0).weights(0) == (1.0, 1.0, 1.0)


def test_tcvae_weighs_the_dimension_wise_kl_by_gamma():
    from pyro_tcvae.runs.registry import OBJECTIVES
    cfg = TrainConfig(objective="tcvae", beta=6.0, gamma=0.25, warmup=10).validate()
    assert cfg.weights(0) == (1.0, 1.0, 0.25) and cfg.weights(10) == (1.0, 6.0, 0.25)
    elbo = OBJECTIVES["tcvae"].make(cfg, 1000, 3, 100)
    assert (elbo.alpha, elbo.beta, elbo.gamma) == (1.0, 1.0, 0.25)
    assert TrainConfig(objective="tcvae").validate().weights(0) == (1.0, 6.0, 1.0)
    assert cfg.label() == "tcvae_beta6"  # beta stays the setting a sweep varies
    with pytest.raises(RunError, match="gamma is not an option of the objective 'beta-vae'"):
        TrainConfig(objective="beta-vae", gamma=0.5).validate()
    with pytest.raises(RunError, match="gamma must be a finite number >= 0"):
        TrainConfig(objective="tcvae", gamma=-1.0).validate()


ROOT = str(Path(__file__).resolve().parents[1])


def _cli(args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.Popen([sys.executable, "-m", "pyro_tcvae.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_then_resume_equals_an_uninterrupted_run(tmp_path):
    opts = ["train", "--dataset", "small_sprites", "--arch", "small_mlp", "--z-dim", "3",
            "--batch-size", "128", "--steps", "400", "--log-every", "10",
            "--checkpoint-every", "100000", "--no-eval", "--quiet",
            # a fixed thread count: the adaptive default follows the machine's load, and
            # a sum over another number of threads rounds differently
            "--threads", "1"]
    env_cwd = tmp_path
    proc = _cli(opts + ["--out", "a"], env_cwd)
    log = tmp_path / "a" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.is_file() or
                                      len(log.read_text().splitlines()) < 4):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in out and "--resume" in out
    stopped_at = read_checkpoint(tmp_path / "a" / "checkpoint.pt")["step"]
    assert 0 < stopped_at < 400
    assert not (tmp_path / "a" / "model.pt").exists()
    resumed = _cli(["train", "--out", "a", "--resume", "--no-eval", "--quiet"], env_cwd)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    straight = _cli(opts + ["--out", "b"], env_cwd)
    out, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err
    assert_same_run(tmp_path / "a", tmp_path / "b")


def test_resume_can_extend_a_finished_run(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(steps=20, **SMALL), run, progress=False)
    more = train(TrainConfig(steps=35, **SMALL), run, resume=True, progress=False)
    assert more["step"] == 35
    log = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert log == [10, 20, 30, 35]
