"""Per-step time of the TC-decomposed ELBO against Trace_ELBO and plain PyTorch.

The paper's dSprites MLP (encoder 4096-1200-1200-2D, decoder D-1200-1200-1200-4096,
ReLU / tanh, Bernoulli logits, D = 10) on random binary 64x64 images. Every row is
one full training step (forward, backward, Adam update). The methods run round-robin,
one step each per round, so they share the machine's noise; the table gives the
median over rounds and the ratio to Trace_ELBO at the same batch size.

    python benchmarks/bench_elbo.py                    # batches 256 and 2048
    python benchmarks/bench_elbo.py --batch 256 --rounds 30
"""

import argparse
import math
import statistics
import time

import pyro
import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F
from pyro.infer import SVI, Trace_ELBO

from pyro_tcvae import TraceMeanFieldTC_ELBO, TraceTC_ELBO

D = 10
N = 737_280  # dSprites


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(4096, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(),
            nn.Linear(1200, 2 * D),
        )

    def forward(self, x):
        h = self.net(x.reshape(x.shape[0], -1))
        return h[:, :D], F.softplus(h[:, D:]) + 1e-4


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(D, 1200), nn.Tanh(), nn.Linear(1200, 1200), nn.Tanh(),
            nn.Linear(1200, 1200), nn.Tanh(), nn.Linear(1200, 4096),
        )

    def forward(self, z):
        return self.net(z)


def pyro_step_fn(loss, name):
    """An SVI step; ``name`` keeps each method's networks apart in the param store."""
    enc, dec = Encoder(), Decoder()

    def model(x, idx):
        pyro.module(f"dec_{name}", dec)
        with pyro.plate("data", size=N, subsample=idx):
            z = pyro.sample("z", dist.Normal(x.new_zeros(D), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=dec(z)).to_event(1), obs=x)

    def guide(x, idx):
        pyro.module(f"enc_{name}", enc)
        with pyro.plate("data", size=N, subsample=idx):
            loc, scale = enc(x)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), loss=loss)
    return lambda x, idx: svi.step(x, idx)


def plain_step_fn(beta, tc):
    """A hand-written beta-TCVAE step as commonly written: a [B, B, D] broadcast."""
    enc, dec = Encoder(), Decoder()
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)

    def step(x, idx):
        B = x.shape[0]
        loc, scale = enc(x)
        z = loc + scale * torch.randn_like(loc)
        logits = dec(z)
        logpx = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        logqz_x = torch.distributions.Normal(loc, scale).log_prob(z).sum(1)
        logpz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
        if tc:
            lp = torch.distributions.Normal(loc[None], scale[None]).log_prob(z[:, None])
            logw = torch.full((B, B), math.log(N - 1) - math.log(N) - math.log(B - 1))
            logw.diagonal().fill_(-math.log(N))
            logqz = torch.logsumexp(lp.sum(2) + logw, 1)
            logprod = torch.logsumexp(lp + logw[..., None], 1).sum(1)
            obj = logpx - (logqz_x - logqz) - beta * (logqz - logprod) - (logprod - logpz)
        else:
            obj = logpx - (logqz_x - logpz)
        loss = -obj.mean() * N
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def methods(beta):
    return {
        "plain PyTorch VAE": lambda: plain_step_fn(beta, tc=False),
        "plain PyTorch beta-TCVAE (broadcast)": lambda: plain_step_fn(beta, tc=True),
        "Trace_ELBO": lambda: pyro_step_fn(Trace_ELBO(), "base"),
        "TraceTC_ELBO mss": lambda: pyro_step_fn(TraceTC_ELBO(beta=beta, estimator="mss"), "mss"),
        "TraceTC_ELBO mws": lambda: pyro_step_fn(TraceTC_ELBO(beta=beta, estimator="mws"), "mws"),
        "TraceMeanFieldTC_ELBO mss": lambda: pyro_step_fn(
            TraceMeanFieldTC_ELBO(beta=beta, estimator="mss"), "mf"
        ),
    }


def run(batch, rounds, beta, seed):
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)
    x = (torch.rand(batch, 4096) < 0.1).float()
    idx = torch.randperm(N)[:batch]
    pyro.clear_param_store()
    steps = {name: make() for name, make in methods(beta).items()}
    times = {name: [] for name in steps}
    for r in range(rounds + 1):  # round 0 warms up
        for name, step in steps.items():
            t0 = time.perf_counter()
            step(x, idx)
            if r > 0:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="*", default=[256, 2048])
    parser.add_argument("--rounds", type=int, default=None,
                        help="steps per method (default: 20 at batch <= 512, else 7)")
    parser.add_argument("--beta", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, beta={args.beta}")
    for batch in args.batch:
        rounds = args.rounds or (20 if batch <= 512 else 7)
        med = run(batch, rounds, args.beta, args.seed)
        ref = med["Trace_ELBO"]
        print(f"\nbatch {batch}: median of {rounds} steps")
        print(f"{'method':40s} {'s/step':>8s} {'vs Trace_ELBO':>14s}")
        for name, t in med.items():
            print(f"{name:40s} {t:8.3f} {t / ref:13.2f}x")


if __name__ == "__main__":
    main()
