"""The runner: train and evaluate the runs whose record is missing.

:func:`run_study` trains and evaluates each run of a study whose record is missing,
stage by stage and within a stage seed by seed (an interrupted one resumes from its
run folder), and writes one record per finished run into the results folder (with
``metrics``, the subset's codes go to ``<run>.codes.npz`` beside it, from which
``pyro-tcvae report --rescore`` scores the suite again).  :func:`train_missing` is the
step a study and a sweep share: this configuration's model, trained unless its folder
holds it.
"""

import json
import time
from pathlib import Path

from ..runs.build import make_dataset
from ..runs.config import RunError, TrainConfig
from ..runs.evaluate import codes_path_for, evaluate
from ..runs.folder import (RunFolder, atomic_write, fs_errors, naming_option,
                           read_checkpoint, read_json, write_json)
from ..runs.host import cpu_name
from ..runs.restarts import read_plan
from ..runs.training import TERMS, train
from .plan import config_key
from .record import differences, git_commit, make_record, read_record, record_path, status, \
    write_record
from .selection import runs_to_do


def train_missing(config, folder, data, progress=True, echo=print, name=None, commit=None):
    """The model of ``config``'s run in ``folder``: trained there unless the folder
    holds its finished model (an interrupted run resumes from its last checkpoint).

    A study and a sweep call it for every run whose record is missing (a study's
    ``<run>.json``, a sweep's ``eval.json``), then evaluate the model.

    Parameters
    ----------
    config : TrainConfig
    folder : RunFolder
        A folder holding the finished run of another configuration is refused.
    data : GroundTruthData
        The dataset, built once for many runs.
    name : str, optional
        The run's name in the lines ``echo`` gets (default: the folder's).
    commit : str, optional
        The commit of the code training now (default: :func:`~.record.git_commit`'s),
        written with the step it starts from, the CPU and the time to the folder's
        ``sessions.jsonl``: a run of many hours may be trained by several processes,
        commits and machines, and its record says which.

    Returns
    -------
    (VAE or None, float or None)
        The model trained now (None when the folder held it already: evaluating the
        folder loads it), and the training time in seconds over all sessions (None
        when unknown).

    Raises
    ------
    KeyboardInterrupt
        When a signal stopped the training (the checkpoint is kept: call again).
    """
    name = folder.path.name if name is None else name
    if folder.model_path.is_file():
        if config_key(folder.read_config()) != config_key(config):
            raise RunError(f"{folder} holds a run of another configuration: remove it")
        return None, _train_seconds(folder)
    resume = folder.holds_run()
    echo(f"{name}: {'resuming' if resume else 'training'}")
    _log_session(folder, config, resume, commit)
    summary = train(config, folder.path, resume=resume, progress=progress, data=data,
                    echo=echo)
    if summary["interrupted"]:
        raise KeyboardInterrupt
    elapsed = summary["elapsed"]
    return summary["model"], _train_seconds(folder) if elapsed is None else elapsed


def _log_session(folder, config, resume, commit):
    """Append where this process trains the run from to ``sessions.jsonl``."""
    step = 0
    if resume:
        try:
            step = read_checkpoint(folder.checkpoint_path)["step"]
        except (RunError, KeyError, TypeError):
            step = None  # a run with restarts keeps its candidates' checkpoints
    with fs_errors(folder.path, "create"):
        folder.path.mkdir(parents=True, exist_ok=True)
    folder.sessions.append({
        "step": step, "commit": commit or git_commit(), "cpu": cpu_name(),
        "device": config.device, "threads": config.threads,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def _train_seconds(folder):
    """Training time of a finished run from its last checkpoint, or for a run with
    restarts every candidate's together (None when unknown)."""
    plan = read_plan(folder.path)
    if plan is not None:
        return plan.get("train_seconds")
    try:
        return read_checkpoint(folder.checkpoint_path).get("elapsed")
    except RunError:
        return None


def _same_plan(path, plan):
    """Whether the plan file ``path`` holds ``plan`` (its configurations compared as
    today's options, so a plan written before an option was added still counts)."""
    old = read_json(path)
    if not isinstance(old, dict) or not isinstance(old.get("runs"), dict):
        return False
    new = json.loads(json.dumps(plan))
    try:
        runs = {n: json.loads(json.dumps(config_key(TrainConfig.from_dict(c))))
                for n, c in old["runs"].items()}
    except (RunError, TypeError, KeyError, ValueError):
        return False
    rest = lambda p: {k: v for k, v in p.items() if k != "runs"}
    return runs == new["runs"] and rest(old) == rest(new)


def run_study(study, results_dir, work_dir, replace=False, progress=True, echo=print,
              limit=None, part=None, seeds=None, objectives=None):
    """Train and evaluate the study's missing runs.

    Parameters
    ----------
    study : Study
    results_dir : path
        ``<results>/<study.name>`` receives one ``<run>.json`` per finished run and
        ``study.json`` (the plan).
    work_dir : path
        Run folders (checkpoints, models) go to ``<work>/<study.name>/<run>``; an
        interrupted run resumes from there.
    replace : bool
        Train again the runs whose record another configuration made.
    limit : int, optional
        Stop after this many runs were trained (to run a study in parts).
    part : (int, int), optional
        ``(i, n)``: only the runs at positions i, i + n, i + 2n ... (from 1) of the
        study's seed-by-seed order, so that n processes or machines given 1/n ... n/n
        share a study without training a run twice (each run has its own folder and
        record; the split does not depend on which records exist yet).
    seeds : list of int, optional
        Only the runs of these seeds (of the study's), e.g. to try a change on the
        seeds where a recipe failed first; the other runs stay missing.
    objectives : list of str, optional
        Only the runs of these objectives (of the study's), e.g. the cheap ones first.

    Returns
    -------
    list
        The runs' states after the call (see :func:`~.record.status`).
    """
    commit = git_commit()  # the code this process loaded, not what HEAD becomes later
    results = Path(results_dir) / study.name
    work = Path(work_dir) / study.name
    states = status(study, results)
    # (a bad seed or objective is refused before anything is written)
    mine, todo = runs_to_do(study, states, replace, part, seeds, objectives)
    for folder, option in ((results, "--results"), (work, "--work")):
        with naming_option(option), fs_errors(folder, "create"):
            folder.mkdir(parents=True, exist_ok=True)
    if not _same_plan(results / "study.json", study.plan()):  # an unchanged study leaves
        with naming_option("--results"):  # its (committed) plan file be
            write_json(results / "study.json", study.plan())
    for name, cfg, state in states:
        if state == "mismatch":
            rec = read_record(record_path(results, name))
            echo(f"{name}: the record was made by another configuration "
                 f"({differences(rec['config'], cfg) or 'evaluation settings differ'}); "
                 + ("training it again" if replace else "left as it is and out of the "
                    "report; pass --replace to train it again"))
        elif state == "damaged":
            echo(f"{name}: the record is unreadable; training it again")
    echo(f"study {study.name}: {mine - len(todo)} of {mine} runs have records; "
         f"{len(todo)} to run" + (f" in part {part[0]}/{part[1]}" if part else ""))
    datasets = {}
    for trained, (name, cfg) in enumerate(todo):
        if limit is not None and trained >= limit:
            break
        key = (cfg.dataset, cfg.dsprites_path, cfg.data_path, cfg.correlate)
        if key not in datasets:
            datasets.clear()  # one dataset in memory at a time
            datasets[key] = make_dataset(cfg, progress)
        _run_one(study, name, cfg, datasets[key], RunFolder(work / name), results, commit,
                 progress, echo)
    return status(study, results)


def _run_one(study, name, cfg, data, folder, results, commit, progress, echo):
    """Train (unless done), evaluate and record one run of a study.  File-system errors
    name --work for the run folder and --results for the record (a study has no --out)."""
    with naming_option("--work"):
        model, train_seconds = train_missing(cfg, folder, data, progress, echo, name, commit)
        ev = study.evaluate
        items = ev["items"] or None
        metrics = ev.get("metrics")
        result = evaluate(folder.path, num_samples=ev["num_samples"], data=data, model=model,
                          progress=progress, items=items, metrics=metrics)
        uniform = None
        if ev["uniform"] and cfg.correlate is not None:
            uniform = evaluate(folder.path, num_samples=ev["num_samples"],
                               data=make_dataset(cfg, progress, biased=False), model=model,
                               progress=progress, items=items,
                               out=folder.path / "eval_uniform.json", metrics=metrics)
    with naming_option("--results"):
        _record(study, name, cfg, folder, results, result, uniform, train_seconds, commit,
                metrics)
    m = result["mig"]
    echo(f"{name}: MIG {m['score']:.4f} +- {m['stderr']:.4f}, "
         f"TC {result['decomposition']['tc']:.3f}, ELBO {result['decomposition']['elbo']:.2f}"
         if m else f"{name}: done")


def _record(study, name, cfg, folder, results, result, uniform, train_seconds, commit,
            metrics):
    """Write a run's record (and, with the suite, its codes) to ``results``."""
    if metrics:  # the codes beside the record, before it (a record marks a run done)
        _keep_codes(folder.eval_path, results / f"{name}.codes.npz")
        if uniform is not None:
            _keep_codes(folder.path / "eval_uniform.json",
                        results / f"{name}.uniform.codes.npz")
    keep = ("step", "epoch", "time", "mig", "stderr", "loss") + TERMS + ("elbo_stderr",)
    monitor = [{k: r[k] for k in keep if k in r}
               for r in folder.mig_log.read()]  # the MIG monitor's readings, if any
    write_record(results, make_record(study, name, cfg, result, train_seconds, uniform,
                                      commit, monitor, read_plan(folder.path),
                                      folder.sessions.read()))


def _keep_codes(eval_path, dest):
    """Copy an evaluation's codes file (:func:`~pyro_tcvae.runs.evaluate.codes_path_for`)
    to ``dest``."""
    data = codes_path_for(eval_path).read_bytes()  # about 0.5 MB
    atomic_write(dest, lambda f: f.write(data))
