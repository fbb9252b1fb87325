"""How much of the minibatch estimate of q(z) is the sample's own component?

For trained runs, encodes a random reference set of the dataset, draws z_i ~ q(z|x_i)
for the first B items, and for each number of components K (the batch, or the batch
plus a memory of K - B past posteriors) prints the median and mean share of the MSS
estimate of the joint q(z_i) that comes from the sample's own component (weight 1/N)
rather than from the other K - 1 (weight (N-1)/(N(K-1)) each).  A share near 1 means
the estimate has no neighbours to work with, and the TC penalty little signal.

    python benchmarks/own_component_share.py runs/studies/time_to_mig/tcvae_beta6_seed0 \
        runs/studies/time_to_mig/tcvae_beta6_seed2
"""

import argparse
import math

import torch

from pyro_tcvae.runs import load_model, make_dataset


def own_share(loc, scale, z, N, K):
    """Share of the own component in the MSS estimate of q(z_i), per sample [B].

    loc, scale: [>= K, D] posteriors, the first B those of z's items; z: [B, D]."""
    B = z.shape[0]
    lp = torch.distributions.Normal(loc[None, :K], scale[None, :K]).log_prob(z[:, None]).sum(-1)
    own = lp.diagonal() - math.log(N)
    others = lp.clone()
    others[range(B), range(B)] = -math.inf
    rest = torch.logsumexp(others, 1) + math.log((N - 1) / (N * (K - 1)))
    return torch.sigmoid(own - rest)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders (with model.pt)")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--components", type=int, nargs="+", default=[1024, 4096, 16384])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if any(k < args.batch for k in args.components):
        ap.error("every --components value must be >= --batch")
    print(f"| run | components | own share, median | own share, mean |")
    print("|---|---|---|---|")
    for run in args.runs:
        vae, cfg = load_model(run)
        data = make_dataset(cfg, progress=False)
        g = torch.Generator().manual_seed(args.seed)
        idx = torch.randperm(len(data), generator=g)[:max(args.components)]
        with torch.no_grad():
            post = vae.encode(data.images(idx))
            loc, scale = post.mean.float(), post.stddev.float()
            z = loc[:args.batch] + scale[:args.batch] * torch.randn(
                loc[:args.batch].shape, generator=g)
            for k in args.components:
                s = own_share(loc, scale, z, len(data), k)
                print(f"| {run} | {k} | {s.median().item():.3f} | {s.mean().item():.3f} |")


if __name__ == "__main__":
    main()
