"""The field's baselines on the same footing: FactorVAE, AnnealedVAE, DIP-VAE-I/II."""

import json
import math

import numpy as np
import pyro
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO

from pyro_tcvae.data import Batches, NonlinearFactors
from pyro_tcvae.infer import (TraceAnnealedVAE_ELBO, TraceDIPVAE_ELBO, TraceFactorVAE_ELBO,
                              TraceTC_ELBO, batch_covariance, capacity_at, dip_penalty,
                              discriminator_mlp, permute_dims)
from pyro_tcvae.models import VAE
from pyro_tcvae.optim import Adam
from pyro_tcvae.runs import RunError, TrainConfig, read_checkpoint, train
from pyro_tcvae.study import sweep

from helpers import lookup_model_guide

# one thread: runs compared bit for bit must sum in one order (the adaptive default
# follows the machine's load)
SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64, log_every=10,
             checkpoint_every=15, threads=1)


@pytest.fixture
def one_thread():
    """Small networks: one thread (spinning threads only cost when another process runs)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


# ---------------------------------------------------------------------- FactorVAE
def test_permute_dims_permutes_each_column_independently():
    z = torch.arange(200.0).reshape(100, 2)
    p = permute_dims(z, generator=torch.Generator().manual_seed(0))
    for d in range(2):
        assert torch.equal(p[:, d].sort().values, z[:, d])
    assert not torch.equal(p, z)
    assert not torch.equal(p[:, 1] - p[:, 0], z[:, 1] - z[:, 0])  # rows broken apart


def test_discriminator_estimates_a_known_total_correlation(one_thread):
    """q(z) = (1/N) sum_n N(mu_n, 0.2^2 I) with mu_n ~ N(0, [[1, .9], [.9, 1]]): its TC is
    computed exactly (MSS with the whole dataset as the batch), and is close to the
    Gaussian closed form -1/2 log det R.  A trained discriminator recovers it."""
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    N, rho, sigma = 4096, 0.9, 0.2
    R = torch.tensor([[1.0, rho], [rho, 1.0]])
    loc = torch.randn(N, 2) @ torch.linalg.cholesky(R).T
    model, guide = lookup_model_guide(loc, torch.full((N, 2), sigma))
    cov = torch.cov(loc.T) + sigma ** 2 * torch.eye(2)
    corr = cov / torch.sqrt(torch.outer(cov.diag(), cov.diag()))
    gaussian = -0.5 * math.log(float(torch.linalg.det(corr)))
    exact = np.mean([TraceTC_ELBO(dataset_size=N).decompose(model, guide, torch.arange(N))["tc"]
                     for _ in range(5)])
    assert abs(exact - gaussian) < 0.02, (exact, gaussian)
    elbo = TraceFactorVAE_ELBO(gamma=0.0, discriminator=discriminator_mlp(2, hidden=64, layers=3),
                               discriminator_lr=3e-3)
    for _ in range(300):
        i1, i2 = torch.randint(N, (512,)), torch.randint(N, (512,))
        elbo.loss_and_grads(model, guide, i1, second_batch=(i2,))
    assert 0.5 < elbo.last_terms["discriminator_accuracy"] < 0.9
    evals = [elbo.decompose(model, guide, torch.randint(N, (256,))) for _ in range(40)]
    disc = np.mean([t["tc_discriminator"] for t in evals])
    mss = np.mean([t["tc"] for t in evals])
    print(f"TC: exact {exact:.3f}, Gaussian {gaussian:.3f}, discriminator {disc:.3f}, "
          f"MSS (batch 256) {mss:.3f}")
    # measured: exact 0.677, Gaussian 0.672, discriminator 0.656, MSS 0.668
    assert abs(disc - exact) < 0.1
    assert abs(mss - exact) < 0.1


def _small_vae(data, name="vae"):
    return VAE(x_shape=data.image_shape, z_dim=3, arch="small_mlp", likelihood="gaussian",
               dataset_size=len(data), name=name)


def test_the_vae_step_never_trains_the_discriminator_nor_its_update_the_vae(one_thread):
    data = NonlinearFactors()
    x, idx = data.images(torch.arange(64)), torch.arange(64)
    x2, idx2 = data.images(torch.arange(64, 128)), torch.arange(64, 128)
    vae = _small_vae(data)
    disc = discriminator_mlp(3, hidden=32, layers=2)
    elbo = TraceFactorVAE_ELBO(gamma=10.0, discriminator=disc)
    before = {k: v.clone() for k, v in disc.state_dict().items()}
    # the VAE's loss alone: gradients reach the encoder, never D
    pyro.set_rng_seed(1)
    elbo.differentiable_loss(vae.model, vae.guide, x, idx).backward()
    assert all(p.grad is None for p in disc.parameters())
    vae_grads = {n: p.grad.clone() for n, p in vae.named_parameters()}
    assert vae_grads["encoder.net.0.weight"].abs().sum() > 0
    assert all(torch.equal(v, disc.state_dict()[k]) for k, v in before.items())
    vae.zero_grad(set_to_none=True)
    # a training step: the same VAE gradients (D's update adds none), and D moved
    pyro.set_rng_seed(1)
    elbo.loss_and_grads(vae.model, vae.guide, x, idx, second_batch=(x2, idx2))
    for n, p in vae.named_parameters():
        torch.testing.assert_close(p.grad, vae_grads[n], rtol=0, atol=0)
    assert any(not torch.equal(v, disc.state_dict()[k]) for k, v in before.items())
    terms = elbo.last_terms
    assert {"tc", "tc_discriminator", "discriminator_loss", "discriminator_accuracy"} <= set(terms)
    assert terms["objective"] == pytest.approx(terms["elbo"] - 10.0 * terms["tc_discriminator"])


def test_factorvae_runs_its_discriminator_at_the_vaes_precision(one_thread):
    data = NonlinearFactors()
    x, idx = data.images(torch.arange(64)), torch.arange(64)
    seen = {}
    for precision in ("fp32", "bf16"):
        disc = discriminator_mlp(3, hidden=16, layers=2)
        dtypes = []
        disc[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
        elbo = TraceFactorVAE_ELBO(gamma=10.0, discriminator=disc, precision=precision)
        before = {k: v.clone() for k, v in disc.state_dict().items()}
        pyro.clear_param_store()
        vae = _small_vae(data)
        elbo.loss_and_grads(vae.model, vae.guide, x, idx)
        # D's passes (the VAE's loss, its own update on real and permuted codes)
        assert len(dtypes) == 3
        seen[precision] = set(dtypes)
        assert all(p.dtype == torch.float32 for p in disc.parameters())
        assert any(not torch.equal(v, disc.state_dict()[k]) for k, v in before.items())
        assert math.isfinite(elbo.last_terms["tc_discriminator"])
        assert math.isfinite(elbo.last_terms["discriminator_loss"])
    assert seen == {"fp32": {torch.float32}, "bf16": {torch.bfloat16}}
    with pytest.raises(ValueError, match="precision"):
        TraceFactorVAE_ELBO(precision="fp16")


def test_factorvae_refuses_what_it_cannot_do():
    data = NonlinearFactors()
    vae = _small_vae(data)
    with pytest.raises(ValueError, match="batch of at least 2"):
        TraceFactorVAE_ELBO(estimator="mws").loss(vae.model, vae.guide, data.images(torch.arange(1)),
                                   torch.arange(1))
    wrong = TraceFactorVAE_ELBO(discriminator=discriminator_mlp(5, hidden=8, layers=1))
    with pytest.raises(ValueError, match="takes 5 inputs, but the latent code has 3"):
        wrong.loss(vae.model, vae.guide, data.images(torch.arange(8)), torch.arange(8))
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        TraceFactorVAE_ELBO(gamma=-1.0)


# ---------------------------------------------------------------------- AnnealedVAE
def test_capacity_schedule():
    assert [capacity_at(s, 25.0, 100) for s in (0, 10, 50, 100, 1000)] == \
        [0.0, 2.5, 12.5, 25.0, 25.0]
    elbo = TraceAnnealedVAE_ELBO(capacity=10.0, capacity_steps=4)
    assert elbo.current_capacity() == 0.0
    with pytest.raises(ValueError, match="capacity must be >= 0"):
        TraceAnnealedVAE_ELBO(capacity=-1.0)
    with pytest.raises(ValueError, match="capacity_steps must be >= 1"):
        TraceAnnealedVAE_ELBO(capacity_steps=0)


def test_annealed_penalty_by_hand():
    """loss(annealed) - loss(ELBO) = N (gamma |mean KL - C| - mean KL) on the same z."""
    N, B, D = 50, 8, 2
    g = torch.Generator().manual_seed(0)
    loc, scale = torch.randn(N, D, generator=g), 0.3 + torch.rand(N, D, generator=g)
    zs = []
    model, guide = lookup_model_guide(loc, scale, capture=zs)
    idx = torch.arange(3, 3 + B)
    elbo = TraceAnnealedVAE_ELBO(gamma=7.0, capacity=10.0, capacity_steps=4)
    elbo.step = 1                                          # C = 2.5
    pyro.set_rng_seed(3)
    annealed = elbo.loss(model, guide, idx)
    pyro.set_rng_seed(3)
    plain = Trace_ELBO().loss(model, guide, idx)
    z = zs[0]
    q = torch.distributions.Normal(loc[idx], scale[idx]).log_prob(z).sum(-1)
    p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    kl = float((q - p).mean())
    assert annealed - plain == pytest.approx(N * (7.0 * abs(kl - 2.5) - kl), rel=1e-5)
    assert elbo.last_terms["capacity"] == 2.5


# ---------------------------------------------------------------------- DIP-VAE
def test_batch_covariance_and_dip_penalty_by_hand():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(2, 30, 4, generator=g, dtype=torch.float64)
    cov = batch_covariance(m)
    for r in range(2):
        np.testing.assert_allclose(cov[r].numpy(), np.cov(m[r].numpy().T, bias=True), atol=1e-12)
    c = torch.tensor([[2.0, 0.5], [0.5, 0.25]])
    # off-diagonal 2 x 0.5^2 = 0.5; diagonal (2 - 1)^2 + (0.25 - 1)^2 = 1.5625
    assert float(dip_penalty(c, 3.0, 7.0)) == pytest.approx(3 * 0.5 + 7 * 1.5625)


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_dip_penalty_in_the_objective_by_hand(kind):
    """loss(DIP) - loss(ELBO) = N * penalty of the batch's (aggregate) covariance."""
    N, B, D = 40, 10, 3
    g = torch.Generator().manual_seed(1)
    loc, scale = torch.randn(N, D, generator=g), 0.2 + torch.rand(N, D, generator=g)
    model, guide = lookup_model_guide(loc, scale)
    idx = torch.arange(5, 5 + B)
    elbo = TraceDIPVAE_ELBO(lambda_od=2.0, kind=kind)
    assert elbo.lambda_d == (20.0 if kind == "i" else 2.0)
    pyro.set_rng_seed(0)
    dip = elbo.loss(model, guide, idx)
    pyro.set_rng_seed(0)
    plain = Trace_ELBO().loss(model, guide, idx)
    mu = loc[idx].double()
    cov = torch.from_numpy(np.cov(mu.numpy().T, bias=True))
    if kind == "ii":
        cov = cov + torch.diag((scale[idx].double() ** 2).mean(0))
    off = cov - torch.diag(cov.diag())
    penalty = 2.0 * float((off ** 2).sum()) + elbo.lambda_d * float(((cov.diag() - 1) ** 2).sum())
    assert dip - plain == pytest.approx(N * penalty, rel=1e-4)
    assert elbo.last_terms["dip_penalty"] == pytest.approx(penalty, rel=1e-4)


def test_dip_needs_the_posteriors_moments():
    N, D = 20, 2
    loc = torch.randn(N, D)
    model, guide = lookup_model_guide(
        loc, torch.ones(N, D),
        family=lambda lo, sc: pyro.distributions.RelaxedBernoulli(torch.tensor(0.5), logits=lo),
        prior=pyro.distributions.RelaxedBernoulli(torch.tensor(0.5),
                                                  logits=torch.zeros(D)).to_event(1))
    with pytest.raises(ValueError, match="DIP-VAE-II needs the (mean|variance) of q.z.x."):
        TraceDIPVAE_ELBO(kind="ii").loss(model, guide, torch.arange(6))
    with pytest.raises(RunError, match="dip-ii needs the mean and variance"):
        TrainConfig(objective="dip-ii", latent="relaxed_bernoulli").validate()


# ---------------------------------------------------------------------- all of them
@pytest.mark.parametrize("make", [
    lambda: TraceFactorVAE_ELBO(gamma=10.0, discriminator=discriminator_mlp(3, 64, 2)),
    lambda: TraceAnnealedVAE_ELBO(gamma=50.0, capacity=5.0, capacity_steps=100),
    lambda: TraceDIPVAE_ELBO(lambda_od=5.0, kind="i"),
    lambda: TraceDIPVAE_ELBO(lambda_od=5.0, kind="ii"),
], ids=["factorvae", "annealed", "dip-i", "dip-ii"])
def test_each_objective_trains_on_a_small_set(make, one_thread):
    data = NonlinearFactors()
    pyro.set_rng_seed(0)
    vae = _small_vae(data)
    elbo = make()
    svi = SVI(vae.model, vae.guide, Adam(lr=3e-3), loss=elbo)
    losses = []
    for epoch in range(12):
        for x, idx in Batches(data, 128, seed=epoch, drop_last=True):
            losses.append(svi.step(x, idx) / len(data))
    losses = torch.tensor(losses)
    assert torch.isfinite(losses).all()
    assert losses[-10:].mean() < 0.8 * losses[:10].mean(), (losses[:10].mean(), losses[-10:].mean())
    t = elbo.last_terms
    assert t["objective"] == pytest.approx(-t["loss"] / len(data), rel=1e-4)


def test_factorvae_resume_is_bit_exact(tmp_path):
    cfg = dict(SMALL, objective="factorvae", gamma=20.0, steps=24, log_every=6,
               checkpoint_every=1000)
    train(TrainConfig(**cfg), tmp_path / "straight", progress=False)
    train(TrainConfig(**{**cfg, "steps": 12}), tmp_path / "resumed", progress=False)
    state = read_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert state["step"] == 12 and state["objective"]["discriminator"]
    train(TrainConfig(**cfg), tmp_path / "resumed", resume=True, progress=False)
    a = read_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = read_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for k in a["objective"]["discriminator"]:
        assert torch.equal(a["objective"]["discriminator"][k], b["objective"]["discriminator"][k])
    lines = lambda run: [{k: v for k, v in json.loads(line).items() if k not in ("time", "threads")}
                         for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    assert lines("straight") == lines("resumed")
    assert "tc_discriminator" in lines("straight")[0]


@pytest.mark.parametrize("changes, message", [
    (dict(objective="factorvae", gamma=-1.0), "gamma must be a finite number >= 0"),
    (dict(objective="annealed", capacity=-5.0), "capacity must be a finite number >= 0"),
    (dict(objective="annealed", capacity_steps=0), "capacity_steps must be >= 1"),
    (dict(objective="dip-i", lambda_od=-1.0), "lambda_od must be a finite number >= 0"),
    (dict(objective="beta-vae", gamma=35.0), "gamma is not an option of the objective 'beta-vae'"),
    (dict(objective="factorvae", beta=4.0), "beta is not an option of the objective"),
    (dict(objective="factorvae", batch_size=1, estimator="mws"), "needs batch_size >= 2"),
    (dict(objective="dip-i", warmup=10), "drop --warmup"),
])
def test_objective_options_are_checked(changes, message):
    with pytest.raises(RunError, match=message):
        TrainConfig(**changes).validate()


def test_a_sweep_over_each_objectives_own_hyperparameter(tmp_path, one_thread):
    base = TrainConfig(dataset="nonlinear", z_dim=2, steps=6, batch_size=100, log_every=3)
    rows = sweep(base, tmp_path, grid={"factorvae": [5.0], "dip-ii": [1.0, 2.0], "vae": [None]},
                 num_samples=300, progress=False, echo=lambda *a: None)
    assert [r["run"] for r in rows] == ["factorvae_gamma5_seed0", "dip-ii_lambda_od1_seed0",
                                        "dip-ii_lambda_od2_seed0", "vae_seed0"]
    assert [(r["hyper"], r["value"]) for r in rows] == [
        ("gamma", 5.0), ("lambda_od", 1.0), ("lambda_od", 2.0), (None, None)]
    assert (tmp_path / "mig_vs_hyperparameter.png").stat().st_size > 1000
    again = sweep(base, tmp_path, grid={"dip-ii": [2.0]}, num_samples=300, progress=False,
                  echo=lambda *a: None)
    assert again[0]["mig"] == rows[2]["mig"]  # an evaluated run is read, not trained again
