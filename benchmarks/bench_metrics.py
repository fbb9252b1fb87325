"""MIG and the full-dataset ELBO decomposition on all of dSprites: time and accuracy.

A 10-dimensional code of the 737,280 dSprites items is built from their factors (the
kind of code a trained beta-TCVAE reaches: posX, posY and scale each in one
dimension, orientation in two, one dimension mixing posX and scale, four inactive
dimensions), with posterior scales 0.08 (active) and 1 (inactive). Printed, in one run:

- encoding the dataset with the paper's MLP encoder (images/s), for reference;
- MIG (S = 10,000) with the default stratified components and with every item as a
  component (the exact procedure), and the standard errors;
- the decomposition (S = 10,000): the joint q(z) always exact, the marginals q(z_d)
  against 200,000 stratified components or against all items;
- on a subset where it is cheap, the reference code's procedure (10,000 samples per
  factor value, averaged over values) against ours.

A first table times what ``pyro-tcvae evaluate`` does on all of dSprites, part by part
(encoding with the paper's MLP, the samples' per-dimension log-densities shared by MIG
and the decomposition, MIG, histogram MIG, the decomposition with its exact joint and
its log-likelihood), for a freshly initialised model or a trained run (``--run``).

    python benchmarks/bench_metrics.py            # about 10 minutes on 2 cores
    python benchmarks/bench_metrics.py --quick    # skip the exact full-dataset runs
    python benchmarks/bench_metrics.py --run runs/demo --only-evaluate
"""

import argparse
import math
import time

import pyro.distributions as dist
import torch

from pyro_tcvae.data import DSprites
from pyro_tcvae.metrics import decomposition_terms, encode_dataset, mig
from pyro_tcvae.metrics.aggregate import log_aggregate
from pyro_tcvae.models import VAE
from pyro_tcvae.runs.build import load_model
from pyro_tcvae.runs.evaluate import evaluate_model


def synthetic_code(data, seed=0):
    g = torch.Generator().manual_seed(seed)
    v = data.values()  # [N, 6]: color, shape, scale, orientation, posX, posY
    N = len(data)
    loc = torch.zeros(N, 10)
    loc[:, 0] = 4 * v[:, 4] - 2
    loc[:, 1] = 4 * v[:, 5] - 2
    loc[:, 2] = 8 * (v[:, 2] - 0.75)
    loc[:, 3] = 1.5 * torch.cos(v[:, 3])
    loc[:, 4] = 1.5 * torch.sin(v[:, 3])
    loc[:, 5] = 2 * v[:, 4] + 4 * (v[:, 2] - 0.75)
    scale = torch.full((N, 10), 1.0)
    scale[:, :6] = 0.08
    loc[:, :6] += 0.05 * torch.randn(N, 6, generator=g)
    return dist.Normal(loc, scale)


def reference_procedure(post, factors, included, n_samples=10_000, seed=0):
    """The reference code's MIG: H(z_j) from n_samples items against all items; for
    each value of each factor, H(z_j | v) from up to n_samples items with that value
    against all items with that value, averaged over values; MI / log |V_k|."""
    g = torch.Generator().manual_seed(seed)
    N = factors.shape[0]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        z = post.sample()

    def entropy(items):
        pick = items[torch.randperm(len(items), generator=g)[:n_samples]]
        rest = items[~torch.isin(items, pick)]
        return -log_aggregate(post, pick, z[pick], rest, len(items), joint=False)[1].mean(0)

    H = entropy(torch.arange(N)).double()
    gaps = []
    for k in included:
        values = torch.unique(factors[:, k])
        cond = sum(entropy(torch.nonzero(factors[:, k] == v).squeeze(1)).double()
                   for v in values) / len(values)
        mi = (H - cond) / math.log(len(values))
        top = torch.topk(mi, 2).values
        gaps.append(float(top[0] - top[1]))
    return sum(gaps) / len(gaps)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def evaluation_table(data, run=None):
    """The parts of ``pyro-tcvae evaluate`` on all items, timed (evaluate_model)."""
    if run:
        vae, _ = load_model(run)
    else:
        torch.manual_seed(0)
        vae = VAE(x_shape=(64, 64), z_dim=10, arch="mlp", dataset_size=len(data))
    res = evaluate_model(vae, data, progress=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; evaluation of "
          f"{run or 'a freshly initialised paper MLP'} on all {len(data):,} items "
          f"(S = 10,000, 200,000 stratified components, exact joint):")
    for name, seconds in res["timings"].items():
        print(f"  {name:16s} {seconds:7.1f} s")
    m, d = res["mig"], res["decomposition"]
    print(f"  {'total':16s} {res['seconds']:7.1f} s   MIG {m['score']:.4f} +- {m['stderr']:.4f}, "
          f"TC {d['tc']:.3f} +- {d['stderr']['tc']:.3f}, ELBO {d['elbo']:.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--encode-items", type=int, default=100_000,
                        help="items to encode for the encoding-speed row")
    parser.add_argument("--run", help="a trained dSprites run folder for the evaluation table")
    parser.add_argument("--only-evaluate", action="store_true",
                        help="only the evaluation table")
    args = parser.parse_args()
    data = DSprites(progress=False)
    evaluation_table(data, args.run)
    if args.only_evaluate:
        return
    post = synthetic_code(data)
    prior = dist.Normal(torch.zeros(10), 1.0).to_event(1)
    rows = []

    vae = VAE(x_shape=(64, 64), z_dim=10, arch="mlp")
    _, t = timed(lambda: encode_dataset(vae, data, torch.arange(args.encode_items),
                                        progress=False))
    rows.append((f"encode {args.encode_items:,} images (paper MLP)", t,
                 f"{args.encode_items / t:,.0f} images/s; all 737,280: "
                 f"{len(data) / (args.encode_items / t):.0f} s"))

    r, t = timed(lambda: mig(post, data.factors, factor_names=data.factor_names,
                             exclude=["shape"], progress=False))
    rows.append(("MIG, S=10,000, 200,000 stratified components", t, str(r)))
    if not args.quick:
        r2, t = timed(lambda: mig(post, data.factors, factor_names=data.factor_names,
                                  exclude=["shape"], max_components=None, progress=False))
        rows.append(("MIG, S=10,000, all 737,280 components (exact)", t, str(r2)))
        rows.append(("  stratified - exact", 0.0, f"{r.score - r2.score:+.4f}"))

    (d, err, _), t = timed(lambda: decomposition_terms(post, prior, num_samples=10_000))
    fmt = lambda d, e: ", ".join(f"{k} {d[k]:.3f}+-{e[k]:.3f}" for k in ("mi", "tc", "dwkl", "kl"))
    rows.append(("decomposition, S=10,000, marginals 200,000 strat.", t, fmt(d, err)))
    if not args.quick:
        (d2, err2, _), t = timed(lambda: decomposition_terms(post, prior, num_samples=10_000,
                                                             max_components=None))
        rows.append(("decomposition, S=10,000, all components (exact)", t, fmt(d2, err2)))
        rows.append(("  default - exact (tc)", 0.0, f"{d['tc'] - d2['tc']:+.4f}"))

    sub = data.subset(shape="heart", scale=[2, 5], orientation=list(range(10)))
    sub_post = synthetic_code(sub)
    incl = [2, 3, 4, 5]
    ref, t = timed(lambda: reference_procedure(sub_post, sub.factors, incl))
    rows.append((f"subset of {len(sub):,}: reference procedure", t, f"MIG {ref:.4f}"))
    ours, t = timed(lambda: mig(sub_post, sub.factors, factor_names=sub.factor_names,
                                exclude=["shape"], progress=False))
    rows.append((f"subset of {len(sub):,}: ours (exact here)", t, str(ours)))
    rows.append(("  ours - reference", 0.0, f"{ours.score - ref:+.4f}"))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, seconds, what in rows:
        print(f"{name:48s} {seconds:7.1f} s  {what}")


if __name__ == "__main__":
    main()
