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

The metric suite (``--metrics all``; ``--suite`` for these tables only): the time of
each metric of ``score_suite`` on the synthetic code's evaluation subset of 15,000
items (float16 means, as the evaluation stores and scores them) and their total, DCI
fitted in one process against one per core; then DCI's disentanglement, completeness
and informativeness with the protocol's 10,000 training items against fewer
(``--dci-sizes``; 5,000 test items) on that code and on the test suite's codes
(identity, rotated, duplicated; their 3 x 4 x 4 x 5 grid repeated to 15,360 items),
and the smallest size whose D and C agree with the protocol's within 0.02 on all.

    python benchmarks/bench_metrics.py            # about 10 minutes on 2 cores
    python benchmarks/bench_metrics.py --quick    # skip the exact full-dataset runs
    python benchmarks/bench_metrics.py --run runs/demo --only-evaluate
    python benchmarks/bench_metrics.py --suite    # the suite's tables (about 15 minutes)
    python benchmarks/bench_metrics.py --suite --dci-sizes 2000 10000   # fewer sizes
"""

import argparse
import math
import time

import numpy as np
import pyro.distributions as dist
import torch

from pyro_tcvae.data import DSprites, grid_factors
from pyro_tcvae.metrics import dci, decomposition_terms, encode_dataset, mig, score_codes
from pyro_tcvae.metrics.aggregate import log_aggregate
from pyro_tcvae.metrics.dci import available_cores
from pyro_tcvae.metrics.suite import PIPELINE, SUITE, SUITE_ITEMS, subset_codes
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
    import resource  # peak resident memory of this process so far (Linux: kB)
    print(f"  peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB "
          f"(the dataset, the model and the evaluation)", flush=True)


def suite_table(data, items=SUITE_ITEMS):
    """Each suite metric's time on the synthetic code's evaluation subset (DCI in one
    process per core).  Returns the codes and the results."""
    codes = subset_codes(synthetic_code(data), data.factors, data.factor_names,
                         data.factor_sizes, items=items, seed=0)
    sizes = {"num_train": 10_000, "num_test": 5_000, **PIPELINE.get("dci", {})}
    print(f"metric suite on {len(codes['loc']):,} items of the synthetic dSprites code, "
          f"{available_cores()} cores (DCI: {sizes['num_train']:,} training, "
          f"{sizes['num_test']:,} test items, the evaluation's setting):")
    res = score_codes(codes)
    for name in SUITE:
        r = res[name]
        extra = (f", C {r['completeness']:.4f}, I {r['informativeness']:.4f}" if name == "dci"
                 else f", explicitness {r['explicitness']:.4f}" if name == "modularity"
                 else "")
        print(f"  {name:12s} {res['timings'][name]:7.1f} s   {r['score']:.4f} +- "
              f"{r['stderr']:.4f}{extra}")
    print(f"  {'total':12s} {sum(res['timings'].values()):7.1f} s", flush=True)
    return codes, res


def one_process_row(codes, num_train, many):
    """DCI with ``num_train`` training items in one process against ``many`` (the
    result of :func:`score_codes` for DCI in one process per core at that size)."""
    one = score_codes(codes, metrics=["dci"],
                      options={"dci": {"num_train": num_train, "n_jobs": 1}})
    same = np.array_equal(one["dci"]["importance"], many["dci"]["importance"])
    print(f"DCI with {num_train:,} training items: in one process "
          f"{one['timings']['dci']:.1f} s, in {available_cores()} processes "
          f"{many['timings']['dci']:.1f} s (the same importances: {same})", flush=True)


def grid_test_codes(repeats=64, seed=0):
    """The test suite's codes (tests/test_metric_suite.py) on its grid repeated
    ``repeats`` times: {name: (codes [N, 6 or 8], factors [N, 4])}."""
    f = grid_factors((3, 4, 4, 5)).repeat(repeats, 1).numpy()
    rng = np.random.default_rng(seed)
    u = (f - f.mean(0)) / f.std(0)
    ident = np.concatenate([u + 0.05 * rng.standard_normal(u.shape),
                            rng.standard_normal((len(f), 2))], 1)
    rot = ident.copy()
    rot[:, 1], rot[:, 2] = ((ident[:, 1] + ident[:, 2]) / math.sqrt(2),
                            (ident[:, 1] - ident[:, 2]) / math.sqrt(2))
    dup = np.concatenate([ident, ident[:, :4]], 1)
    return {"identity": (ident, f), "rotated": (rot, f), "duplicated": (dup, f)}


def dci_sizes_table(codes, sizes=(2000, 3000, 5000, 10_000), num_test=5000, tol=0.02,
                    known=None):
    """DCI at each training size against the largest (the protocol's 10,000) on the
    synthetic code and the test suite's codes; the smallest size within ``tol``.
    ``known``: {num_train: score_codes result} already computed for the synthetic code.
    Returns {num_train: score_codes result} of the synthetic code."""
    cases = {"dSprites-like": None, **grid_test_codes()}
    sizes = sorted(sizes)
    print(f"DCI against training items ({num_test:,} test items; differences from "
          f"num_train={sizes[-1]:,}):")
    print(f"  {'code':14s} {'num_train':>9s} {'D':>7s} {'C':>7s} {'I':>7s} {'dD':>7s} "
          f"{'dC':>7s} {'dI':>7s} {'s':>6s}")
    worst = {n: 0.0 for n in sizes}
    synthetic = dict(known or {})
    for name, case in cases.items():
        got = {}
        for n in sorted(sizes, reverse=True):
            if case is None:  # the synthetic code, as the evaluation scores it
                if n not in synthetic:
                    synthetic[n] = score_codes(codes, metrics=["dci"],
                                               options={"dci": {"num_train": n,
                                                                "num_test": num_test}})
                r, t = synthetic[n]["dci"], synthetic[n]["timings"]["dci"]
                got[n] = (r["score"], r["completeness"], r["informativeness"], t)
            else:
                t0 = time.perf_counter()
                r = dci(*case, num_train=n, num_test=num_test)
                got[n] = (r.score, r.completeness, r.informativeness, time.perf_counter() - t0)
        ref = got[sizes[-1]]
        for n in sizes:
            d = [got[n][i] - ref[i] for i in range(3)]
            worst[n] = max(worst[n], abs(d[0]), abs(d[1]))
            print(f"  {name:14s} {n:9,d} {got[n][0]:7.4f} {got[n][1]:7.4f} {got[n][2]:7.4f} "
                  f"{d[0]:+7.4f} {d[1]:+7.4f} {d[2]:+7.4f} {got[n][3]:6.1f}", flush=True)
    ok = [n for n in sizes if worst[n] <= tol]
    print("  largest |dD|, |dC| over the codes: " +
          ", ".join(f"{n:,}: {worst[n]:.4f}" for n in sizes))
    print(f"  smallest num_train within {tol} on every code: {ok[0]:,}" if ok else
          f"  no size within {tol}", flush=True)
    return synthetic


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--encode-items", type=int, default=100_000,
                        help="items to encode for the encoding-speed row")
    parser.add_argument("--run", help="a trained dSprites run folder for the evaluation table")
    parser.add_argument("--only-evaluate", action="store_true",
                        help="only the evaluation table")
    parser.add_argument("--suite", action="store_true",
                        help="only the metric suite's tables (times, DCI's training size)")
    parser.add_argument("--dci-sizes", type=int, nargs="+", default=[2000, 3000, 5000, 10_000],
                        help="DCI training sizes to compare (the largest is the reference; "
                             "default 2000 3000 5000 10000; one size: no comparison)")
    parser.add_argument("--one-process-train", type=int, default=None,
                        help="training items of DCI's one-process timing (default the "
                             "evaluation's 10000)")
    args = parser.parse_args()
    data = DSprites(progress=False)
    if args.suite:
        codes, res = suite_table(data)
        protocol = res["dci"]["num_train"]
        known = {protocol: res} if res["dci"]["num_test"] == 5000 else {}
        if len(args.dci_sizes) > 1:
            known = dci_sizes_table(codes, args.dci_sizes, known=known)
        n = args.one_process_train or protocol
        many = known.get(n) or score_codes(codes, metrics=["dci"],
                                           options={"dci": {"num_train": n}})
        one_process_row(codes, n, many)
        return
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
    suite_table(data)
    print("(the DCI comparisons: --suite)")


if __name__ == "__main__":
    main()
