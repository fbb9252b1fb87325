"""Evaluate a run folder: MIG (both variants) and the full-dataset decomposition, and
on request the field's metric suite on a fixed subset of the items."""

import math
import time
from pathlib import Path

import torch

from ..data import View
from ..metrics import elbo_decomposition, encode_dataset, mig, mig_histogram
from ..metrics.aggregate import sampled_marginals
from ..metrics.posterior import cat_posteriors, model_device
from ..metrics.suite import (SUITE_ITEMS, format_suite, parse_metrics, save_codes, score_codes,
                             subset_codes)
from .build import load_model, make_dataset
from .folder import RunFolder, read_json, write_json
from .host import ThreadGovernor
from .parallel import Ranks


def set_aside_results(folder):
    """Rename the evaluation and figures of a run that is about to train on
    (``eval.json`` -> ``eval.stale.json``, ``eval_codes.npz`` -> ``eval_codes.stale.npz``,
    ``figures/`` -> ``figures.stale/``, replacing older stale ones), so that nothing
    beside the newer model passes for its results.  Returns the new paths."""
    import shutil

    moved = []
    for path in (folder.eval_path, codes_path_for(folder.eval_path), folder.figures):
        if not path.exists():
            continue
        stale = path.with_name(path.stem + ".stale" + path.suffix)
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
        path.rename(stale)
        moved.append(stale)
    return moved


def model_stamp(path):
    """The SHA-256 of a model file (an evaluation names the model it scored)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def codes_path_for(eval_path):
    """The codes file beside an evaluation file: ``eval.json`` -> ``eval_codes.npz``."""
    eval_path = Path(eval_path)
    return eval_path.with_name(eval_path.stem + "_codes.npz")


def evaluate(run_dir, num_samples=10_000, max_components=200_000, seed=0, data=None,
             model=None, progress=True, items=None, out=None, metrics=None,
             suite_items=SUITE_ITEMS, reuse=False):
    """Compute the metrics of a trained run and write ``run_dir/eval.json``.

    ``data`` and ``model`` (e.g. from :func:`~.training.train`'s result) are used as
    given instead of being built again.  ``items``: evaluate a fixed random subset of
    that many items (drawn with ``seed``; None: every item).  ``out``: the file to
    write instead of ``eval.json``.  ``metrics``: ``"mig"`` (default; MIG and the
    decomposition are always computed), ``"all"``, or names of the suite
    (:func:`~pyro_tcvae.metrics.suite.parse_metrics`): those run on a fixed random
    subset of ``suite_items`` of the evaluated items (drawn with ``seed``), with the
    posterior means as codes, and the subset's codes go to ``eval_codes.npz`` beside
    the file written (``<out stem>_codes.npz``).  Returns the dict written: ``mig``
    (score, stderr, gaps, MI matrix ...), ``mig_histogram``, ``decomposition`` (terms
    and standard errors), ``items`` (how many were evaluated), ``seconds``,
    ``config``, and with suite metrics ``suite`` (name -> result, ``timings``,
    ``items``); ``settings``: the model file's SHA-256 and the arguments above that
    fix the numbers.  ``reuse=True``: when the file to write already holds an
    evaluation of the same model file with the same settings, return it (with
    ``reused`` True) instead of computing it again.
    """
    metrics = parse_metrics(metrics)  # a bad name fails before any work
    folder = RunFolder(run_dir)
    path = folder.eval_path if out is None else Path(out)
    settings = {"model_sha256": model_stamp(folder.model_path)
                if folder.model_path.exists() else None,
                "items": None if not items else int(items), "num_samples": num_samples,
                "max_components": max_components, "seed": seed, "metrics": list(metrics),
                "suite_items": suite_items if metrics else None}
    if reuse and settings["model_sha256"] is not None:
        stored = read_json(path)
        if isinstance(stored, dict) and stored.get("settings") == settings:
            return {**stored, "reused": True}
    ranks = Ranks.from_env(model_device(model) if model is not None else "cpu")
    if model is None:
        vae, config = load_model(folder.path)
    else:
        vae, config = model, folder.read_config()
    data = make_dataset(config, progress) if data is None else data
    if items and items < len(data):
        g = torch.Generator().manual_seed(seed)
        data = View(data, torch.randperm(len(data), generator=g)[:items].sort().values)
    with ThreadGovernor(config.threads):  # the cores other processes leave free
        result = evaluate_model(vae, data, num_samples, max_components, seed, progress, ranks,
                                metrics=metrics, suite_items=suite_items,
                                codes_path=codes_path_for(path) if metrics else None)
    if result is None:
        return None  # rank 0 computes the metrics from the gathered posterior
    result["config"] = config.to_dict()
    result["settings"] = settings
    write_json(path, result)
    return result  # (None on the other ranks of a torch.distributed job)


def evaluate_model(vae, data, num_samples=10_000, max_components=200_000, seed=0,
                   progress=True, ranks=None, metrics=(), suite_items=SUITE_ITEMS,
                   codes_path=None):
    """The metrics of :func:`evaluate` for a model and a dataset (no run folder).

    Every item is encoded once; MIG's H(z_j) and the decomposition's q(z_d) are the
    same numbers and computed once (:func:`~pyro_tcvae.metrics.aggregate.sampled_marginals`).
    ``metrics``: suite metrics to add (names, or a ``--metrics`` string); they score
    the float16 means of a fixed subset of ``suite_items`` items, exactly as a
    codes file stores them (written to ``codes_path`` when given), so that
    ``pyro-tcvae report --rescore`` gives the same numbers from the file.
    Returns the dict :func:`evaluate` writes (without ``config``), with ``timings``:
    seconds of each part (``encode``, ``marginals``, ``mig``, ``mig_histogram``,
    ``decomposition``, ``suite``), and ``suite`` when metrics were asked for; None on
    the ranks other than 0 of a torch.distributed job.
    """
    metrics = parse_metrics(metrics)
    if metrics and not len(data.factor_names):
        raise ValueError("the metric suite needs factors of variation, and this dataset has "
                         "none: evaluate with --metrics mig")
    ranks = Ranks.from_env(model_device(vae)) if ranks is None else ranks
    timings = {}
    t0 = last = time.perf_counter()

    def lap(name):
        nonlocal last
        now = time.perf_counter()
        timings[name] = now - last
        last = now

    post = encode_sharded(vae, data, ranks, progress)  # once, for all three
    if not ranks.main:
        return None
    lap("encode")
    names = data.factor_names
    paper, terms = mig_and_decomposition(vae, data, post, num_samples, max_components, seed,
                                         progress, lap)
    hist = None  # a dataset without factors (a folder of images) has no MIG
    if len(names):
        hist = mig_histogram(posterior=post, factors=data.factors, factor_names=names,
                             exclude=getattr(data, "mig_exclude", ()), seed=seed)
        lap("mig_histogram")
    suite = None
    if metrics:
        codes = subset_codes(post, data.factors, names, data.factor_sizes, items=suite_items,
                             seed=seed, dataset_indices=dataset_indices(data))
        suite = score_codes(codes, metrics, errors="record")
        suite["items"] = len(codes["loc"])
        if codes_path is not None:
            save_codes(codes_path, codes)
        lap("suite")
    return {
        "mig": None if paper is None else paper.as_dict(),
        "mig_histogram": None if hist is None else hist.as_dict(),
        "decomposition": terms,
        "items": len(data),
        "seconds": time.perf_counter() - t0,
        "timings": timings,
        **({"suite": suite} if suite is not None else {}),
    }


def mig_and_decomposition(vae, data, post, num_samples, max_components, seed, progress=True,
                          lap=None):
    """MIG (None for a dataset without factors) and the ELBO decomposition of ``data``
    from its encoded posterior ``post`` (batch shape [N, D]).

    H(z_j) of MIG and q(z_d) of the decomposition are the same samples and numbers,
    computed once (:func:`~pyro_tcvae.metrics.aggregate.sampled_marginals`); the
    evaluation and the MIG monitor both score a model this way.  ``lap(name)``, when
    given, is called after each part ("marginals", "mig", "decomposition").

    Returns
    -------
    (MIGResult or None, dict of :func:`~pyro_tcvae.metrics.elbo_decomposition`)
    """
    lap = lap or (lambda name: None)
    shared = sampled_marginals(post, num_samples, max_components, seed)
    lap("marginals")
    paper = None
    if len(data.factor_names):
        paper = mig(post, data.factors, factor_names=data.factor_names,
                    exclude=getattr(data, "mig_exclude", ()), num_samples=num_samples,
                    max_components=max_components, seed=seed, progress=progress,
                    marginals=shared)
        lap("mig")
    terms = elbo_decomposition(vae, data, num_samples=num_samples,
                               max_components=max_components, seed=seed,
                               progress=progress, posterior=post, marginals=shared)
    lap("decomposition")
    return paper, terms


def dataset_indices(data):
    """Each item's index in the dataset under any :class:`~pyro_tcvae.data.View`
    (e.g. an evaluation subset or a resampled set) [len(data)]."""
    idx = torch.arange(len(data))
    while isinstance(data, View):
        idx = data.parent_indices[idx]
        data = data.parent
    return idx


def encode_sharded(vae, data, ranks, progress=True, batch_size=1024):
    """The posterior of every item, the encoding shared out over the ranks of a
    torch.distributed job in whole batches (so each batch is the one a single process
    encodes, and the numbers are the same); every rank gets the whole posterior."""
    if not ranks.active:
        return encode_dataset(vae, data, batch_size=batch_size, progress=progress)
    batches = math.ceil(len(data) / batch_size)
    per_rank = math.ceil(batches / ranks.world)
    lo = min(len(data), ranks.rank * per_rank * batch_size)
    hi = min(len(data), (ranks.rank + 1) * per_rank * batch_size)
    mine = encode_dataset(vae, data, indices=torch.arange(lo, hi), batch_size=batch_size,
                          progress=progress and ranks.main) if hi > lo else None
    return cat_posteriors([p for p in ranks.gather(mine) if p is not None])


def format_eval(result):
    """A printable table of an evaluation: full-dataset figures, with the factors
    that MIG left out named."""
    m, h, d = result["mig"], result["mig_histogram"], result["decomposition"]
    err = d["stderr"]
    if m is None:
        lines = ["MIG: none (the dataset has no factors of variation)"]
    else:
        left_out = [n for n in m["factor_names"] if n not in m["gaps"]]
        note = f"; left out: {', '.join(left_out)}" if left_out else ""
        lines = [
            f"{'MIG (paper estimator)':28s} {m['score']:8.4f} +- {m['stderr']:.4f}   "
            f"(factors: {', '.join(m['gaps'])}{note})",
            f"{'MIG (histogram, 20 bins)':28s} {h['score']:8.4f} +- {h['stderr']:.4f}",
        ]
        if m.get("sup") is not None:  # not in an eval.json written before MIG-sup was
            nk, nd = len(m["gaps"]), len(m["mi"][0])  # a latent codes one factor at best
            lines.append(f"{'MIG-sup (per latent)':28s} {m['sup']:8.4f} +- "
                         f"{m['sup_stderr']:.4f}   (a perfect code: {min(nk, nd)} / {nd})")
        lines += [f"{'  gap ' + k:28s} {v:8.4f}" for k, v in m["gaps"].items()]
    lines.append("full-dataset terms (nats per item):")
    for k in ("elbo", "log_likelihood", "kl", "mi", "tc", "dwkl"):
        lines.append(f"{'  ' + k:28s} {d[k]:8.3f} +- {err[k]:.3f}")
    suite = result.get("suite")
    if suite:
        lines.append(f"metric suite ({suite['items']:,} items, posterior means):")
        lines += format_suite(suite, indent="  ")
    return "\n".join(lines)
