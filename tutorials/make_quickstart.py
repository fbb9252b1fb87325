"""Write tutorials/01_quickstart.ipynb (cells kept here as plain text for review).

    python tutorials/make_tutorials.py 01_quickstart.ipynb   # write and execute (committed so)
    python tutorials/make_quickstart.py                      # write only, without outputs
"""

from pathlib import Path

import nbformat as nbf

CELLS = [
    ("md", """# Quickstart: a beta-TCVAE in a Pyro SVI loop

This notebook trains a small beta-TCVAE on `SmallSprites` (a low-resolution dSprites with
known factors) with an ordinary `pyro.infer.SVI` loop, looks at the decomposition of the
KL term into index-code mutual information (MI), total correlation (TC) and
dimension-wise KL, measures the mutual information gap (MIG), and draws latent
traversals. It runs on a laptop CPU in a few minutes; the tests run it with
`PYRO_TCVAE_QUICK=1` at a tiny size."""),
    ("code", """import os
import matplotlib.pyplot as plt
import pyro
import torch
from pyro.infer import SVI

from pyro_tcvae import TraceTC_ELBO
from pyro_tcvae.data import Batches, SmallSprites
from pyro_tcvae.metrics import elbo_decomposition, mig
from pyro_tcvae.models import VAE
from pyro_tcvae.viz import plot_factor_sweeps, plot_training_curves, plot_traversals

QUICK = os.environ.get("PYRO_TCVAE_QUICK") == "1"   # the tests' tiny size
STEPS = 30 if QUICK else 1500
pyro.set_rng_seed(0)"""),
    ("md", """## Data with known factors

4,608 sprites of 32x32: three shapes, three scales, eight orientations, 8 x 8 positions.
Each row below sweeps one factor."""),
    ("code", """data = SmallSprites()
print(len(data), data.factor_names, data.factor_sizes)
plot_factor_sweeps(data, max_columns=8);"""),
    ("md", """## The model and the objective

The VAE's `model` and `guide` are Pyro programs with the latent `z` inside
`pyro.plate("data", size=len(data), subsample=idx)`, so `TraceTC_ELBO` reads the dataset
size from the plate. `beta=6` weighs the total correlation six times."""),
    ("code", """vae = VAE(x_shape=(32, 32), z_dim=10, arch="small_mlp" if QUICK else "mlp",
          dataset_size=len(data))
elbo = TraceTC_ELBO(beta=6.0)          # minibatch stratified sampling ("mss") by default
svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), loss=elbo)"""),
    ("md", """## The SVI loop

After every step `elbo.last_terms` holds that step's terms in nats per datapoint
(minibatch estimates), with no second forward pass."""),
    ("code", """records, step = [], 0
batches = Batches(data, batch_size=256, shuffle=True, seed=0, drop_last=True)
while step < STEPS:
    for x, idx in batches:
        svi.step(x, idx)
        step += 1
        if step % 10 == 0:
            records.append({"step": step, **elbo.last_terms})
        if step == STEPS:
            break
t = records[-1]
print(f"step {step}: ELBO {t['elbo']:.2f}, MI {t['mi']:.3f}, TC {t['tc']:.3f}, "
      f"dwKL {t['dwkl']:.3f}")
plot_training_curves(records);"""),
    ("md", """## Full-dataset terms and MIG

The minibatch terms are noisy (and the log of a minibatch estimate of q(z) is biased);
the full-dataset decomposition evaluates q(z) against every item's posterior. MIG is the
paper's estimator, with a bootstrap standard error."""),
    ("code", """terms = elbo_decomposition(vae, data, num_samples=500 if QUICK else 4608, progress=False)
print({k: round(terms[k], 3) for k in ("elbo", "log_likelihood", "mi", "tc", "dwkl", "kl")})
result = mig(model=vae, data=data, num_samples=500 if QUICK else 4608, progress=False)
print(result)"""),
    ("md", """## Latent traversals

One row per latent, ordered by its KL: each row varies one latent around one sprite's
code. Informative latents change the sprite; collapsed ones do nothing."""),
    ("code", """x = data.images(torch.randperm(len(data))[:1000])
plot_traversals(vae, x, max_latents=6);"""),
    ("md", """Next: `pyro-tcvae train` does all of this from the command line, with checkpoints,
`pyro-tcvae evaluate` and `pyro-tcvae plot`; `pyro-tcvae sweep` compares betas."""),
]


def notebook_of(cells):
    """A notebook of ("md" | "code", source) cells, for a Python 3 kernel."""
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
                for kind, src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def build():
    return notebook_of(CELLS)


if __name__ == "__main__":
    path = Path(__file__).with_name("01_quickstart.ipynb")
    nbf.write(build(), path)
    print("wrote", path)
