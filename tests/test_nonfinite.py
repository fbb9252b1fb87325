"""NaN or inf in a batch: a clear error before the guide's networks see it, naming the
argument (and the site, when the step got that far)."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI

from pyro_tcvae import TraceTC_ELBO
from pyro_tcvae.data import NonlinearFactors
from pyro_tcvae.models import VAE

N, X, D = 100, 5, 2


def _user_programs():
    enc = torch.nn.Linear(X, 2 * D)
    dec = torch.nn.Linear(D, X)

    def model(x, idx):
        pyro.module("dec", dec)
        with pyro.plate("data", N, subsample=idx):
            z = pyro.sample("z", dist.Normal(torch.zeros(D), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(dec(z), 1.0).to_event(1), obs=x)

    def guide(x, idx):
        pyro.module("enc", enc)
        with pyro.plate("data", N, subsample=idx):
            h = enc(x)
            pyro.sample("z", dist.Normal(h[:, :D], torch.nn.functional.softplus(h[:, D:]) + 1e-3)
                        .to_event(1))

    return model, guide


def _bad_batch():
    x = torch.randn(16, X)
    x[3, 1] = float("nan")
    x[7, 0] = float("inf")
    return x, torch.arange(16)


def test_a_users_programs_with_validation_on_name_the_argument():
    model, guide = _user_programs()
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), loss=TraceTC_ELBO(beta=4.0))
    with pytest.raises(ValueError) as e:
        svi.step(*_bad_batch())
    message = str(e.value)
    assert "argument 0 (shape [16, 5]) has 2 NaN or infinite values, in rows 3, 7" in message
    assert "Expected parameter" not in message.split("The step failed with")[0]
    assert len(message) < 600  # no tensor dump


def test_a_users_programs_with_validation_off_name_the_site_and_the_argument():
    model, guide = _user_programs()
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), loss=TraceTC_ELBO(beta=4.0))
    with pyro.validation_enabled(False):
        with pytest.raises(ValueError) as e:
            svi.step(*_bad_batch())
    message = str(e.value)
    assert "rows 3, 7" in message
    assert "site 'z' of the guide" in message or "site 'x' of the model" in message


def test_the_vae_checks_the_batch_before_its_encoder():
    data = NonlinearFactors()
    vae = VAE(x_shape=data.image_shape, z_dim=2, arch="small_mlp", likelihood="gaussian",
              dataset_size=len(data))
    calls = []
    vae.encoder.register_forward_hook(lambda *a: calls.append(1))
    x = data.images(torch.arange(8))
    x[5, 2] = float("nan")
    with pytest.raises(ValueError, match=r"the data x has 1 NaN or infinite values, in 1 of "
                                         r"its 8 rows \(rows 5\)"):
        vae.guide(x, torch.arange(8))
    assert calls == []


def test_negative_weights_warn_in_the_api():
    with pytest.warns(UserWarning, match="beta=-1.0 is negative"):
        TraceTC_ELBO(beta=-1.0)
