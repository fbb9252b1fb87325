"""Write the tutorial notebooks 01-07 (cells kept here as plain text for review; 01's
in make_quickstart.py), then execute them at full size so that they are committed with
their outputs.

    python tutorials/make_tutorials.py            # write and execute
    python tutorials/make_tutorials.py --no-run   # write only
"""

import argparse
import time
from pathlib import Path

import nbformat as nbf
from make_quickstart import CELLS as QUICKSTART  # noqa: E402 (a sibling script)
from make_quickstart import notebook_of  # noqa: E402

HERE = Path(__file__).resolve().parent

DECOMPOSITION = [
    ("md", r"""# The ELBO decomposition: MI, TC and dimension-wise KL

For a datapoint $x_n$ and $z \sim q(z \mid x_n)$, the KL term of the ELBO splits into three
parts (Chen et al. 2018, Eq. 2), with the aggregate posterior
$q(z) = \frac{1}{N}\sum_m q(z \mid x_m)$:

$$
\underbrace{\log q(z\mid x_n) - \log q(z)}_{\text{index-code MI}}
+ \underbrace{\log q(z) - \textstyle\sum_d \log q(z_d)}_{\text{total correlation}}
+ \underbrace{\textstyle\sum_d \log q(z_d) - \log p(z)}_{\text{dimension-wise KL}} .
$$

Only $\log q(z)$ and $\log q(z_d)$ are hard: they are mixtures over the whole dataset.
This notebook builds a model small enough to hold in your head, computes the exact terms
with a lookup table over all $N$ components, and compares the two minibatch estimators
(minibatch weighted sampling, MWS, and minibatch stratified sampling, MSS) as the batch
grows. Then it shows why a minibatch TC can read negative, and the terms over a short
training run."""),
    ("code", r"""import math
import os

import matplotlib.pyplot as plt
import pyro
import torch
from pyro.infer import SVI

from pyro_tcvae import TraceTC_ELBO
from pyro_tcvae.data import Batches, SmallSprites
from pyro_tcvae.models import VAE
from pyro_tcvae.ops import log_importance_weights, normal_log_mixture

QUICK = os.environ.get("PYRO_TCVAE_QUICK") == "1"   # the tests' tiny size
torch.manual_seed(0)"""),
    ("md", r"""## A model you can hold in your head

$N = 512$ items with 2-D Gaussian posteriors: the first latent encodes a factor $a$, the
second a factor $b$ that is *correlated* with $a$ across the dataset, so the aggregate
posterior has a total correlation that we can compute exactly."""),
    ("code", r"""N, D = 512, 2
a = torch.rand(N) * 4 - 2
b = 0.8 * a + 0.6 * (torch.rand(N) * 4 - 2)       # correlated with a
loc = torch.stack([a, b], 1)
scale = torch.full((N, D), 0.3)
z = loc + scale * torch.randn(N, D)               # z_n ~ q(z | x_n), one per item

def terms(z, loc, scale, log_w_diag, log_w_off):
    # per-sample MI, TC and dwKL given the mixture weights (prior N(0, I))
    log_qz, log_qzd = normal_log_mixture(z[None], loc[None], scale[None], log_w_diag, log_w_off)
    log_q_cond = torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_prod = log_qzd[0].sum(-1)
    return log_q_cond - log_qz[0], log_qz[0] - log_prod, log_prod - log_p

# the exact terms: every item's component with weight 1/N (the lookup-table oracle)
exact = [t.mean().item() for t in terms(z, loc, scale, -math.log(N), -math.log(N))]
print("exact  MI {:.4f}  TC {:.4f}  dwKL {:.4f}".format(*exact))"""),
    ("md", r"""## MSS against MWS as the batch grows

A minibatch of $B$ items sees only $B$ of the $N$ components. MWS, with the paper's
normalization, weighs every one by $1/(NB)$: since $\frac1B\sum_j q(z\mid x_j)$ already
estimates $q(z)$, every log-density it returns is low by $\log N$, so its TC carries the
constant offset $(D-1)\log N$ (its MI $+\log N$, its dwKL $-D\log N$; the KL and every
gradient are unchanged). MSS gives the sample's own component $1/N$ and each of the other
$B-1$ the weight $(N-1)/(N(B-1))$, which makes it exact when the batch is the whole
dataset. The plot shows MWS with its constant taken off."""),
    ("code", r"""def batch_tc(B, estimator, repeats):
    out = []
    for r in range(repeats):
        idx = torch.randperm(N)[:B]
        wd, wo = log_importance_weights(estimator, B, N)
        out.append(terms(z[idx], loc[idx], scale[idx], wd, wo)[1].mean().item())
    return torch.tensor(out)

sizes = [8, 16, 32, 64, 128, 256, 512]
repeats = 5 if QUICK else 100
offset = (D - 1) * math.log(N)                     # MWS's constant, 6.24 nats here
est = {"mws - (D-1) log N": [batch_tc(B, "mws", repeats) - offset for B in sizes],
       "mss": [batch_tc(B, "mss", repeats) for B in sizes]}
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
for e, runs in est.items():
    ax[0].plot(sizes, [r.mean() for r in runs], "-o", label=e)
    ax[1].plot(sizes, [((r - exact[1]) ** 2).mean().sqrt() for r in runs], "-o", label=e)
ax[0].axhline(exact[1], color="k", ls="--", label="exact")
ax[0].set(xscale="log", xlabel="batch size B", ylabel="minibatch TC (mean)")
ax[1].set(xscale="log", yscale="log", xlabel="batch size B", ylabel="RMSE against exact")
ax[0].legend(); plt.tight_layout()"""),
    ("md", r"""Both are biased at small $B$ (each is the log of a noisy estimate), and the bias
shrinks as $B$ grows. At $B = N$, MSS *is* the exact computation, and MWS is exact up to
its constant; the notebook checks both (a broken estimator breaks this cell):"""),
    ("code", r"""wd, wo = log_importance_weights("mss", N, N)
mss_full = [t.mean().item() for t in terms(z, loc, scale, wd, wo)]
assert all(abs(m - e) < 1e-4 for m, e in zip(mss_full, exact)), (mss_full, exact)
wd, wo = log_importance_weights("mws", N, N)
mws_full = [t.mean().item() for t in terms(z, loc, scale, wd, wo)]
assert abs(mws_full[1] - offset - exact[1]) < 1e-4
print("MSS at B = N:", [round(v, 4) for v in mss_full], "= exact;",
      f"MWS TC {mws_full[1]:.4f} = exact + (D-1) log N")"""),
    ("md", r"""## Why a minibatch TC can read negative

The TC of a distribution is a KL divergence, never negative. Its minibatch estimate is a
*difference* of two logs of noisy mixture estimates: $\log q(z)$, one $D$-dimensional
mixture in which a sample has few near neighbours besides its own component (pushed
down), and $\sum_d \log q(z_d)$, $D$ one-dimensional mixtures, each the log of a noisy
sum (pushed down by Jensen's inequality, by an amount that grows with $D$). Which one
wins depends on $D$ and $B$: here ($D = 2$) small batches read the TC low and often below
zero, even though the exact TC is positive; with more latents the same estimator can
read it high."""),
    ("code", r"""small = batch_tc(8, "mss", 50 if QUICK else 2000)
print(f"exact TC {exact[1]:.3f}; B = 8 with MSS: mean {small.mean():.3f}, "
      f"{(small < 0).float().mean():.0%} of batches below zero")
plt.hist(small.numpy(), bins=40); plt.axvline(0, color="k"); plt.axvline(exact[1], color="r")
plt.xlabel("minibatch TC, B = 8 (red: exact)");"""),
    ("md", r"""## The terms over a training run

`TraceTC_ELBO` leaves each step's terms (minibatch estimates, nats per datapoint) in
`last_terms`. A short beta-TCVAE run on `SmallSprites` shows TC pressed down by
$\beta = 6$ while MI grows as the code learns the data."""),
    ("code", r"""pyro.set_rng_seed(0)
data = SmallSprites()
vae = VAE(x_shape=(32, 32), z_dim=6, arch="small_mlp", dataset_size=len(data))
elbo = TraceTC_ELBO(beta=6.0)
svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 2e-3}), loss=elbo)
steps, records, step = (30 if QUICK else 1500), [], 0
while step < steps:
    for x, idx in Batches(data, 256, seed=step, drop_last=True):   # a new order each epoch
        svi.step(x, idx); step += 1
        records.append(elbo.last_terms)
        if step == steps:
            break
fig, ax = plt.subplots(figsize=(6, 3.5))
for k in ("mi", "tc", "dwkl"):
    ax.plot([r[k] for r in records], label=k)
ax.set(xlabel="step", ylabel="nats per datapoint (minibatch)"); ax.legend();
assert all(abs(r["mi"] + r["tc"] + r["dwkl"] - r["kl"]) < 1e-3 for r in records)
print("ELBO of the last step:", round(records[-1]["elbo"], 2), "nats; MI + TC + dwKL = KL at every step")"""),
]

MIG = [
    ("md", r"""# MIG: the mutual information gap

For each factor $v_k$, MIG takes the two latents that carry the most information about it
and reports the gap between them, normalized by the factor's entropy:

$$
\mathrm{MIG} = \frac{1}{K}\sum_k \frac{I(z_{j^{(k)}}; v_k) - \max_{j \ne j^{(k)}} I(z_j; v_k)}{H(v_k)} .
$$

It needs no classifier: $I(z_j; v_k) = H(z_j) - H(z_j \mid v_k)$ is estimated from the
encoder's posteriors (the paper's estimator: entropies of the aggregate posterior's 1-D
marginals by sampling). This notebook scores codes whose answer we know, compares the
paper's estimator with the histogram variant other libraries use, and reads the
per-factor gaps of a trained model beside its traversals."""),
    ("code", r"""import os

import matplotlib.pyplot as plt
import pyro
import torch
from pyro.infer import SVI

from pyro_tcvae import TraceTC_ELBO, mig, mig_histogram
from pyro_tcvae.data import Batches, SmallSprites
from pyro_tcvae.data.ground_truth import grid_factors
from pyro_tcvae.models import VAE
from pyro_tcvae.viz import plot_traversals

QUICK = os.environ.get("PYRO_TCVAE_QUICK") == "1"
torch.manual_seed(0)
S = 2000 if QUICK else 10_000"""),
    ("md", r"""## Known codes

Three factors with 8, 10 and 12 values on a full grid. Each code is a Normal posterior
per item: its location is a function of the factors, its scale the noise."""),
    ("code", r"""factors = grid_factors((8, 10, 12))                 # [960, 3] classes
u = factors.float() / (torch.tensor([8, 10, 12]) - 1)  # in [0, 1]
post = lambda loc, s: torch.distributions.Normal(loc, torch.full_like(loc, s))
rot = torch.tensor([[0.7071, 0.7071, 0.0], [-0.7071, 0.7071, 0.0], [0.0, 0.0, 1.0]])
codes = {
    "identity": post(u, 0.01),
    "noisy identity": post(u, 0.15),
    "rotated (a, b mixed)": post(u @ rot.T, 0.01),
    "duplicated (a twice)": post(torch.cat([u, u[:, :1]], 1), 0.01),
}
scores = {}
for name, q in codes.items():
    r = mig(q, factors, factor_names=("a", "b", "c"), num_samples=S, progress=False)
    scores[name] = r
    print(f"{name:22s} MIG {r.score:.3f} +- {r.stderr:.3f}   gaps " +
          ", ".join(f"{k} {v:.2f}" for k, v in r.gaps.items()))"""),
    ("md", r"""What to expect, and what the cell below checks: the identity code scores near 1; noise
lowers every gap; rotating $a$ and $b$ into each other leaves $c$'s gap intact but
collapses theirs; duplicating $a$ into a second latent makes $a$'s gap zero (two latents
know it equally), which is why MIG penalizes redundant codes that other metrics reward."""),
    ("code", r"""assert scores["identity"].score > 0.9
assert scores["noisy identity"].score < scores["identity"].score - 0.1
g = scores["rotated (a, b mixed)"].gaps
assert g["c"] > 0.9 and g["a"] < 0.5 and g["b"] < 0.5
assert scores["duplicated (a twice)"].gaps["a"] < 0.05
print("all four behave as MIG says they should")"""),
    ("md", r"""## The paper's estimator against the histogram variant

disentanglement_lib and most libraries discretize each latent's point code into 20
equal-width bins. A factor with more values than bins then cannot be fully recovered:
two values share a bin, so even a perfect code scores below 1. The paper's estimator
works with the continuous posteriors and has no such ceiling."""),
    ("code", r"""rows = []
for n in (8, 16, 32, 40, 64):
    f = torch.arange(n).repeat(50)[:, None]           # one factor with n values, 50 items each
    loc = torch.stack([f[:, 0].float() / (n - 1), torch.zeros(len(f))], 1)
    scale = torch.tensor([0.001, 1.0]).expand(len(f), 2)  # a perfect latent and a collapsed one
    q = torch.distributions.Normal(loc, scale)
    rows.append((n, mig(q, f, num_samples=min(S, n * 50), progress=False).score,
                 mig_histogram(posterior=q, factors=f).score))
for n, paper, hist in rows:
    print(f"{n:3d} values: paper's estimator {paper:.3f}, histogram (20 bins) {hist:.3f}")
assert rows[0][2] > 0.99 and rows[-1][2] < 0.9 and rows[-1][1] > 0.95"""),
    ("md", r"""## A trained model: its gaps and its traversals

A short beta-TCVAE run on `SmallSprites`. The per-factor gaps say which factors have a
latent of their own; the traversals (one row per latent, ordered by KL) show what each
latent does. Read them together: a high gap with a clean traversal is a disentangled
factor; two rows that move the same factor explain a small gap."""),
    ("code", r"""pyro.set_rng_seed(0)
data = SmallSprites()
vae = VAE(x_shape=(32, 32), z_dim=6, arch="small_mlp", dataset_size=len(data))
elbo = TraceTC_ELBO(beta=6.0)
svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 2e-3}), loss=elbo)
steps, step = (30 if QUICK else 2000), 0
while step < steps:
    for x, idx in Batches(data, 256, seed=step, drop_last=True):
        svi.step(x, idx); step += 1
        if step == steps:
            break
result = mig(model=vae, data=data, num_samples=min(S, len(data)), progress=False)
print(result)
x = data.images(torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:1000])
plot_traversals(vae, x);"""),
]


SUITE = [
    ("md", r"""# The field's metric suite: BetaVAE, FactorVAE, DCI, SAP, modularity

Papers after Locatello et al. (2019) report more than MIG. `score_suite` runs the
field's other metrics on point codes (the posterior means) and the factor classes, with
disentanglement_lib's protocols and a standard error each:

- **BetaVAE score** (Higgins et al. 2017): a linear classifier guesses which factor was
  held fixed from the mean absolute code difference of pairs sharing it.
- **FactorVAE score** (Kim and Mnih 2018): the same guess from the dimension of least
  (normalized) variance, by a majority vote.
- **DCI** (Eastwood and Williams 2018): boosted trees predict each factor from the code;
  their importances give *disentanglement* (each dimension serves one factor),
  *completeness* (each factor is served by one dimension) and *informativeness* (the
  test accuracy).
- **SAP** (Kumar et al. 2018): per factor, the gap between the two dimensions that
  predict it best.
- **Modularity** (Ridgeway and Mozer 2018): each dimension's mutual information should
  go to one factor; **explicitness**: a linear read-out of every factor.

This notebook scores codes whose answer we know, beside MIG, and keeps the codes in a
file that the suite can score again without the model."""),
    ("code", r"""import os
import tempfile

import torch

from pyro_tcvae.data.ground_truth import grid_factors
from pyro_tcvae.metrics import load_codes, mig, save_codes, score_codes, score_suite
from pyro_tcvae.metrics.suite import format_suite, subset_codes

torch.manual_seed(0)
QUICK = os.environ.get("PYRO_TCVAE_QUICK") == "1"   # the tests' tiny size"""),
    ("md", r"""## Known codes

Three factors with 8, 10 and 12 values on a full grid (repeated, so that the classifiers
have items to learn from). Each code is a Normal posterior per item whose mean is a
function of the factors plus a little noise. The protocols want 10,000 training and
5,000 test items; on fewer, `score_suite` scales both down in proportion (each result
says what it used)."""),
    ("code", r"""factors = grid_factors((8, 10, 12)).repeat(1 if QUICK else 4, 1)   # [N, 3] classes
u = factors.float() / (torch.tensor([8, 10, 12]) - 1)              # in [0, 1]
post = lambda loc: torch.distributions.Normal(loc + 0.02 * torch.randn_like(loc),
                                               torch.full_like(loc, 0.02))
rot = torch.tensor([[0.7071, 0.7071, 0.0], [-0.7071, 0.7071, 0.0], [0.0, 0.0, 1.0]])
codes = {
    "identity": post(u),
    "rotated (a, b mixed)": post(u @ rot.T),
    "duplicated (a twice)": post(torch.cat([u, u[:, :1]], 1)),
    "noise": post(torch.rand(len(u), 3)),
}
scores = {}
for name, q in codes.items():
    r = score_suite(q, factors, factor_names=("a", "b", "c"), seed=0)
    r["mig"] = mig(q, factors, num_samples=min(2000, len(u)), progress=False).score
    scores[name] = r
    print(f"{name} ({len(u)} items; MIG {r['mig']:.3f}; "
          f"{sum(r['timings'].values()):.0f} s for the suite)")
    print("\n".join(format_suite(r, indent="  ")))"""),
    ("md", r"""What the metrics' papers say, and what the cell below checks:

- the identity code scores near the top on every metric but SAP: the protocol's SAP
  reads each factor from one dimension with a linear SVM, which cannot carve 10 or 12
  classes out of a line, so a perfect code scores low on factors of many values (its
  ranking still holds: the identity code beats the others);
- rotating $a$ and $b$ into each other lowers what measures arrangement (DCI
  disentanglement and completeness, modularity, the BetaVAE and FactorVAE scores)
  but not what measures information (DCI informativeness, explicitness);
- duplicating $a$ costs DCI completeness (the trees split $a$'s importance between
  two dimensions) and MIG (two latents know $a$ equally), while modularity and the
  FactorVAE score, which ask only that each dimension serve one factor, keep it;
- noise scores at each metric's chance level (BetaVAE and FactorVAE about 1/3 with
  three factors, explicitness 1/2)."""),
    ("code", r"""s = {name: r for name, r in scores.items()}
ident, rotated, dup, noise = (s[k] for k in codes)
score = lambda r, m, part="score": r[m][part]
for m, part in [("beta_vae", "score"), ("factor_vae", "score"), ("dci", "score"),
                ("dci", "completeness"), ("modularity", "score")]:
    assert score(ident, m, part) > 0.95, (m, part)
    assert score(rotated, m, part) < score(ident, m, part) - 0.1, (m, part)
for m, part in [("dci", "informativeness"), ("modularity", "explicitness")]:
    assert abs(score(rotated, m, part) - score(ident, m, part)) < 0.05, (m, part)
assert score(dup, "dci", "completeness") < score(ident, "dci", "completeness") - 0.1
assert dup["mig"] < ident["mig"] - 0.2
assert score(dup, "modularity") > 0.95 and score(dup, "factor_vae") > 0.95
assert score(ident, "sap") > max(score(r, "sap") for r in (rotated, dup, noise))
assert abs(score(noise, "beta_vae") - 1 / 3) < 0.1 and abs(score(noise, "modularity", "explicitness") - 0.5) < 0.05
print("every metric behaves as its paper says it should")"""),
    ("md", r"""## Codes kept in a file, scored again without the model

`pyro-tcvae evaluate RUN --metrics all` runs the suite on a fixed random subset of
15,000 items and writes their posterior means and scales (float16), indices and factor
classes to `RUN/eval_codes.npz`; a study with `metrics = "all"` in its `[evaluate]`
table keeps that file beside each record, and `pyro-tcvae report RESULTS --rescore`
scores the suite again from those files alone. The evaluation scores the means *as
stored*, so the file gives back the same numbers (float16 moves a fourth decimal here
and there against the float32 codes of the table above: modularity of the rotated
code, for one):"""),
    ("code", r"""kept = subset_codes(codes["rotated (a, b mixed)"], factors, ("a", "b", "c"),
                    items=len(u), seed=0)
path = os.path.join(tempfile.mkdtemp(), "eval_codes.npz")
save_codes(path, kept)
first = score_codes(kept, ["sap", "modularity"])
again = score_codes(load_codes(path), ["sap", "modularity"])
for m in ("sap", "modularity"):
    assert first[m] == again[m]
print(f"{os.path.getsize(path) / 1000:.0f} kB on disk; the same numbers from the file:")
print("\n".join(format_suite(again, indent="  ")))"""),
]


TRAIN_HELPER = r"""def train(vae=None, model=None, guide=None, data=None, beta=6.0, alpha=1.0, gamma=1.0,
          steps=None, seed=0):
    # a short run with an ordinary SVI loop (beta-TCVAE; alpha = beta = gamma: beta-VAE);
    # returns the last step's terms
    pyro.set_rng_seed(seed)
    model, guide = model or vae.model, guide or vae.guide
    elbo = TraceTC_ELBO(alpha=alpha, beta=beta, gamma=gamma)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 2e-3}), loss=elbo)
    steps, step = steps or STEPS, 0
    while step < steps:
        for x, idx in Batches(data, 256, seed=seed + step, drop_last=True):
            svi.step(x, idx)
            step += 1
            if step == steps:
                break
    return elbo.last_terms"""

EXTENDING = [
    ("md", r"""# Extending: new priors and latent families

`TraceTC_ELBO` works with whatever the Pyro programs sample: any reparameterized
posterior that factorizes per dimension, and any prior, also one that does not factorize.
This notebook writes two priors of its own (a learnable mixture of Gaussians, in the
spirit of the VampPrior, as a `Prior` subclass; a hierarchical prior with a global latent,
as plain Pyro code), trains with Laplace and StudentT posteriors and the built-in flow
prior, and reads each run's decomposition and MIG."""),
    ("code", r"""import os

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI
from torch import nn

from pyro_tcvae import TraceTC_ELBO, mig
from pyro_tcvae.data import Batches, SmallSprites
from pyro_tcvae.metrics import elbo_decomposition
from pyro_tcvae.models import VAE
from pyro_tcvae.models.priors import DistributionPrior, Prior

QUICK = os.environ.get("PYRO_TCVAE_QUICK") == "1"
STEPS = 30 if QUICK else 1000
S = 1000 if QUICK else 4608
data = SmallSprites()
"""),
    ("code", TRAIN_HELPER),
    ("md", r"""## A mixture-of-Gaussians prior

$p(z) = \sum_k \pi_k\, \mathcal N(z; \mu_k, \sigma_k^2 I)$ with learnable means, scales and
weights. It is a `Prior` (an `nn.Module`, so it trains with the VAE) whose
`distribution(like)` returns a distribution with event shape `[D]`. It does not factorize
over dimensions, so the third term, $\mathbb E[\sum_d \log q(z_d) - \log p(z)]$, is no
longer a sum of per-dimension KLs; the three terms still add up to the KL term."""),
    ("code", r"""class MixturePrior(Prior):
    def __init__(self, z_dim, components=8):
        super().__init__(z_dim)
        self.means = nn.Parameter(torch.randn(components, z_dim))
        self.log_scales = nn.Parameter(torch.zeros(components, z_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def distribution(self, like):
        comps = dist.Normal(self.means, self.log_scales.exp()).to_event(1)
        return dist.MixtureSameFamily(dist.Categorical(logits=self.logits), comps)

results = {}
vae = VAE(x_shape=(32, 32), z_dim=6, arch="small_mlp", prior=MixturePrior(6),
          dataset_size=len(data), name="mixture")
t = train(vae, data=data)
assert abs(t["mi"] + t["tc"] + t["dwkl"] - t["kl"]) < 1e-3   # the decomposition holds
results["mixture-of-Gaussians prior"] = vae"""),
    ("md", r"""## A hierarchical prior with a global latent, in plain Pyro

A global scale $s \sim \mathrm{LogNormal}(0, 0.5)$ shared by every datapoint, and
$z_n \mid s \sim \mathcal N(0, s^2 I)$. The global latent sits outside the data plate: the
ELBO gives it the plain KL (reported as `kl_global`) and decomposes the local one. The
model and guide are ordinary Pyro programs that reuse the VAE's networks."""),
    ("code", r"""nets = VAE(x_shape=(32, 32), z_dim=6, arch="small_mlp", dataset_size=len(data),
           name="hierarchical")

def model(x, idx):
    pyro.module("hierarchical_nets", nets)
    s = pyro.sample("s", dist.LogNormal(0.0, 0.5))
    with pyro.plate("data", size=len(data), subsample=idx):
        z = pyro.sample("z", dist.Normal(x.new_zeros(6), s).to_event(1))
        pyro.sample("x", nets.likelihood.distribution(nets.decoder(z), nets.x_shape), obs=x)

def guide(x, idx):
    pyro.module("hierarchical_nets", nets)
    loc = pyro.param("s_loc", torch.tensor(0.0))
    scale = pyro.param("s_scale", torch.tensor(0.1), constraint=dist.constraints.positive)
    pyro.sample("s", dist.LogNormal(loc, scale))
    with pyro.plate("data", size=len(data), subsample=idx):
        pyro.sample("z", nets.encode(x).to_event(1))

t = train(model=model, guide=guide, data=data)
s_median = pyro.param("s_loc").exp().item()
print(f"global KL {t['kl_global']:.4f} nats per datapoint; q(s) median {s_median:.2f}")
# the metrics below read the prior from the model: plug in q(s)'s median
nets.prior = DistributionPrior(6, dist.Normal(torch.zeros(6), s_median))
results["hierarchical prior (global scale)"] = nets"""),
    ("md", r"""## Other posterior families and the flow prior

`latent="laplace"` and `latent="studentt"` change $q(z\mid x)$; the aggregate posterior
then is a mixture of those, and the ELBO takes its generic path. `prior="flow"` is a
learnable monotone spline per dimension: a factorized prior with a shape of its own."""),
    ("code", r"""for name, kw in (("Normal posterior, N(0, I) prior", {}),
                 ("Laplace posterior", {"latent": "laplace"}),
                 ("StudentT posterior", {"latent": "studentt"}),
                 ("flow prior", {"prior": "flow"})):
    vae = VAE(x_shape=(32, 32), z_dim=6, arch="small_mlp", dataset_size=len(data),
              name=name.split()[0].lower() + "_" + str(len(results)), **kw)
    train(vae, data=data)
    results[name] = vae"""),
    ("md", r"""## Their decompositions and MIG

The full-dataset terms (every item's posterior in the aggregate) and the paper's MIG of
each run. One seed and a short run each: the point is that every family and prior goes
through the same ELBO and the same metric, not which one wins."""),
    ("code", r"""print(f"{'run':36s} {'ELBO':>8s} {'MI':>6s} {'TC':>6s} {'dwKL':>6s} {'MIG':>6s}")
for name, vae in results.items():
    terms = elbo_decomposition(vae, data, num_samples=S, progress=False)
    m = mig(model=vae, data=data, num_samples=S, progress=False)
    assert abs(terms["mi"] + terms["tc"] + terms["dwkl"] - terms["kl"]) < 1e-3
    print(f"{name:36s} {terms['elbo']:8.2f} {terms['mi']:6.2f} {terms['tc']:6.2f} "
          f"{terms['dwkl']:6.2f} {m.score:6.3f}")
print("every run: MI + TC + dwKL = KL, and an MIG from the same estimator")"""),
]

DEPENDENT = [
    ("md", r"""# Dependent factors: the sampling-bias experiment in small

Disentanglement objectives assume the factors vary independently. What if the data does
not sample them that way? Here the sprites are drawn with their x and y positions tied
(`data.correlated("posX", "posY", strength)`: weight $\exp(-S(u_x - u_y)^2)$, so sprites
sit near the diagonal), and beta-VAE and beta-TCVAE train on the biased set. MIG is then
read on the biased set and on the uniform one. A TC penalty pushes the code towards
independent latents, but the biased data's true factors are *not* independent: this is
where Chen et al. (Sec. 6) expect the TC penalty to pay off less, and where the study
`studies/dsprites_dependent.toml` measures it at full size."""),
    ("code", r"""import os

import pyro
import torch
from pyro.infer import SVI

from pyro_tcvae import TraceTC_ELBO, mig
from pyro_tcvae.data import Batches, SmallSprites
from pyro_tcvae.models import VAE

QUICK = os.environ.get("PYRO_TCVAE_QUICK") == "1"
STEPS = 30 if QUICK else 1500
S = 1000 if QUICK else 4608
uniform = SmallSprites()"""),
    ("code", TRAIN_HELPER),
    ("code", r"""biased = uniform.correlated("posX", "posY", strength=30.0, seed=0)
fx, fy = (biased.factors[:, uniform.factor_index(k)].float() for k in ("posX", "posY"))
r = torch.corrcoef(torch.stack([fx, fy]))[0, 1].item()
print(f"correlation of posX and posY: {r:.2f} in the biased set, "
      f"{torch.corrcoef(uniform.factors[:, -2:].T.float())[0, 1].item():.2f} in the uniform set")
assert r > 0.5"""),
    ("code", r"""rows = []
for objective, beta in (("beta-VAE", 6.0), ("beta-TCVAE", 6.0)):
    for name, train_set in (("uniform", uniform), ("biased", biased)):
        vae = VAE(x_shape=(32, 32), z_dim=6, arch="small_mlp", dataset_size=len(train_set),
                  name=f"{objective}_{name}")
        others = beta if objective == "beta-VAE" else 1.0  # beta-VAE weighs the whole KL
        train(vae, data=train_set, beta=beta, alpha=others, gamma=others)
        on_train = mig(model=vae, data=train_set, num_samples=S, progress=False).score
        on_uniform = mig(model=vae, data=uniform, num_samples=S, progress=False).score
        rows.append((objective, name, on_train, on_uniform))
print(f"{'objective':12s} {'trained on':10s} {'MIG (its set)':>14s} {'MIG (uniform)':>14s}")
for row in rows:
    print(f"{row[0]:12s} {row[1]:10s} {row[2]:14.3f} {row[3]:14.3f}")"""),
    ("md", r"""One seed and a short run per cell, on a small set: read the table as a demonstration
of the experiment, not as its result. The study repeats it on dSprites at three strengths
with three seeds and reports the differences with intervals
([docs/results.md](../docs/results.md))."""),
]

OWN_DATA = [
    ("md", r"""# Your own data

Everything in the library (training, the metrics, the figures) reads a dataset through
the `GroundTruthData` interface: `factor_names`, `factor_sizes`, `factor_values`, the
`factors` of every item, `image_shape`, and `_observations(indices)`. This notebook wraps
a small dataset of its own, a set of 16x16 images with a horizontal and a vertical bar
whose positions are the factors, and a brightness that is a nuisance, then trains,
evaluates and plots on it."""),
    ("code", r"""import os

import matplotlib.pyplot as plt
import pyro
import torch
from pyro.infer import SVI

from pyro_tcvae import TraceTC_ELBO, mig
from pyro_tcvae.data import Batches, GroundTruthData, grid_factors
from pyro_tcvae.metrics import elbo_decomposition
from pyro_tcvae.models import VAE
from pyro_tcvae.viz import plot_latents_vs_factors, plot_traversals

QUICK = os.environ.get("PYRO_TCVAE_QUICK") == "1"
STEPS = 30 if QUICK else 2000"""),
    ("code", r"""class Bars(GroundTruthData):
    # 16x16 images: a horizontal bar at row r and a vertical bar at column c
    factor_names = ("row", "column")
    factor_sizes = (12, 12)
    image_shape = (16, 16)

    def __init__(self):
        self.factor_values = [torch.arange(12, dtype=torch.float32) for _ in range(2)]
        self.factors = grid_factors(self.factor_sizes)        # [144, 2], row-major
        self.factors = self.factors.repeat(20, 1)             # 20 items per combination
        g = torch.Generator().manual_seed(0)
        self.brightness = 0.6 + 0.4 * torch.rand(len(self.factors), generator=g)

    def _observations(self, indices):
        f = self.factors[indices]
        img = torch.zeros(len(indices), 16, 16)
        n = torch.arange(len(indices))
        img[n, f[:, 0] + 2, :] = 1.0                          # the horizontal bar
        img[n, :, f[:, 1] + 2] = 1.0                          # the vertical bar
        return img * self.brightness[indices, None, None]     # values in [0, 1]

data = Bars()
print(len(data), data.describe())
fig, ax = plt.subplots(1, 6, figsize=(8, 1.6))
for a, i in zip(ax, torch.randint(0, len(data), (6,))):
    a.imshow(data.images(i[None])[0], cmap="gray", vmin=0, vmax=1); a.axis("off")"""),
    ("md", r"""The images are grey levels in [0, 1], not binary, so the likelihood is the continuous
Bernoulli (a proper density on [0, 1]). The small MLP fits 16x16 inputs."""),
    ("code", r"""pyro.set_rng_seed(0)
vae = VAE(x_shape=(16, 16), z_dim=4, arch="small_mlp", likelihood="continuous_bernoulli",
          dataset_size=len(data), name="bars")
elbo = TraceTC_ELBO(beta=4.0)
svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 2e-3}), loss=elbo)
step = 0
while step < STEPS:
    for x, idx in Batches(data, 256, seed=step, drop_last=True):
        svi.step(x, idx); step += 1
        if step == STEPS:
            break
terms = elbo_decomposition(vae, data, progress=False)
result = mig(model=vae, data=data, progress=False)
print({k: round(terms[k], 3) for k in ("elbo", "mi", "tc", "dwkl")})
print(result)"""),
    ("code", r"""x = data.images(torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:500])
plot_traversals(vae, x);"""),
    ("code", r"""plot_latents_vs_factors(vae, data);"""),
    ("md", r"""The same dataset object goes to `pyro_tcvae.runs` too (e.g. `train(config, folder,
data=Bars())`), so checkpoints, the MIG monitor and the figures work on it unchanged."""),
]


QUIET = ('import warnings\n'
         'warnings.filterwarnings("ignore", message="IProgress not found")  # no widgets\n')


def notebook(cells):
    first = next(i for i, (kind, _) in enumerate(cells) if kind == "code")
    return notebook_of([(k, QUIET + src if i == first else src)
                        for i, (k, src) in enumerate(cells)])


NOTEBOOKS = {"01_quickstart.ipynb": QUICKSTART,
             "02_elbo_decomposition.ipynb": DECOMPOSITION, "03_mig.ipynb": MIG,
             "04_extending.ipynb": EXTENDING, "05_dependent_factors.ipynb": DEPENDENT,
             "06_your_own_data.ipynb": OWN_DATA, "07_metric_suite.ipynb": SUITE}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-run", action="store_true")
    p.add_argument("names", nargs="*", help="only these notebooks (default: all)")
    a = p.parse_args()
    for name, cells in NOTEBOOKS.items():
        if a.names and name not in a.names:
            continue
        nb = notebook(cells)
        if not a.no_run:
            import nbclient

            t0 = time.time()
            nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                                    resources={"metadata": {"path": str(HERE)}}).execute()
            print(f"{name}: executed in {time.time() - t0:.0f} s")
        nbf.write(nb, HERE / name)


if __name__ == "__main__":
    main()
