"""Building a run's parts from its configuration (pyro_tcvae.runs.build): the dataset
(biased or not), the batch check, the model, the SVI with the configured objective and
learning rate, and the model of a run folder (model.pt, else the checkpoint)."""

import pyro
import pytest
import torch

from pyro_tcvae.data import SmallSprites, View
from pyro_tcvae.infer import (TraceAnnealedVAE_ELBO, TraceDIPVAE_ELBO, TraceFactorVAE_ELBO,
                              TraceTC_ELBO)
from pyro_tcvae.models import VAE
from pyro_tcvae.optim import fused_supported
from pyro_tcvae.runs import RunError, TrainConfig, train
from pyro_tcvae.runs.build import (check_fits, fresh_model, load_model, make_dataset,
                                   make_model, make_svi)

SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=32, threads=1)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sprites():
    return SmallSprites()


def _equal_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_the_dataset_is_the_registrys_and_correlate_gives_its_biased_view():
    plain = make_dataset(TrainConfig(**SMALL).validate(), progress=False)
    assert isinstance(plain, SmallSprites) and len(plain) == 4608
    cfg = TrainConfig(**SMALL, correlate="posX,posY,10").validate()
    biased = make_dataset(cfg, progress=False)
    expected = plain.correlated("posX", "posY", 10.0, seed=0)
    assert isinstance(biased, View) and torch.equal(biased.parent_indices,
                                                    expected.parent_indices)
    # the bias shows: posX and posY are tied in the biased set, not in the uniform one
    def corr(d):
        f = d.factors[:, 3:5].double()
        return float(torch.corrcoef(f.T)[0, 1])
    assert corr(biased) > 0.5 and abs(corr(plain)) < 1e-9
    uniform = make_dataset(cfg, progress=False, biased=False)
    assert isinstance(uniform, SmallSprites) and len(uniform) == 4608
    with pytest.raises(RunError, match="correlate 'posX,colour,1'"):
        make_dataset(TrainConfig(**SMALL, correlate="posX,colour,1").validate(), progress=False)


def test_the_batch_must_fit_in_the_dataset(sprites):
    data = sprites.subset(shape="heart", scale=0)  # 512 items
    check_fits(TrainConfig(**{**SMALL, "batch_size": len(data)}).validate(), data)
    with pytest.raises(RunError, match=r"batch_size 513 is larger than the dataset "
                                       r"small_sprites \(512 items\): use --batch-size 512"):
        check_fits(TrainConfig(**{**SMALL, "batch_size": 513}).validate(), data)


def test_the_model_is_the_one_the_configuration_describes():
    cfg = TrainConfig(**SMALL, latent="laplace", prior="flow").validate()
    vae = make_model(cfg, (32, 32), 4608)
    c = vae.config()
    assert (tuple(c["x_shape"]), c["z_dim"], c["arch"], c["dataset_size"], c["precision"]) == \
        ((32, 32), 3, "small_mlp", 4608, "fp32")
    assert (c["latent"]["name"], c["prior"]["name"], c["likelihood"]["name"]) == \
        ("laplace", "flow", cfg.likelihood)


def test_a_fresh_model_depends_on_the_seed_alone(sprites):
    data = sprites
    pyro.param("left_over", torch.ones(2))
    a = fresh_model(TrainConfig(**SMALL).validate(), data, "cpu")
    assert "left_over" not in pyro.get_param_store()  # the param store is cleared
    torch.randn(100)  # whatever ran in between
    b = fresh_model(TrainConfig(**SMALL).validate(), data, "cpu")
    c = fresh_model(TrainConfig(**SMALL, seed=1).validate(), data, "cpu")
    assert _equal_weights(a, b) and not _equal_weights(a, c)


@pytest.mark.parametrize("options, kind, expected", [
    # (alpha, beta, gamma) of the TC decomposition at step 0: the warm-up's start
    (dict(objective="tcvae", beta=4.0, gamma=0.5, warmup=10, beta_start=2.0), TraceTC_ELBO,
     dict(alpha=1.0, beta=2.0, gamma=0.5)),
    (dict(objective="tcvae", beta=4.0), TraceTC_ELBO, dict(alpha=1.0, beta=4.0, gamma=1.0)),
    (dict(objective="beta-vae", beta=3.0), TraceTC_ELBO, dict(alpha=3.0, beta=3.0, gamma=3.0)),
    (dict(objective="vae"), TraceTC_ELBO, dict(alpha=1.0, beta=1.0, gamma=1.0)),
    (dict(objective="tcvae", memory=64), TraceTC_ELBO, dict(memory=64)),
    (dict(objective="factorvae", gamma=7.0), TraceFactorVAE_ELBO, dict(gamma=7.0)),
    # capacity_steps unset: the run's length
    (dict(objective="annealed", capacity=5.0, gamma=20.0), TraceAnnealedVAE_ELBO,
     dict(capacity=5.0, gamma=20.0, capacity_steps=123)),
    (dict(objective="annealed", capacity_steps=40), TraceAnnealedVAE_ELBO,
     dict(capacity=25.0, gamma=1000.0, capacity_steps=40)),
    # lambda_d unset: 10 x lambda_od for DIP-VAE-I, lambda_od for DIP-VAE-II
    (dict(objective="dip-i", lambda_od=2.0), TraceDIPVAE_ELBO,
     dict(kind="i", lambda_od=2.0, lambda_d=20.0)),
    (dict(objective="dip-ii", lambda_od=2.0), TraceDIPVAE_ELBO,
     dict(kind="ii", lambda_od=2.0, lambda_d=2.0)),
    (dict(objective="dip-ii", lambda_od=2.0, lambda_d=0.5), TraceDIPVAE_ELBO,
     dict(kind="ii", lambda_od=2.0, lambda_d=0.5)),
])
def test_svi_has_the_configured_objective(options, kind, expected):
    cfg = TrainConfig(**SMALL, estimator="mws", **options).validate()
    vae = make_model(cfg, (32, 32), 4608)
    svi, elbo = make_svi(cfg, vae, 4608, total_steps=123)
    assert type(elbo) is kind
    assert {k: getattr(elbo, k) for k in expected} == expected
    assert (elbo.estimator, elbo.dataset_size) == ("mws", 4608)
    assert svi.loss_and_grads.__self__ is elbo  # SVI optimizes this very objective
    if kind is TraceFactorVAE_ELBO:
        assert next(elbo.discriminator.parameters()).device == next(vae.parameters()).device


@pytest.mark.parametrize("fused", [True, False])
def test_svi_steps_with_the_configured_learning_rate(fused, sprites):
    cfg = TrainConfig(**SMALL, lr=3e-3, fused=fused).validate()
    data = sprites
    vae = fresh_model(cfg, data, "cpu")
    svi, _ = make_svi(cfg, vae, len(data))
    assert svi.optim.pt_optim_args["lr"] == 3e-3
    assert svi.optim.pt_optim_args.get("fused", False) == (fused and fused_supported("cpu"))
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    idx = torch.arange(32)
    svi.step(data.images(idx), idx)
    assert svi.optim.optimizer.param_groups[0]["lr"] == 3e-3
    # Adam's first step moves each parameter by lr * g / (|g| + eps): by lr, unless its
    # gradient is 0 (weights of pixels that are blank in the whole batch) or about eps
    moved = torch.cat([(vae.state_dict()[k] - before[k]).abs().reshape(-1) for k in before])
    assert float(moved.max()) <= 3e-3 * (1 + 1e-4)
    moved = moved[moved > 0]
    assert len(moved) > 1000 and float(((moved - 3e-3).abs() < 3e-5).double().mean()) > 0.9


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("build") / "run"
    out = train(TrainConfig(**SMALL, steps=4, log_every=2, checkpoint_every=2), run,
                progress=False, echo=lambda *a, **k: None)
    return run, out["model"]


def test_load_model_reads_model_pt_else_the_checkpoint_with_the_same_weights(finished_run,
                                                                             tmp_path):
    import shutil

    run, trained = finished_run
    vae, config = load_model(run)
    assert _equal_weights(vae, trained)
    assert config == TrainConfig(**SMALL, steps=4, log_every=2, checkpoint_every=2).validate()
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "model.pt").unlink()
    from_checkpoint, config2 = load_model(copy)
    assert isinstance(from_checkpoint, VAE) and config2 == config
    assert _equal_weights(from_checkpoint, trained)
    assert from_checkpoint.config() == trained.config()


def test_load_model_refuses_a_damaged_model_file_and_a_folder_without_a_run(finished_run,
                                                                          tmp_path):
    import shutil

    run, _ = finished_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "model.pt").write_bytes(b"not a model")
    with pytest.raises(RunError, match="retrain, or remove it to use the checkpoint"):
        load_model(copy)
    (copy / "model.pt").unlink()
    (copy / "checkpoint.pt").unlink()
    with pytest.raises(RunError, match="no checkpoint in"):
        load_model(copy)
    with pytest.raises(RunError, match="is not a run folder"):
        load_model(tmp_path / "nothing")
