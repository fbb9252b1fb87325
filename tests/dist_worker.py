"""One rank of the gathered-TC checks (run by tests/test_distributed.py, not by pytest).

Usage: python tests/dist_worker.py OUT FAMILY ESTIMATOR AGGREGATE, with RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT in the environment; WORLD_SIZE=1 without a process group
computes the reference of one process with the whole batch.  Rank 0 (or the single
process) saves the mean loss over ranks, the DDP-averaged gradient of every parameter
and the step's terms to OUT.
"""

import os
import sys

import pyro
import pyro.distributions as dist
import torch
import torch.distributed as torch_dist

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pyro_tcvae.infer import TraceTC_ELBO  # noqa: E402

N, P, D, B = 64, 6, 3, 16


class FixedNormal(dist.Normal):
    """A Normal whose reparameterized draw uses given standard noise (the same draws
    whatever the number of processes)."""

    def __init__(self, loc, scale, eps, validate_args=None):
        self.eps = eps
        super().__init__(loc, scale, validate_args=validate_args)

    def rsample(self, sample_shape=torch.Size()):
        return self.loc + self.scale * self.eps

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return type(self)(self.loc.expand(batch_shape), self.scale.expand(batch_shape),
                          self.eps.expand(batch_shape))


class FixedLaplace(dist.Laplace):
    def __init__(self, loc, scale, eps, validate_args=None):
        self.eps = eps
        super().__init__(loc, scale, validate_args=validate_args)

    def rsample(self, sample_shape=torch.Size()):
        u = torch.tanh(self.eps) * 0.999  # in (-1, 1)
        return self.loc - self.scale * torch.sign(u) * torch.log1p(-u.abs())

    expand = FixedNormal.expand


def problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, P, generator=g)
    eps = torch.randn(B, D, generator=g)
    idx = (torch.arange(B) * 5 + 3) % N
    init = {"enc": 0.3 * torch.randn(P, 2 * D, generator=g),
            "dec": 0.3 * torch.randn(D, P, generator=g)}
    return x, eps, idx, init


def run(family, estimator, aggregate, rows):
    x, eps, idx, init = problem()
    pyro.clear_param_store()
    enc = pyro.param("enc", init["enc"].clone())
    dec = pyro.param("dec", init["dec"].clone())
    Fixed = FixedNormal if family == "normal" else FixedLaplace

    def model(xb, ib, eb):
        with pyro.plate("data", size=N, subsample=ib):
            z = pyro.sample("z", dist.Normal(torch.zeros(len(ib), D), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z @ dec, 1.0).to_event(1), obs=xb)

    def guide(xb, ib, eb):
        h = xb @ enc
        with pyro.plate("data", size=N, subsample=ib):
            pyro.sample("z", Fixed(h[:, :D], torch.nn.functional.softplus(h[:, D:]) + 0.1,
                                   eb).to_event(1))

    elbo = TraceTC_ELBO(beta=6.0, estimator=estimator, aggregate=aggregate)
    loss = elbo.differentiable_loss(model, guide, x[idx][rows], idx[rows], eps[rows])
    loss.backward()
    return loss.detach(), {"enc": enc.grad.clone(), "dec": dec.grad.clone()}, elbo.last_terms


def main():
    out, family, estimator, aggregate = sys.argv[1:5]
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        torch_dist.init_process_group("gloo")
        rank = torch_dist.get_rank()
        rows = torch.arange(rank * B // world, (rank + 1) * B // world)
    else:
        rank, rows = 0, torch.arange(B)
    loss, grads, terms = run(family, estimator, aggregate, rows)
    if world > 1:  # what DistributedDataParallel does: average over ranks
        torch_dist.all_reduce(loss)
        loss /= world
        for g in grads.values():
            torch_dist.all_reduce(g)
            g /= world
        torch_dist.destroy_process_group()
    if rank == 0:
        torch.save({"loss": loss, "grads": grads, "terms": terms}, out)


if __name__ == "__main__":
    main()
