"""Per-step time of each objective relative to beta-TCVAE, on the training path.

    python benchmarks/bench_objectives.py                    # batch 1024, bf16 (fast recipe)
    python benchmarks/bench_objectives.py --batch 256 --precision fp32

The paper's dSprites model (MLP, 10 latents, Bernoulli likelihood) on the rendered
dSprites, each objective built as ``pyro-tcvae train`` builds it
(:func:`pyro_tcvae.runs.make_svi`) and stepped as the training loop steps it (FactorVAE
with a second batch and its discriminator's update), under the training loop's host
settings.  The objectives run round-robin, one timed step each per round in a new
random order, after warm-up steps; the table gives the median seconds per step and
the ratio to beta-TCVAE.
"""

import argparse
import itertools
import random
import statistics
import time

import pyro
import torch

from pyro_tcvae.data import Batches, DSprites
from pyro_tcvae.runs import (OBJECTIVES, TrainConfig, flush_denormals, make_model, make_svi,
                             reuse_freed_memory)

_NAMES = itertools.count()


class Runner:
    """One objective's training step on its own VAE (its own name in Pyro's store)."""

    def __init__(self, objective, data, batch, precision, steps):
        self.config = TrainConfig(dataset="dsprites", objective=objective, batch_size=batch,
                                  precision=precision, z_dim=10, lr=1e-3).validate()
        pyro.set_rng_seed(0)
        self.vae = make_model(self.config, data.image_shape, len(data))
        self.vae.name = f"vae{next(_NAMES)}"
        self.svi, self.elbo = make_svi(self.config, self.vae, len(data), total_steps=steps)
        self.entry = OBJECTIVES[objective]
        self.loader = Batches(data, batch, shuffle=True, seed=0, drop_last=True)
        self.batches = iter(self.loader)
        self.step_no = 0

    def next_batch(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)

    def step(self):
        x, idx = self.next_batch()
        extra = {"second_batch": self.next_batch()} if self.entry.batches_per_step == 2 else {}
        self.entry.at_step(self.elbo, self.config, self.step_no)
        with pyro.validation_enabled(self.step_no == 0):
            self.svi.step(x, idx, **extra)
        self.step_no += 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=10, help="timed steps per objective")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--objectives", nargs="+",
                   default=["tcvae", "factorvae", "annealed", "dip-i", "dip-ii", "vae"])
    args = p.parse_args(argv)
    data = DSprites()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{args.precision}, {args.steps} timed steps each")
    with reuse_freed_memory(), flush_denormals():
        runners = {o: Runner(o, data, args.batch, args.precision, 10_000)
                   for o in args.objectives}
        for r in runners.values():
            for _ in range(args.warmup):
                r.step()
        times = {o: [] for o in runners}
        rng = random.Random(0)
        order = list(runners)
        for _ in range(args.steps):
            rng.shuffle(order)
            for o in order:
                t = time.perf_counter()
                runners[o].step()
                times[o].append(time.perf_counter() - t)
    base = statistics.median(times["tcvae"]) if "tcvae" in times else None
    print(f"{'objective':>10} {'s/step':>8} {'images/s':>9} {'/ tcvae':>8}")
    for o, v in times.items():
        m = statistics.median(v)
        ratio = f"{m / base:8.2f}" if base else ""
        print(f"{o:>10} {m:8.3f} {args.batch / m:9.0f} {ratio}")


if __name__ == "__main__":
    main()
