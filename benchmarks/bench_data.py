"""dSprites data speed: rendering, the cache, and the loader against a training step.

Prints one table, measured in one run:
- rendering the full 737,280-image set (target: under 2 minutes on 2 cores);
- starting from the on-disk cache (target: seconds);
- loader throughput, shuffled and contiguous batches of 2048 (images/s, as float32);
- the same for colour and noisy dSprites (RGB, made per batch), fixed per item and
  redrawn, with the extra memory they hold;
- the rendered 3D Shapes: rendering its 480 geometries, starting from the cache, the
  bytes it holds, loader throughput (images coloured per batch) and the peak RSS of a
  process that reads images across the whole set (the uint8 set would be 5.9 GB);
- the paper's MLP training step (plain PyTorch, fwd + bwd + Adam, batch 2048) in
  images/s: what a training loop consumes; the loader should be far faster.

    python benchmarks/bench_data.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from pyro_tcvae.data import Batches, ColorDSprites, DSprites, NoisyDSprites, Shapes3D

RSS_SCRIPT = """
import json
import numpy as np
from pyro_tcvae.data import Shapes3D
d = Shapes3D(source="render", progress=False)
for start in range(0, len(d), 48_000):
    d.images(np.arange(start, start + 48_000, 97))
# VmHWM, not ru_maxrss: the latter keeps the forked parent's size across exec
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(json.dumps(int(hwm.split()[1]) / 1024))
"""


def mlp_images_per_second(batch=2048, steps=3):
    D = 10
    enc = nn.Sequential(nn.Linear(4096, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(),
                        nn.Linear(1200, 2 * D))
    dec = nn.Sequential(nn.Linear(D, 1200), nn.Tanh(), nn.Linear(1200, 1200), nn.Tanh(),
                        nn.Linear(1200, 1200), nn.Tanh(), nn.Linear(1200, 4096))
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)
    x = (torch.rand(batch, 4096) < 0.1).float()
    times = []
    for step in range(steps + 1):
        t0 = time.perf_counter()
        h = enc(x)
        z = h[:, :D] + F.softplus(h[:, D:]) * torch.randn(batch, D)
        loss = F.binary_cross_entropy_with_logits(dec(z), x, reduction="sum")
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step:
            times.append(time.perf_counter() - t0)
    return batch / (sum(times) / len(times))


def loader_images_per_second(data, shuffle, batches=40, batch=2048):
    loader = Batches(data, batch, shuffle=shuffle, seed=0)
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        x, idx = next(it)
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PYRO_TCVAE_CACHE"] = cache
        os.environ.pop("PYRO_TCVAE_DSPRITES", None)
        t0 = time.perf_counter()
        DSprites(source="render", progress=False)  # renders and writes the cache
        rows.append(("render 737,280 images + write cache", time.perf_counter() - t0, "s"))
        t0 = time.perf_counter()
        data = DSprites(progress=False)
        rows.append(("start from the cache (memory-mapped)", time.perf_counter() - t0, "s"))
        rows.append(("packed images held in memory", data.bits.nbytes / 2**20, "MB"))
        shuffled = loader_images_per_second(data, True)
        contiguous = loader_images_per_second(data, False)
        train = mlp_images_per_second()
        rows.append(("loader, shuffled batches of 2048", shuffled, "images/s"))
        rows.append(("loader, contiguous batches of 2048", contiguous, "images/s"))
        for cls in (ColorDSprites, NoisyDSprites):
            for resample in (False, True):
                variant = cls(base=data, resample=resample)
                speed = loader_images_per_second(variant, True, batches=10)
                how = "redrawn" if resample else "fixed per item"
                rows.append((f"{cls.__name__}, {how}, shuffled", speed, "images/s"))
                if not resample:
                    extra = getattr(variant, "_buffer", None)  # NoisyDSprites' noise
                    rows.append((f"{cls.__name__} (fixed): memory beyond the binary set",
                                 0.0 if extra is None else extra.nbytes / 2**20, "MB"))
        t0 = time.perf_counter()
        Shapes3D(source="render", progress=False)
        rows.append(("3D Shapes: render 480 geometries + cache", time.perf_counter() - t0, "s"))
        t0 = time.perf_counter()
        shapes = Shapes3D(source="render", progress=False)
        rows.append(("3D Shapes: start from the cache", time.perf_counter() - t0, "s"))
        rows.append(("3D Shapes: geometry held (memory-mapped)", shapes.weights.nbytes / 2**20,
                     "MB"))
        rows.append(("3D Shapes: loader, shuffled batches of 2048",
                     loader_images_per_second(shapes, True, batches=10), "images/s"))
        out = subprocess.run([sys.executable, "-c", RSS_SCRIPT], check=True, text=True,
                             capture_output=True, env=dict(os.environ))
        rows.append(("3D Shapes: peak RSS reading the whole set", json.loads(out.stdout), "MB"))
        rows.append(("paper MLP training step, batch 2048", train, "images/s"))
        del data
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, value, unit in rows:
        print(f"{name:42s} {value:12.1f} {unit}")
    print(f"{'loader (shuffled) / training consumption':42s} {shuffled / train:12.1f} x")


if __name__ == "__main__":
    main()
