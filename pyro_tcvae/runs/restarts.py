"""Restarts: train several seeds briefly, keep the one with the lowest total correlation.

On dSprites the fast recipe ends either with position disentangled or with a rotated
code at the same ELBO, the kind settled within the first few hundred steps, and the
full-dataset total correlation (which needs no labels) is the lower for the
disentangled kind (docs/results.md, "The fast recipe across seeds").  With
``restarts = K`` a run trains K candidates, seeds ``K * seed + i`` (i < K), for
``restart_steps`` each in ``<run>/candidates/seed<N>`` (ordinary run folders), estimates
each one's TC on a fixed random subset of ``restart_items`` items (drawn with ``seed``),
writes the scores and the choice to ``<run>/restarts.json``, and trains the candidate
with the lowest TC on to ``steps`` in its own folder, whose model, metrics and MIG
readings are then copied into the run folder.  Every stage resumes: finished candidates
are not trained again, and the choice, once written, is not made again.

The candidates' MIG (when the dataset has factors) is written beside their TC for the
record; the choice never reads it.  Measured on dSprites with the fast recipe
(``studies/recipe_seeds.toml``): after 500 steps the TC did not yet rank the codes
(Spearman -0.03 against the candidates' MIG over 16), so 4 candidates of 500 steps
gave 1 seed of 4 at MIG >= 0.3, as without restarts; the TC at the end of training
does rank them.
"""

import dataclasses
import shutil
from pathlib import Path

from .build import check_fits, make_dataset
from .config import RESUMABLE, RunError
from .evaluate import evaluate
from .folder import RunFolder, atomic_write, read_checkpoint, read_json, write_json
from .parallel import Ranks

PLAN = "restarts.json"


def candidate_seeds(seed, k):
    """The seeds of a run's ``k`` candidates: ``k * seed + i``, disjoint across seeds."""
    return [k * seed + i for i in range(k)]


def choose(candidates):
    """Index of the candidate with the lowest total correlation (the first on a tie).

    ``candidates``: dicts with a ``tc`` (nats) each."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    return min(range(len(candidates)), key=lambda i: (candidates[i]["tc"], i))


def candidate_config(config, seed):
    """A candidate's configuration: the run's, with its own seed and the short length."""
    return dataclasses.replace(config, seed=seed, steps=config.restart_steps, epochs=None,
                               restarts=0, mig_every="0", mig_at="")


def read_plan(run_dir):
    """``restarts.json`` of a run folder as a dict, or None when the choice is not made
    (or the file is damaged: the candidates are then scored again)."""
    return read_json(Path(run_dir) / PLAN)


def train_restarts(config, run_dir, train_one, resume=False, progress=True, data=None,
                   echo=print):
    """Train a run with restarts (see the module's doc); ``train_one`` trains one run
    folder (:func:`~.training.train` without restarts).  Returns what ``train_one``
    returns for the chosen candidate's full run, with ``elapsed`` the training time of
    every candidate together and ``restarts`` the plan."""
    folder = RunFolder(run_dir)
    if Ranks.from_env(config.device).active:
        raise RunError("restarts train their candidates in one process: drop --nproc (or "
                       "--restarts)")
    folder.check_writable(new_run=not resume)
    data = make_dataset(config, progress) if data is None else data
    check_fits(config, data)
    per_epoch = config.steps_per_epoch(len(data) // config.batch_size)
    if config.restart_steps >= config.total_steps(per_epoch):
        raise RunError(f"restart_steps ({config.restart_steps}) must be fewer than the run's "
                       f"{config.total_steps(per_epoch)} steps")
    with folder.lock():
        if not resume and folder.holds_run():
            raise RunError(f"{folder} already holds a run: pass --resume to continue it")
        if resume and folder.config_path.is_file():
            _check_same(folder.read_config(), config, folder)
        folder.write_config(config)
        plan = read_plan(folder.path)
        if plan is None:
            plan = _score_candidates(config, folder, train_one, progress, data, echo)
            if plan is None:
                return {"interrupted": True, "step": 0, "steps": config.steps,
                        "elapsed": None, "terms": None, "run_dir": str(folder),
                        "model": None, "data": data}
        chosen = plan["candidates"][plan["chosen"]]
        path = folder.path / "candidates" / f"seed{chosen['seed']}"
        echo(f"restarts: candidate seed {chosen['seed']} has the lowest TC "
             f"({chosen['tc']:.3f} nats); training it on")
        full = dataclasses.replace(config, seed=chosen["seed"], restarts=0)
        summary = train_one(full, path, resume=True, progress=progress, data=data, echo=echo)
        if summary["interrupted"]:
            return summary
        others = sum(c["train_seconds"] or 0.0 for i, c in enumerate(plan["candidates"])
                     if i != plan["chosen"])
        total = others + (summary["elapsed"] or 0.0)
        write_json(folder.path / PLAN, {**plan, "train_seconds": total})
        chosen_folder = RunFolder(path)
        for src, dst in ((chosen_folder.metrics.path, folder.metrics.path),
                         (chosen_folder.mig_log.path, folder.mig_log.path),
                         (chosen_folder.model_path, folder.model_path)):  # the model last
            if src.is_file():
                _copy(src, dst)
    return {**summary, "elapsed": total, "run_dir": str(folder), "restarts": plan}


def _check_same(saved, config, folder):
    """Refuse to resume a run with restarts under options that change its candidates
    or its choice (those a plain run could not resume with either)."""
    a, b = saved.to_dict(), config.to_dict()
    differ = sorted(k for k in b if k not in RESUMABLE and a.get(k) != b[k])
    if differ:
        pairs = ", ".join(f"{k}: run {a.get(k)!r} vs now {b[k]!r}" for k in differ)
        raise RunError(f"{folder} was started with other settings ({pairs}); resume with "
                       f"the same options or use another --out")


def _score_candidates(config, folder, train_one, progress, data, echo):
    """Train (or finish) every candidate and estimate its TC; write and return the
    plan, or None when a signal interrupted a candidate."""
    k = config.restarts
    scored = []
    for n, seed in enumerate(candidate_seeds(config.seed, k)):
        path = folder.path / "candidates" / f"seed{seed}"
        cf = RunFolder(path)
        model, elapsed = None, None
        if not cf.model_path.is_file():
            echo(f"restarts: candidate {n + 1} of {k} (seed {seed}), {config.restart_steps} "
                 f"steps")
            s = train_one(candidate_config(config, seed), path,
                          resume=cf.checkpoint_path.is_file(), progress=progress, data=data,
                          echo=echo)
            if s["interrupted"]:
                return None
            model, elapsed = s["model"], s["elapsed"]
        if elapsed is None:
            elapsed = read_checkpoint(cf.checkpoint_path).get("elapsed")
        ev = read_json(path / "restart_eval.json") if model is None else None
        if ev is None:  # (a resumed run reuses the scores of candidates it finished)
            ev = evaluate(path, data=data, model=model, progress=progress,
                          items=config.restart_items, seed=config.seed,
                          out=path / "restart_eval.json")
        d = ev["decomposition"]
        scored.append({"seed": seed, "tc": d["tc"], "tc_stderr": d.get("stderr", {}).get("tc"),
                       "elbo": d["elbo"], "train_seconds": elapsed,
                       "mig": None if ev["mig"] is None else ev["mig"]["score"]})
        echo(f"restarts: candidate seed {seed}: TC {d['tc']:.3f} nats"
             + ("" if ev["mig"] is None else f" (MIG {ev['mig']['score']:.3f}, not used)"))
    plan = {"restarts": k, "restart_steps": config.restart_steps,
            "restart_items": min(config.restart_items, len(data)), "candidates": scored,
            "chosen": choose(scored)}
    write_json(folder.path / PLAN, plan)
    return plan


def _copy(src, dst):
    with open(src, "rb") as f:
        atomic_write(dst, lambda out: shutil.copyfileobj(f, out))
