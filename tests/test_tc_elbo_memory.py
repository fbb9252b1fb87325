"""The memory of past posteriors in the estimate of q(z): brute force, bookkeeping, resume."""

import pyro
import pytest
import torch
from helpers import assert_same_run, exact_terms, lookup_model_guide, lookup_table

from pyro_tcvae import TraceTC_ELBO
from pyro_tcvae.runs import RunError, TrainConfig, train

N, D, B = 200, 3, 50


def _steps(elbo, model, guide, batches):
    for idx in batches:
        elbo.loss_and_grads(model, guide, idx)  # gradients only: the table stays as it is


def test_a_memory_of_the_rest_of_the_dataset_makes_mss_exact():
    pyro.clear_param_store()
    loc, scale = lookup_table(N, D)
    captured = []
    model, guide = lookup_model_guide(loc, scale, capture=captured)
    batches = torch.randperm(N, generator=torch.Generator().manual_seed(0)).split(B)
    elbo = TraceTC_ELBO(beta=6.0, dataset_size=N, memory=N - B)
    _steps(elbo, model, guide, batches[:3])  # remembers the other 150 datapoints
    terms = elbo.decompose(model, guide, batches[3])  # every datapoint a component
    z = captured[-1]
    # brute force: the samples of batch 3 against all N components, weight 1/N each
    full = torch.zeros(N, D, dtype=loc.dtype)
    full[batches[3]] = z
    mi, tc, dwkl = (t[batches[3]] for t in exact_terms(full, loc, scale))
    assert terms["tc"] == pytest.approx(tc.mean().item(), abs=1e-9)
    assert terms["mi"] == pytest.approx(mi.mean().item(), abs=1e-9)
    assert terms["dwkl"] == pytest.approx(dwkl.mean().item(), abs=1e-9)
    # without the memory the batch alone gives another (biased) estimate
    alone = TraceTC_ELBO(beta=6.0, dataset_size=N)
    pyro.set_rng_seed(3)
    a = alone.decompose(model, guide, batches[3])
    assert abs(a["tc"] - tc.mean().item()) > 1e-3


def test_the_memory_keeps_the_newest_rows_once_and_only_in_training_steps():
    pyro.clear_param_store()
    loc, scale = lookup_table(N, D)
    model, guide = lookup_model_guide(loc, scale)
    batches = torch.arange(N).split(B)
    elbo = TraceTC_ELBO(beta=6.0, dataset_size=N, memory=80, num_particles=2)
    _steps(elbo, model, guide, batches[:3])  # two particles: each batch remembered once
    bank_loc, bank_scale = elbo._bank
    assert bank_loc.shape == (80, D)
    assert torch.equal(bank_loc, loc[70:150])
    assert torch.allclose(bank_scale, scale[70:150])  # (through the positive constraint)
    elbo.loss(model, guide, batches[3])  # an evaluation: nothing remembered
    assert torch.equal(elbo._bank[0], loc[70:150])
    state = elbo.state_dict()
    fresh = TraceTC_ELBO(beta=6.0, dataset_size=N, memory=80)
    fresh.load_state_dict(state)
    assert torch.equal(fresh._bank[0], loc[70:150])
    with pytest.raises(ValueError, match="memory must be an integer >= 0"):
        TraceTC_ELBO(memory=-1)


SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64, log_every=5,
             checkpoint_every=5, threads=1, memory=256)


def test_a_run_with_memory_resumes_exactly(tmp_path):
    train(TrainConfig(steps=20, **SMALL), tmp_path / "straight", progress=False)
    train(TrainConfig(steps=10, **SMALL), tmp_path / "resumed", progress=False)
    train(TrainConfig(steps=20, **SMALL), tmp_path / "resumed", resume=True, progress=False)
    assert_same_run(tmp_path / "straight", tmp_path / "resumed")


@pytest.mark.parametrize("change, message", [
    (dict(objective="factorvae"), "memory is an option of tcvae and beta-vae"),
    (dict(latent="laplace"), "use --latent normal"),
    (dict(memory=-5), "memory must be >= 0"),
])
def test_bad_memory_options_are_refused(change, message):
    with pytest.raises(RunError, match=message):
        TrainConfig(**{**SMALL, "steps": 10, **change}).validate()
