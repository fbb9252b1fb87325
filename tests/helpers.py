"""Small Pyro programs and brute-force references shared by the tests."""

import math

import pyro
from pyro import poutine
import pyro.distributions as dist
import torch
import torch.nn.functional as F


def normal_pairwise(z, loc, scale):
    """log q(z_id | n) for every sample i and component n: [S, N, D]."""
    return dist.Normal(loc[None], scale[None]).log_prob(z[:, None])


def exact_terms(z, loc, scale, prior=None):
    """Exact per-sample MI, TC, dwKL for z [N, D], z_i ~ q(.|n=i), uniform q(n).

    log q(z) and log q(z_d) are the exact mixtures over all N components.
    Returns three tensors [N].
    """
    N = loc.shape[0]
    lp = normal_pairwise(z, loc, scale)  # [N, N, D]
    log_qz = torch.logsumexp(lp.sum(-1), 1) - math.log(N)
    log_qzd = (torch.logsumexp(lp, 1) - math.log(N)).sum(-1)
    log_q_cond = lp.diagonal(dim1=0, dim2=1).sum(0)
    prior = prior or dist.Normal(0.0, 1.0)
    log_p = prior.log_prob(z).sum(-1)
    return log_q_cond - log_qz, log_qz - log_qzd, log_qzd - log_p


def lookup_table(N, D, seed=0, dtype=torch.float64, correlated=True):
    """Posterior parameters of a lookup-table encoder with correlated latents."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(N, 1, generator=g, dtype=dtype)
    loc = torch.randn(N, D, generator=g, dtype=dtype)
    if correlated:  # every dimension shares a factor: a clearly positive TC
        loc = 0.6 * loc + 1.2 * u
    scale = 0.15 + 0.25 * torch.rand(N, D, generator=g, dtype=dtype)
    return loc, scale


def lookup_model_guide(loc, scale, family=dist.Normal, prior=None, capture=None, subsample=True):
    """Model and guide of a lookup-table encoder: q(z | n) = family(loc[n], scale[n]).

    Both take ``idx`` (the batch's datapoint indices). No observed site.
    ``capture``, a list, receives each sampled z.
    """
    N, D = loc.shape

    def plate(idx):
        if subsample:
            return pyro.plate("data", size=N, subsample=idx)
        return pyro.plate("data", len(idx))

    def model(idx):
        with plate(idx):
            p = prior if prior is not None else dist.Normal(loc.new_zeros(D), 1.0).to_event(1)
            pyro.sample("z", p)

    def guide(idx):
        lo = pyro.param("loc", loc.clone())
        sc = pyro.param("scale", scale.clone(), constraint=dist.constraints.positive)
        with plate(idx):
            z = pyro.sample("z", family(lo[idx], sc[idx]).to_event(1))
        if capture is not None:
            capture.append(z.detach())

    return model, guide


class TinyVAE(torch.nn.Module):
    """A small VAE as plain Pyro programs; ``latent`` picks the posterior family."""

    def __init__(self, x_dim=6, z_dim=3, latent="normal", two_sites=False, global_latent=False,
                 N=64):
        super().__init__()
        self.enc = torch.nn.Linear(x_dim, 4 * z_dim)
        self.dec = torch.nn.Linear(2 * z_dim if two_sites else z_dim, x_dim)
        self.z_dim, self.latent, self.two_sites, self.N = z_dim, latent, two_sites, N
        self.global_latent = global_latent
        self.anneal = 1.0  # poutine.scale on the latent site "z" (KL annealing)

    def q(self, h):
        D = self.z_dim
        loc, s = h[..., :D], F.softplus(h[..., D:2 * D]) + 0.05
        if self.latent == "normal":
            return dist.Normal(loc, s)
        if self.latent == "laplace":
            return dist.Laplace(loc, s)
        if self.latent == "studentt":
            return dist.StudentT(4.0, loc, s)
        if self.latent == "lognormal":  # an elementwise-transformed Normal
            return dist.LogNormal(loc, s)
        if self.latent == "relaxed":
            return dist.RelaxedBernoulli(torch.tensor(0.5), logits=loc)
        raise ValueError(self.latent)

    def prior(self, like):
        D = self.z_dim
        if self.latent == "lognormal":
            return dist.LogNormal(like.new_zeros(D), 1.0)
        if self.latent == "relaxed":
            return dist.RelaxedBernoulli(torch.tensor(0.5), logits=like.new_zeros(D))
        return dist.Normal(like.new_zeros(D), 1.0)

    def model(self, x, idx):
        pyro.module("vae", self)
        shift = 0.0
        if self.global_latent:
            shift = pyro.sample("shift", dist.Normal(x.new_zeros(()), 1.0))
        with pyro.plate("data", size=self.N, subsample=idx):
            with poutine.scale(scale=self.anneal):
                z = pyro.sample("z", self.prior(x).to_event(1))
            if self.two_sites:
                z2 = pyro.sample("z2", dist.Laplace(x.new_zeros(self.z_dim), 1.0).to_event(1))
                z = torch.cat([z, z2], -1)
            pyro.sample("x", dist.Normal(self.dec(z) + shift, 1.0).to_event(1), obs=x)

    def guide(self, x, idx):
        pyro.module("vae", self)
        if self.global_latent:
            m = pyro.param("shift_loc", x.new_zeros(()))
            pyro.sample("shift", dist.Normal(m, 0.5))
        with pyro.plate("data", size=self.N, subsample=idx):
            h = self.enc(x)
            with poutine.scale(scale=self.anneal):
                pyro.sample("z", self.q(h).to_event(1))
            if self.two_sites:
                D = self.z_dim
                pyro.sample("z2", dist.Laplace(h[:, 2 * D:3 * D],
                                               F.softplus(h[:, 3 * D:]) + 0.05).to_event(1))


def grads_of(elbo_fn, module, *args):
    """Run loss_and_grads-style backward and return {name: grad} of the module's params."""
    module.zero_grad()
    for _, p in pyro.get_param_store().named_parameters():  # unconstrained leaves
        p.grad = None
    loss = elbo_fn(*args)
    grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    for name, p in pyro.get_param_store().named_parameters():
        if p.grad is not None:
            grads["param:" + name] = p.grad.clone()
    return loss, grads


def train_and_decompose(beta, x, steps=600, batch_size=256, lr=2e-3, seed=0):
    """Train a small VAE (3 latents, Gaussian likelihood) on vectors x [N, X] with
    ``TraceTC_ELBO(beta=beta)`` in a plain SVI loop; return the full-data terms
    (MSS with the batch equal to the dataset, which is exact)."""
    from pyro.infer import SVI

    from pyro_tcvae import TraceTC_ELBO
    from pyro_tcvae.models import VAE

    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    N = x.shape[0]
    vae = VAE(x_shape=(x.shape[1],), z_dim=3, arch="small_mlp", likelihood="gaussian",
              dataset_size=N)
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": lr}), loss=TraceTC_ELBO(beta=beta))
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randperm(N, generator=g)[:batch_size]
        svi.step(x[idx], idx)
    with torch.no_grad():
        pyro.set_rng_seed(seed + 1)
        full = TraceTC_ELBO(beta=beta, dataset_size=N)
        return full.decompose(vae.model, vae.guide, x, torch.arange(N))


def assert_same_run(a, b, ignore=("time",)):
    """Two run folders ended with identical parameters and logs (up to ``ignore``d
    log fields): what an exact resume must give."""
    import json

    sa = torch.load(a / "model.pt", weights_only=False)["state_dict"]
    sb = torch.load(b / "model.pt", weights_only=False)["state_dict"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k

    def strip(p):
        return [{k: v for k, v in json.loads(line).items() if k not in ignore}
                for line in p.read_text().splitlines()]

    assert strip(a / "metrics.jsonl") == strip(b / "metrics.jsonl")


def axes_grid(fig):
    """A matplotlib figure's axes as the rows of its grid, each row left to right."""
    rows = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        rows.setdefault(spec.rowspan.start, {})[spec.colspan.start] = ax
    return [[row[c] for c in sorted(row)] for _, row in sorted(rows.items())]
