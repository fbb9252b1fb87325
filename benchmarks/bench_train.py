"""Training throughput: pyro-tcvae's training path against a lean PyTorch loop and
against the matrix-product peak of the same step, quiet and with a core kept busy by
another process.

    python benchmarks/bench_train.py                  # batch 256 and 2048, fp32 and bf16
    python benchmarks/bench_train.py --batch 2048 --estimator mss mws --no-contended
    python benchmarks/bench_train.py --batch 256 --no-contended

bf16 is left out (with a line saying so) on a CPU without bfloat16 instructions, where
torch emulates it about 30x slower than fp32; ``--force-bf16`` runs it anyway.

**Share of the matmul peak.**  Before the training tables the script times, in each
precision, the dense matrix products of one training step of the paper's MLP at the
batch size, and nothing else: the forward products of the 5 layers, the input
gradients of the 4 layers above the first and the weight gradients of all 5 (with
``x`` in float32/bf16 as autocast would cast it).  That time, T_mm, is what the step
would take if it were only matrix products at the speed this machine reaches on those
shapes (its "peak"); it prints the GFLOP/s reached (85.2 MFLOP per image-step) and,
for each runner, T_mm / (seconds per step), the share of the peak.  The encoder's
first layer takes its binary input from the nonzeros only
(:class:`pyro_tcvae.models.nets.SparseInputLinear`, 4.3% of dSprites' pixels), so a
step does fewer floating-point operations than the dense count and the share is a
dense-equivalent one: it can exceed 1.

Both sides train the paper's dSprites model (MLP 4096-1200-1200-20 / 10-1200-1200-1200-4096,
Bernoulli likelihood, beta-TCVAE beta=6 with the MSS estimator, Adam lr 1e-3) on the
rendered dSprites:

(a) lean: a hand-written PyTorch step, no Pyro: the same ``nn.Module`` networks, images
    gathered from a uint8 tensor held in memory, ``binary_cross_entropy_with_logits``, the
    Gaussian log-densities written out, log q(z) by :func:`pyro_tcvae.ops.normal_log_mixture`
    (the fastest kernel we have, so the comparison measures everything *around* it),
    ``torch.optim.Adam(fused=True)`` and ``zero_grad(set_to_none=True)``.
(b) library: what ``pyro-tcvae train`` runs: :class:`~pyro_tcvae.data.Batches` over
    :class:`~pyro_tcvae.data.DSprites` (packed bits), :class:`~pyro_tcvae.models.VAE`,
    ``pyro.infer.SVI`` with :class:`~pyro_tcvae.TraceTC_ELBO` and the library's Adam,
    built by :mod:`pyro_tcvae.runs.build`; Pyro's validation on for the first step and
    off after it, as the training loop runs.

Both run under the training loop's host settings (:mod:`pyro_tcvae.runs.host`: freed
memory kept for reuse, denormals flushed), which are process-wide, so the ratio measures
the library's work around the networks.  The configurations run round-robin (random
order per round), one timed step each per round, after warm-up steps; the table gives
the median seconds per step, images/s and (b)/(a).

The contended section runs (b) in fresh processes, quiet and beside a busy-loop
process (``while True: pass``, one core), with the thread count adaptive (the default,
:class:`~pyro_tcvae.runs.ThreadGovernor`), fixed at 1, and fixed at torch's default
(all cores, as without the governor).  A last section (``--elbo-steps``) trains both
precisions of (b) from the same seeds and compares their ELBO on a fixed subset of
images, evaluated in fp32.
"""

import argparse
import contextlib
import itertools
import json
import math
import random
import statistics
import subprocess
import sys
import time

import pyro
import torch
import torch.nn.functional as F

from pyro_tcvae.data import Batches, DSprites
from pyro_tcvae.models.nets import build_nets
from pyro_tcvae.ops import log_importance_weights, normal_log_mixture
from pyro_tcvae.runs import (ThreadGovernor, TrainConfig, flush_denormals, make_model,
                             make_svi, reuse_freed_memory)

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
Z_DIM, BETA, LR = 10, 6.0, 1e-3


class Lean:
    """(a): a plain PyTorch beta-TCVAE step on the paper's MLP."""

    def __init__(self, pool, N, B, precision, seed=0, estimator="mss"):
        torch.manual_seed(seed)
        self.enc, self.dec = build_nets("mlp", (64, 64), Z_DIM, 2)
        params = [*self.enc.parameters(), *self.dec.parameters()]
        self.opt = torch.optim.Adam(params, lr=LR, fused=True)
        self.pool, self.N, self.B = pool, N, B
        self.bf16 = precision == "bf16"
        self.log_w = log_importance_weights(estimator, B, N)
        self.gen = torch.Generator().manual_seed(seed)

    def _net(self, net, x):
        if not self.bf16:
            return net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return net(x).float()

    def step(self):
        B, D = self.B, Z_DIM
        idx = torch.randint(len(self.pool), (B,), generator=self.gen)
        x = self.pool[idx].float()                               # [B, 4096]
        h = self._net(self.enc, x)
        loc, scale = h[:, :D], F.softplus(h[:, D:]) + 1e-4
        eps = torch.randn_like(loc)
        z = loc + scale * eps                                    # [B, D]
        logits = self._net(self.dec, z)
        ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        log_pz = (-0.5 * z.pow(2) - HALF_LOG_2PI).sum(1)
        log_qzx = (-0.5 * eps.pow(2) - scale.log() - HALF_LOG_2PI).sum(1)
        log_qz, log_qz_d = normal_log_mixture(z[None], loc[None], scale[None], *self.log_w)
        log_qz, log_prod = log_qz[0], log_qz_d[0].sum(-1)
        mi, tc, dwkl = log_qzx - log_qz, log_qz - log_prod, log_prod - log_pz
        loss = -(ll - mi - BETA * tc - dwkl).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


_NAMES = itertools.count()


class Library:
    """(b): the training path of ``pyro-tcvae train`` (one SVI step per call)."""

    def __init__(self, data, B, precision, seed=0, plain_pyro=False, estimator="mss"):
        self.config = TrainConfig(dataset="dsprites", beta=BETA, batch_size=B, lr=LR,
                                  z_dim=Z_DIM, precision=precision, seed=seed,
                                  estimator=estimator).validate()
        pyro.set_rng_seed(seed)
        self.vae = make_model(self.config, data.image_shape, len(data))
        # one name per model in Pyro's param store: runners of one name would step
        # each other's parameters
        self.vae.name = f"vae{next(_NAMES)}"
        self.svi, self.elbo = make_svi(self.config, self.vae, len(data))
        self.validate = True      # the first step is validated, as in the training loop
        self.plain_pyro = plain_pyro
        if plain_pyro:  # what a Pyro user writes by default: pyro.optim.Adam, validation on
            self.svi.optim = pyro.optim.Adam({"lr": LR})
        self.loader = Batches(data, B, shuffle=True, seed=seed)
        self.N = len(data)
        self._batches = iter(())
        self.epoch = 0

    def step(self):
        try:
            x, idx = next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader.epoch_batches(self.epoch))
            self.epoch += 1
            x, idx = next(self._batches)
        with pyro.validation_enabled(self.validate or self.plain_pyro):
            loss = self.svi.step(x, idx) / self.N
        self.validate = False
        return loss


@torch.no_grad()
def held_out_elbo(vae, data, items=8192, batch=1024, seed=123):
    """Mean ELBO (nats per image) of a fixed random subset, one z per image, in fp32.

    Returns (mean, standard error over images)."""
    precision, vae.precision = vae.precision, "fp32"
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:items]
    vals = []
    for start in range(0, items, batch):
        x = data.images(idx[start:start + batch])
        q = vae.encode(x)
        z = q.rsample()
        lik = vae.likelihood.distribution(vae.decoder(z), vae.x_shape)
        prior = vae.prior.distribution(x)                        # event shape [D]
        vals.append(lik.log_prob(x) + prior.log_prob(z) - q.log_prob(z).sum(-1))
    vae.precision = precision
    v = torch.cat(vals)
    return float(v.mean()), float(v.std() / math.sqrt(len(v)))


def compare_elbo(data, steps, batch, seeds):
    """Train (b) in fp32 and in bf16 from the same seeds; ELBO of a fixed subset."""
    print(f"\nELBO after {steps} steps of (b) at batch {batch}, same seed and batches per "
          f"pair, on a fixed subset of 8,192 images evaluated in fp32 (nats per image):")
    diffs = []
    for seed in range(seeds):
        res = {}
        for prec in ("fp32", "bf16"):
            lib = Library(data, batch, prec, seed=seed)
            t = time.perf_counter()
            for _ in range(steps):
                lib.step()
            res[prec] = held_out_elbo(lib.vae, data)
            print(f"  seed {seed} {prec}: ELBO {res[prec][0]:9.3f} +- {res[prec][1]:.3f}   "
                  f"(training {time.perf_counter() - t:6.1f} s)", flush=True)
        diffs.append(res["bf16"][0] - res["fp32"][0])
    d = torch.tensor(diffs)
    spread = f", SE over seeds {float(d.std() / math.sqrt(len(d))):.3f}" if len(d) > 1 else ""
    print(f"  bf16 - fp32: mean {float(d.mean()):+.3f} nats{spread}; per seed "
          + ", ".join(f"{x:+.3f}" for x in diffs))


def time_round_robin(runners, steps, warmup, seed=0):
    """Median seconds per step of each runner, steps interleaved round-robin in a new
    random order each round (the step after another model's step pays for its cold
    caches and allocator state, so a fixed order would favour some runners)."""
    for r in runners.values():
        for _ in range(warmup):
            r.step()
    times = {k: [] for k in runners}
    rng = random.Random(seed)
    keys = list(runners)
    for _ in range(steps):
        rng.shuffle(keys)
        for k in keys:
            r = runners[k]
            t = time.perf_counter()
            r.step()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[256, 2048])
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--force-bf16", action="store_true",
                   help="run bf16 even on a CPU without bfloat16 instructions")
    p.add_argument("--estimator", nargs="+", default=["mss"], choices=["mss", "mws"])
    p.add_argument("--plain-pyro", action="store_true",
                   help="add (b) with pyro.optim.Adam and Pyro's validation on every step")
    p.add_argument("--steps", type=int, default=None, help="timed steps per configuration "
                                                           "(default 40 at 256, 10 at 2048)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--pool", type=int, default=32768, help="images held in memory for (a)")
    p.add_argument("--elbo-steps", type=int, default=0,
                   help="also train (b) this many steps in fp32 and bf16 and compare ELBOs")
    p.add_argument("--elbo-batch", type=int, default=256)
    p.add_argument("--elbo-seeds", type=int, default=2)
    p.add_argument("--no-contended", action="store_true",
                   help="skip the quiet / contended comparison of thread settings")
    p.add_argument("--contended", nargs="+", default=["256:bf16:20", "2048:fp32:5"],
                   metavar="BATCH:PRECISION:STEPS",
                   help="configurations of the contended section (default 256:bf16:20 "
                        "2048:fp32:5)")
    p.add_argument("--worker", nargs=4, metavar=("BATCH", "PRECISION", "THREADS", "STEPS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(*args.worker)
    with reuse_freed_memory(), flush_denormals():
        quiet_tables(args)
    if not args.no_contended:
        contended(args.contended)


#: (in, out) of the paper's MLP layers: encoder 4096-1200-1200-20, decoder 10-1200x3-4096
MLP_LAYERS = ((4096, 1200), (1200, 1200), (1200, 2 * Z_DIM),
              (Z_DIM, 1200), (1200, 1200), (1200, 1200), (1200, 4096))
#: multiply-adds per image of one step: forward, input gradient, weight gradient
MACS_PER_IMAGE = 3 * sum(a * b for a, b in MLP_LAYERS)


def matmul_seconds(B, precision, repeats=5):
    """Seconds of the dense matrix products of one training step at batch B (median of
    ``repeats``): per layer the forward ``x @ W.T``, the weight gradient ``g.T @ x`` and
    (above the encoder's first layer, whose input needs none) the input gradient
    ``g @ W``; bf16 operands under ``precision="bf16"``, as autocast casts them."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    gen = torch.Generator().manual_seed(0)
    ops = []
    for i, (a, b) in enumerate(MLP_LAYERS):
        x = torch.randn(B, a, generator=gen).to(dtype)
        w = torch.randn(b, a, generator=gen).to(dtype)
        g = torch.randn(B, b, generator=gen).to(dtype)
        ops.append((lambda x=x, w=w: x @ w.t()))
        ops.append((lambda x=x, g=g: g.t() @ x))
        if i != 0:
            ops.append((lambda w=w, g=g: g @ w))
    for op in ops:  # warm-up
        op()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for op in ops:
            op()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def quiet_tables(args):
    from pyro_tcvae.runs.host import cpu_has_bf16

    torch.manual_seed(0)
    data = DSprites()
    pick = torch.randperm(len(data))[:args.pool].numpy()
    pool = data.images(torch.from_numpy(pick), dtype=torch.uint8).reshape(len(pick), -1)
    precisions = list(args.precision)
    if "bf16" in precisions and cpu_has_bf16() is False and not args.force_bf16:
        precisions.remove("bf16")
        print("bf16 left out: this CPU has no bfloat16 instructions (no avx512_bf16, amx_bf16 "
              "or bf16 flag), so torch emulates bf16 about 30x slower than fp32 "
              "(--force-bf16 runs it anyway)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"N = {len(data):,}, pool for (a) {len(pool):,} images")
    flop = 2 * MACS_PER_IMAGE
    peaks = {}
    for B in args.batch:
        for prec in precisions:
            peaks[B, prec] = matmul_seconds(B, prec)
            print(f"matmul peak, batch {B} {prec}: the step's dense products take "
                  f"{peaks[B, prec]:.4f} s, {B * flop / peaks[B, prec] / 1e9:.0f} GFLOP/s "
                  f"({flop / 1e6:.1f} MFLOP per image-step)", flush=True)
    print(f"{'batch':>6} {'precision':>9} {'estimator':>9} {'(a) lean s/step':>16} "
          f"{'(a) img/s':>10} {'(a) peak':>9} {'(b) library s/step':>19} {'(b) img/s':>10} "
          f"{'(b) peak':>9} {'(b)/(a)':>8}")
    rows = {}
    for B in args.batch:
        runners = {}
        for prec in precisions:
            for est in args.estimator:
                runners[("a", prec, est)] = Lean(pool, len(data), B, prec, estimator=est)
                runners[("b", prec, est)] = Library(data, B, prec, estimator=est)
        if "fp32" in precisions and args.plain_pyro:
            runners[("b", "fp32", "pyro")] = Library(data, B, "fp32", plain_pyro=True)
        steps = args.steps or (40 if B <= 512 else 10)
        med = time_round_robin(runners, steps, args.warmup)
        for prec in precisions:
            for est in args.estimator:
                a, b = med[("a", prec, est)], med[("b", prec, est)]
                rows[(B, prec, est)] = (a, b)
                pk = peaks[B, prec]
                print(f"{B:>6} {prec:>9} {est:>9} {a:>16.4f} {B / a:>10.0f} {pk / a:>9.2f} "
                      f"{b:>19.4f} {B / b:>10.0f} {pk / b:>9.2f} {a / b:>8.3f}", flush=True)
        if ("b", "fp32", "pyro") in med:
            a, b = med[("a", "fp32", args.estimator[0])], med[("b", "fp32", "pyro")]
            print(f"{B:>6} {'fp32':>9} {'mss':>9} {'':>16} {'':>10} {'':>9} {b:>19.4f} "
                  f"{B / b:>10.0f} {peaks[B, 'fp32'] / b:>9.2f} {a / b:>8.3f}  <- (b) with "
                  f"pyro.optim.Adam and Pyro's validation on", flush=True)
    if "fp32" in precisions and "bf16" in precisions:
        for B in args.batch:
            for est in args.estimator:
                fa, fb = rows[(B, "fp32", est)]
                ba, bb = rows[(B, "bf16", est)]
                print(f"bf16 / fp32 speed-up at batch {B} ({est}): (a) {fa / ba:.2f}x, "
                      f"(b) {fb / bb:.2f}x; matmul peak {peaks[B, 'fp32'] / peaks[B, 'bf16']:.2f}x")
    if args.elbo_steps:
        compare_elbo(data, args.elbo_steps, args.elbo_batch, args.elbo_seeds)


def worker(batch, precision, threads, steps):
    """One configuration of the contended section, in its own process: (b) as the
    training loop runs it, with ``ThreadGovernor(threads)``; prints a JSON line."""
    data = DSprites(progress=False)
    lib = Library(data, int(batch), precision)
    times = []
    with reuse_freed_memory(), flush_denormals(), ThreadGovernor(int(threads)) as governor:
        lib.step()
        governor.tick()
        t_end = time.perf_counter() + 3.0  # warm-up: at least 3 s and 2 steps
        for i in range(1000):
            lib.step()
            governor.tick()
            if i >= 1 and time.perf_counter() > t_end:
                break
        for _ in range(int(steps)):
            t = time.perf_counter()
            lib.step()
            times.append(time.perf_counter() - t)
            governor.tick()
        print(json.dumps({"median": statistics.median(times), "threads": governor.threads,
                          "others": governor.others}))


@contextlib.contextmanager
def busy_core(on):
    """A busy-loop process beside the benchmark while ``on``."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        time.sleep(0.5 if on else 0.0)
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def contended(configs):
    cores = torch.get_num_threads()
    settings = [("adaptive (default)", 0), ("1 thread", 1), (f"{cores} threads fixed", cores)]
    print("\n(b) in fresh processes, quiet and with a busy-loop process beside it "
          "(seconds per step, median; threads in use at the end):")
    print(f"{'batch':>6} {'precision':>9} {'setting':>20} {'quiet s/step':>13} "
          f"{'busy core s/step':>17} {'threads':>8} {'busy / 1 thread':>16}")
    for config in configs:
        B, prec, steps = config.split(":")
        res = {}
        for busy in (False, True):
            with busy_core(busy):
                for label, threads in settings:
                    out = subprocess.run([sys.executable, __file__, "--worker", B, prec,
                                          str(threads), steps],
                                         capture_output=True, text=True, check=True)
                    res[busy, label] = json.loads(out.stdout.strip().splitlines()[-1])
        one = res[True, "1 thread"]["median"]
        for label, _ in settings:
            q, b = res[False, label], res[True, label]
            print(f"{B:>6} {prec:>9} {label:>20} {q['median']:>13.4f} {b['median']:>17.4f} "
                  f"{b['threads']:>8} {b['median'] / one:>16.2f}", flush=True)


if __name__ == "__main__":
    main()
