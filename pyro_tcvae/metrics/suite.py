"""The field's metric suite by name, as the evaluation pipeline runs it, and the codes
file that lets it run again without the model.

``score_suite(codes, factors, metrics=...)`` runs any of

    beta_vae      the BetaVAE score (Higgins et al. 2017)          :func:`~.beta_vae_score.beta_vae_score`
    factor_vae    the FactorVAE score (Kim and Mnih 2018)          :func:`~.factor_vae_score.factor_vae_score`
    dci           DCI disentanglement, completeness, informativeness :func:`~.dci.dci`
    sap           SAP (Kumar et al. 2018)                          :func:`~.sap.sap`
    modularity    modularity and explicitness (Ridgeway and Mozer 2018) :func:`~.modularity.modularity`

on point codes [N, D] (the posterior means) and factor classes [N, K], and returns
``{name: result.as_dict()}`` with ``timings`` (seconds per metric).  MIG is not in
the suite: the evaluation always computes it (with MIG-sup and the ELBO
decomposition) from the whole posterior, not from point codes.

A codes file (``.npz``, :func:`save_codes` / :func:`load_codes`) keeps what the suite
needs: the evaluated subset's posterior means and scales (float16), the items'
indices in the dataset, their factor classes and names, and the seed.  The evaluation
scores the means *as stored* (rounded to float16), so :func:`score_codes` on the
file gives the same numbers again, with no model and no dataset.
"""

import inspect
import time

import numpy as np
import torch

from .beta_vae_score import beta_vae_score
from .dci import dci
from .factor_vae_score import factor_vae_score
from .modularity import modularity
from .posterior import index_posterior, posterior_location, strip_independent
from .sap import sap

#: The suite's metrics, in the order they are run and shown.
SUITE = ("beta_vae", "factor_vae", "dci", "sap", "modularity")
ALL = SUITE
FUNCTIONS = {"beta_vae": beta_vae_score, "factor_vae": factor_vae_score, "dci": dci,
             "sap": sap, "modularity": modularity}
#: What ``pyro-tcvae evaluate --metrics`` takes: ``mig`` (always computed) and the suite.
METRICS = ("mig",) + SUITE
#: Printable names.
LABELS = {"beta_vae": "BetaVAE score", "factor_vae": "FactorVAE score",
          "dci": "DCI disentanglement", "sap": "SAP", "modularity": "modularity"}
#: The evaluation's settings where they depart from each metric function's defaults
#: (the protocol's).  None today: DCI keeps the protocol's 10,000 training items, as
#: no smaller size agreed with it within 0.02 on dSprites (see :func:`~.dci.dci`).
PIPELINE = {}
#: Items of the evaluation's fixed subset that the suite scores (the protocol's 10,000
#: training + 5,000 test items fit in it).
SUITE_ITEMS = 15_000


def parse_metrics(spec):
    """The suite metrics a ``--metrics`` value asks for.

    Parameters
    ----------
    spec : None, str or sequence of str
        ``"mig"`` (the default, None: no suite metric), ``"all"`` (every one), or names
        separated by commas (``"mig,dci,sap"``) or given as a list.

    Returns
    -------
    tuple of suite names, in :data:`SUITE`'s order.  ValueError naming the choices for
    an unknown name.
    """
    if spec is None:
        return ()
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in names if n]
    if "all" in names:
        return SUITE
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}: choose from "
                         f"{', '.join(METRICS)} (comma-separated), or all")
    return tuple(n for n in SUITE if n in names)


def _check_names(metrics):
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in metrics if m not in FUNCTIONS]
    if unknown:
        raise ValueError(f"unknown suite metric {unknown[0]!r}: the suite's metrics are "
                         f"{', '.join(SUITE)}")
    return metrics


def _settings(name, n, options):
    """The keyword arguments of one metric on n items: the pipeline's settings, the
    caller's options, and, for the metrics that need distinct training and test
    items, both sizes scaled down in proportion when n is smaller than their sum."""
    kw = {**PIPELINE.get(name, {}), **(options or {}).get(name, {})}
    params = inspect.signature(FUNCTIONS[name]).parameters
    if "num_test" in params:
        train = kw.get("num_train", params["num_train"].default)
        test = kw.get("num_test", params["num_test"].default)
        if n < train + test:
            train_n = n * train // (train + test)
            kw["num_train"], kw["num_test"] = train_n, n - train_n
    return kw


def score_suite(codes, factors, *, factor_sizes=None, factor_names=None, metrics=ALL,
                seed=0, options=None, errors="raise"):
    """Run metrics of the suite on one code.

    Parameters
    ----------
    codes : Tensor or ndarray [N, D], or a Distribution with batch shape [N, D]
        Point codes (a distribution stands for its location: the mean representation).
    factors : LongTensor or int ndarray [N, K]
        Factor classes of the same items.
    factor_sizes, factor_names : optional
        As every metric takes them.
    metrics : sequence of str
        Names from :data:`SUITE` (default all); ValueError for another name.
    seed : int
        Every metric's seed.
    options : dict, optional
        ``{name: {keyword: value}}`` for the metric functions, over :data:`PIPELINE`'s
        settings (e.g. ``{"dci": {"num_train": 10_000, "n_jobs": 1}}``).
    errors : "raise" or "record"
        What a metric's ValueError does (e.g. a factor with one value in its training
        items): raise it, or record ``{"error": message}`` as that metric's result.

    Returns
    -------
    dict
        ``{name: result.as_dict()}`` for each metric (score, stderr and its parts),
        and ``timings``: ``{name: seconds}``.

    Notes
    -----
    DCI, SAP and modularity draw distinct training and test items: the protocol's
    10,000 + 5,000 (DCI: :data:`PIPELINE`'s); on fewer items both are scaled down in
    proportion (the sizes used are in each result).  The BetaVAE and FactorVAE scores
    draw their batches with replacement and need only ``batch_size`` (64) items.
    """
    metrics = _check_names(metrics)
    if errors not in ("raise", "record"):
        raise ValueError(f"errors must be 'raise' or 'record', got {errors!r}")
    out, timings = {}, {}
    n = len(posterior_location(codes) if isinstance(codes, torch.distributions.Distribution)
            else codes)
    for name in metrics:
        kw = _settings(name, n, options)
        t0 = time.perf_counter()
        try:
            result = FUNCTIONS[name](codes, factors, factor_sizes=factor_sizes,
                                     factor_names=factor_names, seed=seed, **kw)
            out[name] = result.as_dict()
        except ValueError as e:
            if errors == "raise":
                raise
            out[name] = {"error": str(e)}
        timings[name] = time.perf_counter() - t0
    out["timings"] = timings
    return out


def format_suite(suite, indent=""):
    """Printable lines of a suite's results: one per metric, score +- stderr (and the
    parts each reports beside its score), each name ``indent``-ed in 28 columns."""
    lines = []
    for name in SUITE:
        r = suite.get(name)
        if r is None:
            continue
        label = f"{indent + LABELS[name]:28s}"
        if "error" in r:
            lines.append(f"{label} -          ({r['error']})")
            continue
        line = f"{label} {r['score']:8.4f} +- {r['stderr']:.4f}"
        if name == "dci":
            line += (f"   (completeness {r['completeness']:.4f} +- "
                     f"{r['completeness_stderr']:.4f}, informativeness "
                     f"{r['informativeness']:.4f} +- {r['informativeness_stderr']:.4f})")
        elif name == "modularity":
            line += (f"   (explicitness {r['explicitness']:.4f} +- "
                     f"{r['explicitness_stderr']:.4f})")
        lines.append(line)
    return lines


# --- the evaluation's subset and its codes file --------------------------------------
def suite_subset(n, items=SUITE_ITEMS, seed=0):
    """The evaluation's fixed random subset: ``items`` of ``n`` item positions
    (all when n is not larger), drawn with ``seed``, sorted.  LongTensor [min(n, items)]."""
    if items is None or items >= n:
        return torch.arange(n)
    if items < 1:
        raise ValueError(f"the suite's subset needs at least one item, got {items}")
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n, generator=g)[:items].sort().values


def _compact(a):
    """float16 where it holds every value (|x| <= 65504), else float32."""
    a = np.asarray(a, dtype=np.float32)
    finite = a[np.isfinite(a)]
    return a.astype(np.float16) if finite.size == 0 or np.abs(finite).max() <= 65504 else a


def suite_codes(posterior, factors, indices, factor_names, factor_sizes=None, seed=0):
    """The contents of a codes file for items of a posterior.

    Parameters
    ----------
    posterior : Distribution with batch shape [n, D]
        The items' posteriors (any family; its location is the code).
    factors : LongTensor [n, K]
    indices : LongTensor [n]
        The items' indices in the dataset.
    factor_names : sequence of K str
    factor_sizes : sequence of K int, optional
    seed : int
        The seed the suite runs with.

    Returns
    -------
    dict of ndarrays: ``loc`` [n, D] (float16), ``scale`` [n, D] (float16; the
    posterior's ``scale``, else its standard deviation; absent for a family with
    neither), ``indices`` [n], ``factors`` [n, K] (the smallest integer type),
    ``factor_names`` [K], ``factor_sizes`` [K] (when given), ``seed``.
    """
    d = strip_independent(posterior)
    out = {"loc": _compact(posterior_location(d).detach().cpu().numpy())}
    scale = getattr(d, "scale", None)
    if scale is None:
        try:
            scale = d.stddev
        except NotImplementedError:
            scale = None
    if scale is not None:
        out["scale"] = _compact(torch.as_tensor(scale).detach().cpu().numpy())
    f = np.asarray(factors.cpu().numpy() if torch.is_tensor(factors) else factors)
    out["indices"] = np.asarray(indices, dtype=np.int64).astype(
        np.int32 if len(indices) == 0 or int(np.max(indices)) < 2 ** 31 else np.int64)
    out["factors"] = f.astype(np.min_scalar_type(max(int(f.max()) if f.size else 0, 0)))
    out["factor_names"] = np.array(list(factor_names), dtype=str)
    if factor_sizes is not None:
        out["factor_sizes"] = np.asarray(factor_sizes, dtype=np.int64)
    out["seed"] = np.int64(seed)
    return out


def subset_codes(posterior, factors, factor_names, factor_sizes=None, items=SUITE_ITEMS,
                 seed=0, dataset_indices=None):
    """:func:`suite_codes` of the evaluation's fixed subset (:func:`suite_subset`) of a
    whole posterior [N, D] with its factors [N, K]; ``dataset_indices`` [N] maps the
    positions to the dataset's indices (default: the positions)."""
    n = len(factors)
    pick = suite_subset(n, items, seed)
    where = pick if dataset_indices is None else torch.as_tensor(dataset_indices)[pick]
    return suite_codes(index_posterior(posterior, pick), factors[pick], where.numpy(),
                       factor_names, factor_sizes, seed)


def save_codes(path, codes):
    """Write a codes dict (:func:`suite_codes`) as a compressed ``.npz``."""
    with open(path, "wb") as f:  # np.savez_compressed would append ".npz" to a str
        np.savez_compressed(f, **codes)


def load_codes(path):
    """A codes file as a dict of ndarrays (``factor_names`` a tuple, ``seed`` an int)."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    out["factor_names"] = tuple(str(n) for n in out["factor_names"])
    out["seed"] = int(out["seed"])
    return out


def score_codes(codes, metrics=ALL, options=None, errors="raise"):
    """:func:`score_suite` of a codes dict (:func:`suite_codes` or :func:`load_codes`):
    its means as stored, its factors, names, sizes and seed."""
    return score_suite(np.asarray(codes["loc"], dtype=np.float64), codes["factors"],
                       factor_sizes=codes.get("factor_sizes"),
                       factor_names=tuple(codes["factor_names"]), metrics=metrics,
                       seed=int(codes["seed"]), options=options, errors=errors)
