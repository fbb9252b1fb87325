"""The fast training paths: fused Adam through Pyro's wrapper, bf16 autocast, the MIG
monitor, and resuming runs written before these options existed."""

import json

import pyro
import pytest
import torch
from pyro.infer import SVI

from pyro_tcvae import TraceTC_ELBO
from pyro_tcvae.data import Batches, NonlinearFactors
from pyro_tcvae.models import VAE
from pyro_tcvae.optim import Adam, fused_supported
from pyro_tcvae.runs import RunError, TrainConfig, read_checkpoint, train
from pyro_tcvae.viz import plot_mig_over_time

SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64, log_every=10,
             checkpoint_every=15)


def _svi_losses(optim, precision="fp32", steps=60, seed=0, arch="small_mlp"):
    """Train a VAE on NonlinearFactors; (per-datapoint losses, the VAE)."""
    data = NonlinearFactors()
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    vae = VAE(x_shape=data.image_shape, z_dim=4, arch=arch, likelihood="gaussian",
              dataset_size=len(data), precision=precision)
    svi = SVI(vae.model, vae.guide, optim, loss=TraceTC_ELBO(beta=4.0))
    losses = []
    batches = Batches(data, 128, shuffle=True, seed=seed)
    epoch = 0
    while len(losses) < steps:
        for x, idx in batches.epoch_batches(epoch):
            losses.append(svi.step(x, idx) / len(data))
            if len(losses) == steps:
                break
        epoch += 1
    return torch.tensor(losses), vae


@pytest.mark.skipif(not fused_supported("cpu"), reason="torch has no fused Adam on CPU")
def test_fused_adam_gives_the_parameters_of_plain_adam():
    _, fused = _svi_losses(Adam(lr=1e-3, fused=True), steps=8)
    _, plain = _svi_losses(pyro.optim.Adam({"lr": 1e-3}), steps=8)
    a, b = fused.state_dict(), plain.state_dict()
    moved = 0.0
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
        moved = max(moved, float((a[k] - VAE_INIT[k]).abs().max()))
    assert moved > 5e-3  # the parameters did move: 8 steps of lr 1e-3


def _init_state():
    pyro.set_rng_seed(0)
    data = NonlinearFactors()
    return VAE(x_shape=data.image_shape, z_dim=4, arch="small_mlp", likelihood="gaussian",
               dataset_size=len(data)).state_dict()


VAE_INIT = _init_state()


def test_library_adam_is_a_pyro_optimizer_with_one_state_per_parameter():
    optim = Adam(lr=1e-3)
    assert isinstance(optim, pyro.optim.PyroOptim)
    losses, vae = _svi_losses(optim, steps=3)
    state = optim.get_state()
    assert len(state) == len(list(vae.parameters()))
    assert all(int(s["state"][0]["step"]) == 3 for s in state.values())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_precisions_train(precision):
    losses, vae = _svi_losses(Adam(lr=3e-3), precision=precision, steps=120)
    assert torch.isfinite(losses).all()
    assert losses[-15:].mean() < losses[:15].mean() - 2.0, (losses[:15].mean(), losses[-15:].mean())
    # the posterior and the likelihood are built in float32 even under bf16
    x = NonlinearFactors().images(torch.arange(8))
    q = vae.encode(x)
    assert q.loc.dtype == torch.float32 and vae.decode(q.loc).dtype == torch.float32


def test_bf16_and_fp32_reach_the_same_loss():
    fp32, _ = _svi_losses(Adam(lr=3e-3), precision="fp32", steps=150, arch="mlp")
    bf16, _ = _svi_losses(Adam(lr=3e-3), precision="bf16", steps=150, arch="mlp")
    # same seed and batches: the curves agree within a few percent of the drop
    drop = float(fp32[:10].mean() - fp32[-30:].mean())
    assert drop > 5.0
    assert abs(float(fp32[-30:].mean() - bf16[-30:].mean())) < 0.1 * drop


def test_precision_is_validated_and_saved(tmp_path):
    with pytest.raises(ValueError, match="precision must be one of"):
        VAE(x_shape=(12,), z_dim=2, arch="small_mlp", precision="fp16")
    with pytest.raises(RunError, match="precision must be one of"):
        TrainConfig(precision="half").validate()
    vae = VAE(x_shape=(12,), z_dim=2, arch="small_mlp", likelihood="gaussian", precision="bf16")
    assert VAE.load(vae.save(tmp_path / "m.pt")).precision == "bf16"


def test_mig_monitor_logs_fixed_subset_at_training_time_intervals(tmp_path):
    run = tmp_path / "run"
    cfg = TrainConfig(steps=60, mig_every=0.0005, mig_items=500, **SMALL)  # every 0.03 s
    train(cfg, run, progress=False, echo=lambda *a: None)
    recs = [json.loads(line) for line in (run / "mig.jsonl").read_text().splitlines()]
    assert len(recs) >= 2
    times = [r["time"] for r in recs]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert all(r["time"] >= 0.03 * (i + 1) - 1e-9 for i, r in enumerate(recs))
    assert all(0.0 <= r["mig"] <= 1.0 and r["stderr"] >= 0 for r in recs)
    assert set(recs[0]["gaps"]) == {"shape", "scale", "orientation", "posX", "posY"}
    # training time excludes the evaluations
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["time"] >= recs[-1]["time"]
    plot_mig_over_time(recs, path=tmp_path / "mig.png", target=0.3)
    assert (tmp_path / "mig.png").stat().st_size > 1000


def test_mig_schedule_in_steps_epochs_and_at_given_epochs(tmp_path):
    # small_sprites: 4,608 items, 72 steps of 64 per epoch
    small = {k: v for k, v in SMALL.items() if k != "batch_size"}
    run = tmp_path / "run"
    cfg = TrainConfig(steps=50, batch_size=64, mig_every="15steps", mig_at="0.25,0.5,2",
                      mig_items=300, **small)
    train(cfg, run, progress=False, echo=lambda *a: None)
    recs = [json.loads(line) for line in (run / "mig.jsonl").read_text().splitlines()]
    # every 15 steps, and at epochs 0.25 and 0.5 (steps 18 and 36; epoch 2 is after the end)
    assert [r["step"] for r in recs] == [15, 18, 30, 36, 45]
    assert [r["epoch"] for r in recs] == [s / 72 for s in (15, 18, 30, 36, 45)]
    assert all(r["loss_step"] <= r["step"] and r["loss"] > 0 for r in recs[1:])
    # every 0.3 epochs = 21.6 steps: readings at the first step past each interval's end
    cfg2 = TrainConfig(steps=50, batch_size=64, mig_every="0.3epochs", mig_items=300, **small)
    train(cfg2, tmp_path / "run2", progress=False, echo=lambda *a: None)
    recs2 = [json.loads(line) for line in (tmp_path / "run2" / "mig.jsonl").read_text()
             .splitlines()]
    assert [r["step"] for r in recs2] == [22, 44]


def test_mig_every_spellings():
    from pyro_tcvae.runs.config import parse_every
    assert parse_every("2m") == parse_every("120s") == parse_every("2 min") == ("minutes", 2.0)
    assert parse_every("1h") == ("minutes", 60.0)
    assert parse_every("500steps") == parse_every("500 step") == ("steps", 500)
    assert parse_every("2.5epochs") == parse_every("2.5ep") == ("epochs", 2.5)
    assert parse_every("0") is None and parse_every("0m") is None
    # a number saved by older versions (minutes) and its spelling with a unit are one
    # schedule, so a study finds the old record
    assert TrainConfig(mig_every=2.0).mig_every == TrainConfig(mig_every="120s").mig_every == "2m"
    assert TrainConfig(mig_every=0.0).mig_every == "0"
    assert TrainConfig(mig_at="10, 2,5,2").mig_at == "2,5,10"
    for bad, hint in (("2", "needs a unit: 2m"), ("2 weeks", "with a unit"),
                      ("1.5steps", "whole number"), ("-1m", "with a unit")):
        with pytest.raises(RunError, match=hint):
            TrainConfig(mig_every=bad).validate()
    for bad in ("2,x", "0,5", "-1"):
        with pytest.raises(RunError, match="mig_at"):
            TrainConfig(mig_at=bad).validate()


def test_runs_written_before_the_new_options_resume(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(steps=20, **SMALL), run, progress=False)
    # drop the keys added later (precision, fused, mig_*) from the saved config and state
    new = ("precision", "fused", "mig_every", "mig_at", "mig_items")
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if k not in new}))
    # ... and write the checkpoint as the older format did: a plain torch.save, no
    # checksum, the Python RNG state under "python"
    state = read_checkpoint(run / "checkpoint.pt")
    state["config"] = {k: v for k, v in state["config"].items() if k not in new}
    state["format"] = "pyro_tcvae.checkpoint/1"
    state["rng"]["python"] = state["rng"].pop("random")
    torch.save(state, run / "checkpoint.pt")
    with pytest.warns(UserWarning, match="without a checksum"):
        more = train(TrainConfig(steps=30, **SMALL), run, resume=True, progress=False)
    assert more["step"] == 30


def test_a_second_process_cannot_train_in_the_same_folder(tmp_path):
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / "lock").write_text(str(other.pid))
        with pytest.raises(RunError, match=f"another process \\(pid {other.pid}\\)"):
            train(TrainConfig(steps=5, **SMALL), run, progress=False)
        assert not (run / "config.json").exists()
    finally:
        other.kill()
        other.wait()
    # the owner is gone: its lock is stale and taken over; released at the end
    train(TrainConfig(steps=5, **SMALL), run, progress=False)
    assert (run / "model.pt").is_file() and not (run / "lock").exists()


def test_grouped_adam_state_moves_to_and_from_pyros_per_parameter_adam():
    """Three steps with one optimizer, three with the other after a state hand-over,
    give the parameters of six steps with pyro.optim.Adam alone."""
    def run(first, second):
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        data = NonlinearFactors()
        vae = VAE(x_shape=data.image_shape, z_dim=4, arch="small_mlp", likelihood="gaussian",
                  dataset_size=len(data))
        elbo = TraceTC_ELBO(beta=4.0)
        x, idx = data.images(torch.arange(128)), torch.arange(128)
        svi = SVI(vae.model, vae.guide, first, loss=elbo)
        for _ in range(3):
            svi.step(x, idx)
        second.set_state(first.get_state())
        svi = SVI(vae.model, vae.guide, second, loss=elbo)
        for _ in range(3):
            svi.step(x, idx)
        return vae.state_dict()

    plain = lambda: pyro.optim.Adam({"lr": 1e-2})
    reference = run(plain(), plain())
    for a, b in ((Adam(lr=1e-2, fused=False), plain()), (plain(), Adam(lr=1e-2, fused=False)),
                 (Adam(lr=1e-2), Adam(lr=1e-2))):
        got = run(a, b)
        for k in reference:
            torch.testing.assert_close(got[k], reference[k], rtol=1e-4, atol=1e-6)


def test_grouped_adam_releases_gradients_and_steps_once_for_all_parameters():
    optim = Adam(lr=1e-3)
    losses, vae = _svi_losses(optim, steps=2)
    assert all(p.grad is None for p in vae.parameters())
    assert len(optim.optimizer.param_groups) == 1
    assert len(optim.optimizer.param_groups[0]["params"]) == len(list(vae.parameters()))


@pytest.mark.skipif(not fused_supported("cpu"), reason="torch has no fused Adam on CPU")
def test_grouped_adam_applies_a_transposed_gradient_to_the_right_entries():
    # torch's fused kernel reads a gradient in its parameter's layout; a transposed
    # view (as a sparse layer's weight gradient can be) must be laid out first
    grad = (torch.arange(12.0).reshape(4, 3) - 5).t()  # [3, 4], not contiguous
    out = {}
    for name, optim in (("grouped", Adam(lr=0.1, fused=True)),
                        ("plain", pyro.optim.Adam({"lr": 0.1}))):
        pyro.clear_param_store()
        p = pyro.param("w", torch.zeros(3, 4))
        unconstrained = pyro.get_param_store().get_param("w").unconstrained()
        for step in range(2):
            unconstrained.grad = grad * (step + 1) + step
            optim([unconstrained])
        out[name] = unconstrained.detach().clone()
    torch.testing.assert_close(out["grouped"], out["plain"])


@pytest.mark.parametrize("arch", ["small_mlp", "mlp"])
def test_bf16_keeps_the_latent_end_of_both_networks_in_float32(arch):
    # the posterior's parameters and the decoder's reading of z are what the TC
    # estimate is delicate about; the layers between them run in bfloat16
    from pyro_tcvae.models.nets import Float32Linear

    torch.manual_seed(0)
    shape = (64, 64) if arch == "mlp" else (12,)
    vae = VAE(x_shape=shape, z_dim=3, arch=arch, precision="bf16")
    seen = {}
    for name, module in [*vae.encoder.named_modules(prefix="encoder"),
                         *vae.decoder.named_modules(prefix="decoder")]:
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(
                lambda m, i, o, name=name: seen.__setitem__(name, (type(m), o.dtype)))
    x = (torch.rand(8, *shape) < 0.05).float()
    with torch.no_grad():
        vae.decode(vae.encode(x).loc)
    enc = [v for k, v in seen.items() if k.startswith("encoder")]
    dec = [v for k, v in seen.items() if k.startswith("decoder")]
    assert enc[-1] == (Float32Linear, torch.float32)
    assert dec[0] == (Float32Linear, torch.float32)
    assert {dtype for _, dtype in enc[1:-1] + dec[1:]} == {torch.bfloat16}


def test_a_monitor_reading_is_the_mig_and_elbo_of_its_subset(tmp_path):
    """The reading at the last step equals MIG and the ELBO decomposition computed
    afresh on the same fixed subset from the saved model (one encoding and one set of
    samples serve both in the monitor)."""
    from pyro_tcvae.data import View
    from pyro_tcvae.metrics import elbo_decomposition, mig
    from pyro_tcvae.runs import load_model
    from pyro_tcvae.runs.build import make_dataset

    small = {k: v for k, v in SMALL.items() if k != "batch_size"}
    run = tmp_path / "run"
    cfg = TrainConfig(steps=36, batch_size=64, mig_at="0.5", mig_items=400, **small)
    train(cfg, run, progress=False, echo=lambda *a: None)
    (rec,) = [json.loads(line) for line in (run / "mig.jsonl").read_text().splitlines()]
    assert rec["step"] == 36
    vae, config = load_model(run)
    data = make_dataset(config, progress=False)
    g = torch.Generator().manual_seed(config.seed)
    items = View(data, torch.randperm(len(data), generator=g)[:400])
    m = mig(model=vae, data=items, num_samples=400, max_components=None, seed=config.seed,
            progress=False)
    d = elbo_decomposition(vae, items, 400, None, config.seed, progress=False)
    assert rec["mig"] == pytest.approx(m.score, abs=1e-9)
    assert rec["stderr"] == pytest.approx(m.stderr, abs=1e-9)
    for k in ("elbo", "log_likelihood", "kl", "mi", "tc", "dwkl"):
        assert rec[k] == pytest.approx(d[k], rel=1e-6, abs=1e-6), k
    assert rec["elbo"] == pytest.approx(rec["log_likelihood"] - rec["kl"], rel=1e-6)
    assert rec["elbo_stderr"] == pytest.approx(d["stderr"]["elbo"], rel=1e-6)
