"""Your own model and guide on many processes: beta-TCVAE under torchrun with
DistributedDataParallel, the TC estimated over the global batch.

    torchrun --nproc_per_node=2 examples/ddp_svi.py --steps 300
    python examples/ddp_svi.py --steps 300          # the same on one process

The model and the guide are ``PyroModule``s, so ``elbo(model, guide)`` is a
``torch.nn.Module`` (Pyro's ``ELBOModule``) whose forward pass is the loss: DDP wraps it,
and a plain torch optimizer steps its parameters.  Each rank takes its slice of one
global shuffled order of the data; inside ``TraceTC_ELBO`` the aggregate posterior mixes
over the components of the whole global batch (``aggregate="auto"`` is global under an
initialized process group).

The loss scale stays right: each rank's plate says ``size=N, subsample=idx`` with its B/W
items, so its loss is (N / (B/W)) x its datapoints' sum, and DDP *averages* the ranks'
gradients: (1/W) sum_r (N W / B) sum_{i in r} = (N / B) sum over the global batch, the
single-process estimator with batch B.
"""

import argparse
import math
import os

import pyro
import pyro.distributions as dist
import torch
import torch.distributed as torch_dist
from pyro.nn import PyroModule
from torch import nn

from pyro_tcvae.data import SmallSprites
from pyro_tcvae.infer import TraceTC_ELBO
from pyro_tcvae.metrics import encode_dataset, mig


class Decoder(PyroModule):
    def __init__(self, z_dim, x_dim):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, 256), nn.Tanh(), nn.Linear(256, x_dim))

    def forward(self, x, idx, size):
        with pyro.plate("data", size=size, subsample=idx):
            z = pyro.sample("z", dist.Normal(x.new_zeros(len(idx), self.z_dim), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.net(z)).to_event(1), obs=x)


class Encoder(PyroModule):
    def __init__(self, z_dim, x_dim):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(x_dim, 256), nn.ReLU(), nn.Linear(256, 2 * z_dim))

    def forward(self, x, idx, size):
        h = self.net(x)
        with pyro.plate("data", size=size, subsample=idx):
            pyro.sample("z", dist.Normal(h[:, :self.z_dim],
                                         nn.functional.softplus(h[:, self.z_dim:]) + 1e-4)
                        .to_event(1))

    # what pyro_tcvae.metrics.encode_dataset reads: q(z|x) of a batch, batch shape [B, D]
    def encode(self, x):
        h = self.net(x.reshape(len(x), -1))
        return dist.Normal(h[:, :self.z_dim], nn.functional.softplus(h[:, self.z_dim:]) + 1e-4)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=256, help="the global batch")
    p.add_argument("--beta", type=float, default=6.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    distributed = "RANK" in os.environ  # set by torchrun
    if distributed:
        torch_dist.init_process_group("gloo")  # "nccl" with one GPU per rank
    rank = torch_dist.get_rank() if distributed else 0
    world = torch_dist.get_world_size() if distributed else 1
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must split evenly over {world} "
                         f"processes")
    local = args.batch_size // world

    data = SmallSprites()
    N, x_dim = len(data), math.prod(data.image_shape)
    pyro.set_rng_seed(args.seed)  # the same initial weights on every rank
    model, guide = Decoder(6, x_dim), Encoder(6, x_dim)
    pyro.set_rng_seed(args.seed + 1000 * rank)  # each rank its own samples of z
    loss_fn = TraceTC_ELBO(beta=args.beta)(model, guide)  # an ELBOModule
    if distributed:
        loss_fn = nn.parallel.DistributedDataParallel(loss_fn)
    opt = torch.optim.Adam(loss_fn.parameters(), lr=2e-3)

    g = torch.Generator().manual_seed(args.seed)
    order, pos = torch.randperm(N, generator=g), 0
    for step in range(1, args.steps + 1):
        if pos + args.batch_size > N:  # a new epoch: one global order for every rank
            order, pos = torch.randperm(N, generator=g), 0
        idx = order[pos:pos + args.batch_size][rank * local:(rank + 1) * local]
        pos += args.batch_size
        x = data.images(idx).reshape(local, -1)
        loss = loss_fn(x, idx, N)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 and rank == 0:
            elbo = loss_fn.module.elbo if distributed else loss_fn.elbo
            t = elbo.last_terms  # means over the global batch
            print(f"step {step}: elbo {t['elbo']:.2f}, tc {t['tc']:.3f} (global batch "
                  f"{args.batch_size} over {world} process{'es' if world > 1 else ''})")
    if rank == 0:
        post = encode_dataset(guide, data, progress=False)
        result = mig(post, data.factors, factor_names=data.factor_names,
                     exclude=data.mig_exclude, num_samples=2000, progress=False)
        print(f"MIG {result.score:.3f} +- {result.stderr:.3f}")
    if distributed:
        torch_dist.destroy_process_group()


if __name__ == "__main__":
    main()
