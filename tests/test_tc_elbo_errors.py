"""Every user mistake gives a clear error that names the fix; edge layouts work."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO
from pyro.infer.autoguide import AutoNormal

from pyro_tcvae import TraceTC_ELBO

from helpers import grads_of, lookup_model_guide, lookup_table

N, D = 50, 3


def run(model, guide, *args, **elbo_kwargs):
    return TraceTC_ELBO(beta=6.0, **elbo_kwargs).loss(model, guide, *args)


def prior_model(idx):
    with pyro.plate("data", size=N, subsample=idx):
        pyro.sample("z", dist.Normal(torch.zeros(D), 1.0).to_event(1))


def guide_with(fn):
    def guide(idx):
        with pyro.plate("data", size=N, subsample=idx):
            pyro.sample("z", fn(len(idx)))
    return guide


def test_no_data_plate():
    def model():
        pyro.sample("z", dist.Normal(torch.zeros(D), 1.0).to_event(1))

    def guide():
        pyro.sample("z", dist.Normal(torch.zeros(D), 0.5).to_event(1))

    with pytest.raises(ValueError, match=r"(?s)No data plate.*pyro\.plate\('data', size=len"):
        run(model, guide)


def per_dim_plate_programs(subsample, dtype=torch.float32):
    loc, scale = lookup_table(N, D, dtype=dtype)

    def plates(idx):
        data = (pyro.plate("data", size=N, subsample=idx, dim=-2) if subsample
                else pyro.plate("data", len(idx), dim=-2))
        return data, pyro.plate("dims", D, dim=-1)

    def model(idx):
        data, dims = plates(idx)
        with data, dims:
            pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide(idx):
        data, dims = plates(idx)
        with data, dims:
            pyro.sample("z", dist.Normal(loc[idx], scale[idx]))

    return model, guide


def test_ambiguous_plates_point_to_data_plate():
    model, guide = per_dim_plate_programs(subsample=False)
    with pytest.raises(ValueError, match=r"Ambiguous data plate.*\['data', 'dims'\].*data_plate="):
        run(model, guide, torch.arange(10))
    with pytest.raises(ValueError, match=r"data_plate='batch'.*plates found: \['data', 'dims'\]"):
        run(model, guide, torch.arange(10), data_plate="batch")
    # naming it works, and a per-dimension plate is a valid factorized latent
    assert torch.isfinite(torch.tensor(run(model, guide, torch.arange(10), data_plate="data",
                                           dataset_size=N)))


def test_per_dimension_plate_equals_to_event():
    # the same posterior written with a "dims" plate or with .to_event(1) gives the same terms
    loc, scale = lookup_table(N, D, dtype=torch.float64)
    idx = torch.arange(20)
    m1, g1 = per_dim_plate_programs(subsample=True, dtype=torch.float64)
    m2, g2 = lookup_model_guide(loc, scale)
    pyro.set_rng_seed(0)
    t1 = TraceTC_ELBO(max_plate_nesting=2).decompose(m1, g1, idx)
    pyro.set_rng_seed(0)
    t2 = TraceTC_ELBO().decompose(m2, g2, idx)
    for k in ("mi", "tc", "dwkl"):
        assert t1[k] == pytest.approx(t2[k], rel=1e-5)


def test_batch_of_one_with_mss():
    loc, scale = lookup_table(N, D)
    model, guide = lookup_model_guide(loc, scale)
    with pytest.raises(ValueError, match="batch of 1.*estimator='mws'"):
        run(model, guide, torch.tensor([3]))
    assert run(model, guide, torch.tensor([3]), estimator="mws") != 0.0


def test_unknown_estimator():
    with pytest.raises(ValueError, match="Unknown estimator 'MSS'.*'mss'"):
        TraceTC_ELBO(estimator="MSS")


def test_enumeration_is_rejected():
    def model(idx):
        with pyro.plate("data", size=N, subsample=idx):
            pyro.sample("c", dist.Bernoulli(0.5))

    def guide(idx):
        with pyro.plate("data", size=N, subsample=idx):
            pyro.sample("c", dist.Bernoulli(0.3), infer={"enumerate": "parallel"})

    with pytest.raises(ValueError, match="enumerated.*Remove the enumerate annotation"):
        run(model, guide, torch.arange(5))


def test_discrete_latent_is_rejected():
    def model(idx):
        with pyro.plate("data", size=N, subsample=idx):
            pyro.sample("c", dist.Bernoulli(0.5 * torch.ones(D)).to_event(1))

    def guide(idx):
        with pyro.plate("data", size=N, subsample=idx):
            pyro.sample("c", dist.Bernoulli(0.3 * torch.ones(D)).to_event(1))

    with pytest.raises(ValueError, match="not reparameterizable.*RelaxedBernoulli"):
        run(model, guide, torch.arange(5))


def test_multivariate_normal_latent_is_rejected():
    guide = guide_with(lambda B: dist.MultivariateNormal(torch.zeros(B, D), torch.eye(D)))
    with pytest.raises(ValueError, match="(?s)no per-dimension marginal.*Normal\\(loc, scale\\)"):
        run(prior_model, guide, torch.arange(5))


def test_flow_over_vectors_is_rejected():
    def fn(B):
        base = dist.Normal(torch.zeros(B, D), 1.0).to_event(1)
        tril = torch.eye(D) + torch.tril(torch.ones(D, D), -1) * 0.3
        return dist.TransformedDistribution(base, [dist.transforms.LowerCholeskyAffine(
            torch.zeros(D), tril)])

    with pytest.raises(ValueError, match="no per-dimension marginal"):
        run(prior_model, guide_with(fn), torch.arange(5))


def test_elementwise_transform_over_an_independent_base_is_accepted():
    def fn(B):
        base = dist.Normal(torch.zeros(B, D), 0.5).to_event(1)
        return dist.TransformedDistribution(base, [dist.transforms.AffineTransform(1.0, 2.0)])

    pyro.set_rng_seed(0)
    ours = TraceTC_ELBO().loss(prior_model, guide_with(fn), torch.arange(8))
    pyro.set_rng_seed(0)
    assert ours == pytest.approx(Trace_ELBO().loss(prior_model, guide_with(fn), torch.arange(8)))


def test_delta_latent_is_rejected():
    guide = guide_with(lambda B: dist.Delta(torch.zeros(B, D)).to_event(1))
    with pytest.raises(ValueError, match="Delta.*no density.*amortized guide"):
        run(prior_model, guide, torch.arange(5))


def test_autoguide_is_rejected():
    with pytest.raises(ValueError, match="AutoNormal is an AutoGuide.*amortized guide"):
        run(prior_model, AutoNormal(prior_model), torch.arange(5))


def test_non_finite_loss_names_the_fix():
    guide = guide_with(lambda B: dist.Normal(torch.full((B, D), 1e20), 1.0).to_event(1))
    with pytest.raises(ValueError, match="loss is not finite.*learning rate.*softplus"):
        run(prior_model, guide, torch.arange(5))


def test_local_latent_missing_from_model():
    def model(idx):
        with pyro.plate("data", size=N, subsample=idx):
            pyro.sample("w", dist.Normal(torch.zeros(D), 1.0).to_event(1))

    guide = guide_with(lambda B: dist.Normal(torch.zeros(B, D), 1.0).to_event(1))
    with pytest.raises(ValueError, match="site .z. of the guide has no latent counterpart in the model"):
        run(model, guide, torch.arange(5))


def test_mask_over_latent_dimensions_is_rejected():
    def guide(idx):
        with pyro.plate("data", size=N, subsample=idx, dim=-2), pyro.plate("dims", D, dim=-1):
            m = torch.ones(len(idx), D, dtype=torch.bool)
            m[0, 1] = False
            with pyro.poutine.mask(mask=m):
                pyro.sample("z", dist.Normal(torch.zeros(len(idx), D), 1.0))

    def model(idx):
        with pyro.plate("data", size=N, subsample=idx, dim=-2), pyro.plate("dims", D, dim=-1):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="mask differs between latent dimensions"):
        run(model, guide, torch.arange(5), data_plate="data")


def test_grads_of_helper_sees_lookup_params():
    loc, scale = lookup_table(N, D)
    model, guide = lookup_model_guide(loc, scale)
    _, g = grads_of(lambda: TraceTC_ELBO(beta=3.0).loss_and_grads(model, guide, torch.arange(9)),
                    torch.nn.Module())
    assert set(g) == {"param:loc", "param:scale"}
    assert g["param:loc"][:9].abs().sum() > 0 and g["param:loc"][9:].abs().sum() == 0
