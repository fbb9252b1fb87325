"""Evaluate a run folder: MIG (both variants) and the full-dataset decomposition."""

import time

import torch

from ..data import View
from ..metrics import elbo_decomposition, encode_dataset, mig, mig_histogram
from .build import load_model, make_dataset
from .folder import RunFolder, write_json
from .host import ThreadGovernor


def evaluate(run_dir, num_samples=10_000, max_components=200_000, seed=0, data=None,
             model=None, progress=True, items=None, out=None):
    """Compute the metrics of a trained run and write ``run_dir/eval.json``.

    ``data`` and ``model`` (e.g. from :func:`~.training.train`'s result) are used as
    given instead of being built again.  ``items``: evaluate a fixed random subset of
    that many items (drawn with ``seed``; None: every item).  ``out``: the file to
    write instead of ``eval.json``.  Returns the dict written: ``mig`` (score, stderr,
    gaps, MI matrix ...), ``mig_histogram``, ``decomposition`` (terms and standard
    errors), ``items`` (how many were evaluated), ``seconds``, ``config``.
    """
    folder = RunFolder(run_dir)
    if model is None:
        vae, config = load_model(folder.path)
    else:
        vae, config = model, folder.read_config()
    data = make_dataset(config, progress) if data is None else data
    if items is not None and items < len(data):
        g = torch.Generator().manual_seed(seed)
        data = View(data, torch.randperm(len(data), generator=g)[:items].sort().values)
    t0 = time.perf_counter()
    with ThreadGovernor(config.threads):  # the cores other processes leave free
        post = encode_dataset(vae, data, progress=progress)  # once, for all three
        names, exclude = data.factor_names, getattr(data, "mig_exclude", ())
        paper = hist = None  # a dataset without factors (a folder of images) has no MIG
        if len(names):
            paper = mig(post, data.factors, factor_names=names, exclude=exclude,
                        num_samples=num_samples, max_components=max_components, seed=seed,
                        progress=progress)
            hist = mig_histogram(posterior=post, factors=data.factors, factor_names=names,
                                 exclude=exclude, seed=seed)
        terms = elbo_decomposition(vae, data, num_samples=num_samples,
                                   max_components=max_components, seed=seed,
                                   progress=progress, posterior=post)
    result = {
        "mig": None if paper is None else paper.as_dict(),
        "mig_histogram": None if hist is None else hist.as_dict(),
        "decomposition": terms,
        "items": len(data),
        "seconds": time.perf_counter() - t0,
        "config": config.to_dict(),
    }
    write_json(folder.eval_path if out is None else out, result)
    return result


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
        lines += [f"{'  gap ' + k:28s} {v:8.4f}" for k, v in m["gaps"].items()]
    lines.append("full-dataset terms (nats per item):")
    for k in ("elbo", "log_likelihood", "kl", "mi", "tc", "dwkl"):
        lines.append(f"{'  ' + k:28s} {d[k]:8.3f} +- {err[k]:.3f}")
    return "\n".join(lines)
