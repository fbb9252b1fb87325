"""What a paper-scale run costs on this machine: the paper's recipe timed for a few
hundred steps per objective and precision, projected to 50 epochs and to a study.

    python benchmarks/bench_paper_scale.py                         # 200 steps each
    python benchmarks/bench_paper_scale.py --steps 30 --objectives tcvae vae
    python benchmarks/bench_paper_scale.py --runs 15 --no-eval

The recipe of Chen et al. (2018) on dSprites: the paper's MLP, 10 latents, Bernoulli
likelihood, batch 2048, Adam lr 1e-3, 50 epochs of 737,280 images = 18,000 steps
(dSprites' 360 steps per epoch).  Each objective is built and stepped as ``pyro-tcvae
train`` does (:mod:`bench_objectives`' runner: FactorVAE with its second batch and its
discriminator's update), one after another, after ``--warmup`` steps; the projection
is the mean step time x 18,000 (the mean, not the median: a whole run pays for every
slow step).  The evaluation at the end of a run (all 737,280 items: encoding, MIG, the
decomposition) is timed once with a fresh model (its cost does not depend on the
objective) and added to each run.  A study of ``--runs`` runs is projected one run at
a time on the whole machine (two one-thread runs side by side take about as long per
pair).  bf16 is left out on a CPU without bfloat16 instructions, where torch emulates it
about 30x slower.
"""

import argparse
import statistics
import time

import torch

from bench_objectives import Runner
from pyro_tcvae.data import DSprites
from pyro_tcvae.models import VAE
from pyro_tcvae.runs import flush_denormals, reuse_freed_memory
from pyro_tcvae.runs.evaluate import evaluate_model
from pyro_tcvae.runs.host import cpu_has_bf16

BATCH, EPOCHS = 2048, 50


def time_objective(objective, data, precision, steps, warmup):
    """Seconds of each of ``steps`` training steps (after ``warmup``)."""
    runner = Runner(objective, data, BATCH, precision, EPOCHS * len(data) // BATCH)
    for _ in range(warmup):
        runner.step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        runner.step()
        times.append(time.perf_counter() - t)
    return times


def hours(seconds):
    return f"{seconds / 3600:6.2f} h"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--objectives", nargs="+",
                   default=["tcvae", "vae", "factorvae", "annealed", "dip-i", "dip-ii"])
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--force-bf16", action="store_true")
    p.add_argument("--runs", type=int, default=15, help="runs in the projected study")
    p.add_argument("--no-eval", action="store_true", help="leave out the evaluation")
    args = p.parse_args(argv)
    precisions = list(args.precision)
    if "bf16" in precisions and cpu_has_bf16() is False and not args.force_bf16:
        precisions.remove("bf16")
        print("bf16 left out: this CPU has no bfloat16 instructions (--force-bf16 runs it)")
    data = DSprites(progress=False)
    total_steps = EPOCHS * len(data) // BATCH
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; the paper's recipe: "
          f"batch {BATCH}, {EPOCHS} epochs = {total_steps:,} steps; {args.steps} timed steps "
          f"per row", flush=True)
    with reuse_freed_memory(), flush_denormals():
        eval_seconds = {}
        if not args.no_eval:
            for prec in precisions:
                torch.manual_seed(0)
                vae = VAE(x_shape=data.image_shape, z_dim=10, dataset_size=len(data),
                          precision=prec)
                res = evaluate_model(vae, data, progress=False)
                eval_seconds[prec] = res["seconds"]
                parts = ", ".join(f"{k} {v:.1f} s" for k, v in res["timings"].items())
                print(f"evaluation of all {len(data):,} items, {prec}: {res['seconds']:.1f} s "
                      f"({parts})", flush=True)
        print(f"{'objective':>10} {'precision':>9} {'s/step':>8} {'median':>8} {'img/s':>7} "
              f"{'/ tcvae':>8} {'one run':>9} {f'study of {args.runs}':>14}")
        base = {}
        for prec in precisions:
            for obj in args.objectives:
                times = time_objective(obj, data, prec, args.steps, args.warmup)
                mean, med = statistics.fmean(times), statistics.median(times)
                base.setdefault(prec, mean if obj == "tcvae" else None)
                ratio = f"{mean / base[prec]:8.2f}" if base[prec] else f"{'':>8}"
                run = mean * total_steps + eval_seconds.get(prec, 0.0)
                print(f"{obj:>10} {prec:>9} {mean:8.3f} {med:8.3f} {BATCH / mean:7.0f} {ratio} "
                      f"{hours(run):>9} {hours(run * args.runs):>14}", flush=True)


if __name__ == "__main__":
    main()
