"""Studies: a declarative file of runs, trained and evaluated into committed records.

A study file (TOML, e.g. ``studies/dsprites_beta.toml``) names everything::

    name = "dsprites_beta"            # records go to <results>/dsprites_beta/
    about = "RQ1/RQ2: MIG and ELBO against beta"
    seeds = [0, 1, 2]

    [train]                           # TrainConfig options shared by every run
    dataset = "dsprites"
    batch_size = 1024
    precision = "bf16"
    steps = 1500

    [evaluate]
    items = 200000                    # a fixed random subset (0: every item)
    num_samples = 10000
    uniform = false                   # with correlate: also evaluate on the uniform set
    metrics = "all"                   # add the metric suite (or a list, e.g. ["dci", "sap"])

    [[runs]]                          # each block: options, lists are crossed
    objective = "tcvae"
    beta = [1, 2, 4, 6, 8, 10]
    stage = 1                         # optional: blocks of stage 1 train before stage 2 ...

The runs are every block's product of lists, times the seeds.  :func:`run_study` trains
and evaluates each run whose record is missing, stage by stage and within a stage seed
by seed (every setting at the first seed, then at the second ...; an interrupted one
resumes from its run folder), and writes one small JSON record per finished run into the results folder
(config, git commit, MIG with its SE and per-factor gaps, histogram MIG, the
full-dataset decomposition with SEs, training and evaluation time; with ``metrics``,
the suite's results, and the subset's codes in ``<run>.codes.npz`` beside the record,
from which ``pyro-tcvae report --rescore`` scores the suite again).  A record made by
another configuration than the file asks for now is reported, and neither reused nor
overwritten; ``replace=True`` trains it again.
"""

import dataclasses
import hashlib
import itertools
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..metrics.suite import SUITE, parse_metrics
from .config import RunError, TrainConfig, field_type
from .build import make_dataset
from .evaluate import codes_path_for, evaluate
from .folder import RunFolder, atomic_write, fs_errors, read_checkpoint, read_json, write_json
from .host import cpu_has_bf16
from .restarts import read_plan
from .training import train

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

STUDY_KEYS = {"name", "about", "seeds", "train", "evaluate", "runs"}
EVALUATE_KEYS = {"items": 0, "num_samples": 10_000, "uniform": False}
RECORD_VERSION = 1
_NOT_STUDY = {"dsprites_path", "data_path", "device", "threads"}


@dataclasses.dataclass
class Study:
    """A parsed study file.

    Attributes
    ----------
    name, about : str
    seeds : list of int
    evaluate : dict
        ``items``, ``num_samples``, ``uniform``, and ``metrics`` when the file asks for
        suite metrics (``"all"`` or a list of names; absent: MIG only).
    runs : list of (str, TrainConfig)
        Every run's record name and validated configuration, in the file's order.
    path : Path
    stages : dict
        {run name: its block's ``stage``} for runs of a stage other than 1.
    """

    name: str
    about: str
    seeds: list
    evaluate: dict
    runs: list
    path: Path
    stages: dict = dataclasses.field(default_factory=dict)

    def plan(self):
        """The study as a dict of plain values (written beside the records)."""
        return {"name": self.name, "about": self.about, "seeds": self.seeds,
                "evaluate": self.evaluate,
                "runs": {name: _config_key(cfg) for name, cfg in self.runs},
                **({"stages": self.stages} if self.stages else {})}


def parse_settings(pairs):
    """``["steps=18000", "precision=fp32"]`` as TrainConfig options of the right types;
    RunError naming a key that is not an option or a value of the wrong type."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields or key == "seed":
            raise RunError(f"--set takes OPTION=VALUE with a TrainConfig option other than "
                           f"seed, got {pair!r}")
        want = field_type(fields[key])
        try:
            out[key] = (text.lower() in ("1", "true", "yes") if want is bool else
                        None if text.lower() == "none" else want(text))
        except ValueError:
            raise RunError(f"--set {key}: {text!r} is not a {want.__name__}") from None
    return out


def load_study(path, name=None, eval_items=None, **overrides):
    """Read and check a study file; every run's configuration is validated, so a bad
    key or value is refused before anything runs.  ``overrides`` replace options of
    every run (e.g. ``device="cuda"``, ``steps=18000``); ``name`` replaces the study's
    name (so that a study at another scale keeps its own records); ``eval_items``
    replaces ``evaluate.items`` (0: every item)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise RunError(f"cannot read the study file {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise RunError(f"{path} is not valid TOML: {e}") from None
    where = f"in {path}"
    unknown = sorted(set(raw) - STUDY_KEYS)
    if unknown:
        raise RunError(f"unknown key {unknown[0]!r} {where}; a study has "
                       f"{', '.join(sorted(STUDY_KEYS))}")
    for key in ("name", "runs"):
        if key not in raw:
            raise RunError(f"the study {path} needs {key!r}")
    name = raw["name"] if name is None else name
    if not isinstance(name, str) or not name or any(c in name for c in "/\\ ."):
        raise RunError(f"name {where} must be a folder name without '/', '.' or spaces, "
                       f"got {name!r}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or \
            not all(isinstance(s, int) and s >= 0 for s in seeds) or len(set(seeds)) < len(seeds):
        raise RunError(f"seeds {where} must be a list of different integers >= 0, got {seeds!r}")
    evaluate = dict(EVALUATE_KEYS)
    for k, v in raw.get("evaluate", {}).items():
        if k == "metrics":
            metrics = _study_metrics(v, where)
            if metrics is not None:
                evaluate["metrics"] = metrics
            continue
        if k not in EVALUATE_KEYS:
            raise RunError(f"unknown key 'evaluate.{k}' {where}; [evaluate] has "
                           f"{', '.join(EVALUATE_KEYS)}, metrics")
        if type(v) is not type(EVALUATE_KEYS[k]) or (k != "uniform" and v < 0):
            raise RunError(f"evaluate.{k} {where} must be a "
                           f"{type(EVALUATE_KEYS[k]).__name__} >= 0, got {v!r}")
        evaluate[k] = v
    if eval_items is not None:
        if eval_items < 0:
            raise RunError(f"eval_items must be >= 0 (0: every item), got {eval_items}")
        evaluate["items"] = int(eval_items)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    train = raw.get("train", {})
    blocks = raw["runs"]
    if not isinstance(blocks, list) or not blocks:
        raise RunError(f"'runs' {where} must be one or more [[runs]] blocks")
    runs, seen, stages = [], {}, {}
    for b, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise RunError(f"runs block {b + 1} {where} must be a table of options")
        stage = block.get("stage", 1)
        if not isinstance(stage, int) or isinstance(stage, bool) or stage < 1:
            raise RunError(f"stage in runs block {b + 1} {where} must be an integer >= 1 "
                           f"(blocks of stage 1 train first), got {stage!r}")
        block = {k: v for k, v in block.items() if k != "stage"}
        for section, table in (("train", train), (f"runs block {b + 1}", block)):
            for k in table:
                if k not in fields or k in ("seed",):
                    hint = " (the seeds are the study's 'seeds')" if k == "seed" else ""
                    raise RunError(f"unknown option {k!r} in {section} {where}{hint}; options "
                                   f"are TrainConfig's: {', '.join(sorted(set(fields) - {'seed'}))}")
        varied = {k: (v if isinstance(v, list) else [v]) for k, v in block.items()}
        keys = list(varied)
        for values in itertools.product(*varied.values()):
            options = {**train, **dict(zip(keys, values)), **overrides}
            for seed in seeds:
                try:
                    cfg = TrainConfig(**{**options, "seed": seed}).validate()
                except (RunError, TypeError) as e:
                    raise RunError(f"runs block {b + 1} {where}: {e}") from None
                run = run_name(cfg, keys)
                if run in seen:
                    raise RunError(f"two runs of {path} are both {run!r} (blocks {seen[run]} "
                                   f"and {b + 1}): make their options differ")
                seen[run] = b + 1
                runs.append((run, cfg))
                if stage != 1:
                    stages[run] = stage
    return Study(name=name, about=raw.get("about", ""), seeds=seeds, evaluate=evaluate,
                 runs=runs, path=path, stages=stages)


def _study_metrics(value, where):
    """A study's ``evaluate.metrics`` in its canonical form: ``"all"``, a list of suite
    names in the suite's order, or None for MIG only."""
    if not isinstance(value, (str, list)) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value)):
        raise RunError(f"evaluate.metrics {where} must be \"all\" or a list of metric "
                       f"names, got {value!r}")
    try:
        names = parse_metrics(value)
    except ValueError as e:
        raise RunError(f"evaluate.metrics {where}: {e}") from None
    if not names:
        return None
    return "all" if names == SUITE else list(names)


def evaluate_key(settings):
    """Evaluation settings as compared between a record and a plan: the suite metrics
    parsed (a record made before they existed asked for none)."""
    d = dict(settings or {})
    d["metrics"] = parse_metrics(d.get("metrics"))
    return d


def parse_part(text):
    """``"2/3"`` as (2, 3); RunError unless 1 <= i <= n."""
    i, sep, n = str(text).partition("/")
    try:
        i, n = int(i), int(n)
    except ValueError:
        i = n = 0
    if not sep or not 1 <= i <= n:
        raise RunError(f"--part takes I/N with 1 <= I <= N (e.g. 1/2 and 2/2 for two "
                       f"processes), got {text!r}")
    return i, n


def run_name(config, varied=()):
    """A run's record name: its objective and setting, the other options its block
    varies, and the seed ("tcvae_beta6_latentlaplace_seed2")."""
    parts = [config.label()]
    hyper = config.hyperparameter()[0]
    for k in varied:
        if k in ("objective", hyper, "seed"):
            continue
        v = getattr(config, k)
        text = f"{v:g}" if isinstance(v, float) else str(v)
        parts.append(f"{k.replace('_', '')}{text.replace(',', '-').replace('/', '-')}")
    return "_".join(parts + [f"seed{config.seed}"])


def _config_key(config):
    """The options that define a run's result (not where the data lives or how many
    threads ran it)."""
    d = config.to_dict()
    return {k: v for k, v in sorted(d.items()) if k not in _NOT_STUDY}


def git_commit():
    """The repository's commit (with '+dirty' for uncommitted changes), or None."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+dirty" if dirty.strip() else "")) or None


def read_record(path):
    """A record's dict, or None when the file is unreadable (reported by the caller)."""
    return read_json(path)


def status(study, results):
    """Each run's state: (name, config, state) with state "done", "missing",
    "mismatch" (a record of another configuration) or "damaged"."""
    out = []
    for name, cfg in study.runs:
        path = Path(results) / f"{name}.json"
        if not path.is_file():
            out.append((name, cfg, "missing"))
            continue
        rec = read_record(path)
        if rec is None or "config" not in rec:
            out.append((name, cfg, "damaged"))
        elif _config_key(TrainConfig.from_dict(rec["config"])) != _config_key(cfg) or \
                evaluate_key(rec.get("evaluate")) != evaluate_key(study.evaluate):
            out.append((name, cfg, "mismatch"))
        else:
            out.append((name, cfg, "done"))
    return out


def differences(record_config, config):
    """The options where a record's configuration differs from the study's, as text."""
    a, b = _config_key(TrainConfig.from_dict(record_config)), _config_key(config)
    return ", ".join(f"{k}: record {a.get(k)!r}, study {b.get(k)!r}"
                     for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


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
        The runs' states after the call (see :func:`status`).
    """
    commit = git_commit()  # the code this process loaded, not what HEAD becomes later
    results = Path(results_dir) / study.name
    work = Path(work_dir) / study.name
    states = status(study, results)
    # (a bad seed or objective is refused before anything is written)
    mine, todo = runs_to_do(study, states, replace, part, seeds, objectives)
    for folder in (results, work):
        with fs_errors(folder, "create"):
            folder.mkdir(parents=True, exist_ok=True)
    write_json(results / "study.json", study.plan())
    for name, cfg, state in states:
        if state == "mismatch":
            rec = read_record(results / f"{name}.json")
            echo(f"{name}: the record was made by another configuration "
                 f"({differences(rec['config'], cfg) or 'evaluation settings differ'}); "
                 + ("training it again" if replace else "left as it is and out of the "
                    "report; pass --replace to train it again"))
        elif state == "damaged":
            echo(f"{name}: the record is unreadable; training it again")
    echo(f"study {study.name}: {mine - len(todo)} of {mine} runs have records; "
         f"{len(todo)} to run" + (f" in part {part[0]}/{part[1]}" if part else ""))
    datasets = {}
    trained = 0
    for name, cfg in todo:
        if limit is not None and trained >= limit:
            break
        key = (cfg.dataset, cfg.dsprites_path, cfg.data_path, cfg.correlate)
        if key not in datasets:
            datasets.clear()  # one dataset in memory at a time
            datasets[key] = make_dataset(cfg, progress)
        data = datasets[key]
        folder = RunFolder(work / name)
        if folder.model_path.is_file() and folder.holds_run() and \
                _config_key(folder.read_config()) != _config_key(cfg):
            raise RunError(f"{folder} holds a run of another configuration: remove it")
        model = None
        summary = {"elapsed": None}
        if not folder.model_path.is_file():
            resume = folder.holds_run()
            echo(f"{name}: {'resuming' if resume else 'training'}")
            summary = train(cfg, folder.path, resume=resume, progress=progress, data=data,
                            echo=echo)
            if summary["interrupted"]:
                raise KeyboardInterrupt
            model = summary["model"]
        if summary["elapsed"] is None:
            summary["elapsed"] = _train_seconds(folder)
        ev = study.evaluate
        items = ev["items"] or None
        metrics = ev.get("metrics")
        result = evaluate(folder.path, num_samples=ev["num_samples"], data=data, model=model,
                          progress=progress, items=items, metrics=metrics)
        uniform = None
        if ev["uniform"] and cfg.correlate is not None:
            uniform = evaluate(folder.path, num_samples=ev["num_samples"],
                               data=make_dataset(cfg, progress, biased=False), model=model,
                               progress=progress, items=items, out=folder.path / "eval_uniform.json",
                               metrics=metrics)
        if metrics:  # the codes beside the record, before it (a record marks a run done)
            _keep_codes(folder.eval_path, results / f"{name}.codes.npz")
            if uniform is not None:
                _keep_codes(folder.path / "eval_uniform.json",
                            results / f"{name}.uniform.codes.npz")
        monitor = [{k: r[k] for k in ("step", "epoch", "time", "mig", "stderr", "loss") if k in r}
                   for r in folder.mig_log.read()]  # the MIG monitor's readings, if any
        record = make_record(study, name, cfg, result, summary["elapsed"], uniform, commit,
                             monitor, read_plan(folder.path))
        write_json(results / f"{name}.json", record)
        m = result["mig"]
        echo(f"{name}: MIG {m['score']:.4f} +- {m['stderr']:.4f}, "
             f"TC {result['decomposition']['tc']:.3f}, ELBO {result['decomposition']['elbo']:.2f}"
             if m else f"{name}: done")
        trained += 1
    return status(study, results)


def select_runs(study, states, part=None, seeds=None, objectives=None):
    """The runs a part, seeds and objectives select, in training order.

    Stage by stage (the blocks' ``stage``, 1 first), and within a stage seed by seed
    (every setting at the first seed, then at the second ...), so a study run in parts has every setting at a few seeds, not some settings at all seeds and
    others at none.  ``part=(i, n)`` keeps positions i, i + n ... (from 1) of that order,
    which does not depend on the records that exist; ``seeds`` and ``objectives`` then
    keep the runs of those seeds and objectives.  ``states``: :func:`status`'s list.

    Returns
    -------
    list of (str, TrainConfig, str), a sublist of ``states``
    """
    order = sorted(states, key=lambda st: (study.stages.get(st[0], 1),
                                           study.seeds.index(st[1].seed)))  # stable
    if part is not None:
        order = order[part[0] - 1::part[1]]
    if seeds is not None:
        unknown = sorted(set(seeds) - set(study.seeds))
        if unknown:
            raise RunError(f"seed {unknown[0]} is not one of the study's seeds "
                           f"{study.seeds}: add it to the file's 'seeds'")
        order = [st for st in order if st[1].seed in seeds]
    if objectives is not None:
        known = sorted({c.objective for _, c in study.runs})
        unknown = sorted(set(objectives) - set(known))
        if unknown:
            raise RunError(f"objective {unknown[0]} has no runs in the study (its objectives: "
                           f"{', '.join(known)})")
        order = [st for st in order if st[1].objective in objectives]
    return order


def runs_to_do(study, states, replace=False, part=None, seeds=None, objectives=None):
    """The runs to train, in order, and how many runs the part holds
    (:func:`select_runs`' selection, less the runs with a record).

    Returns
    -------
    (int, list of (str, TrainConfig))
    """
    order = select_runs(study, states, part, seeds, objectives)
    todo = [(n, c) for n, c, s in order
            if s in ("missing", "damaged") or (s == "mismatch" and replace)]
    return len(order), todo


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


def _keep_codes(eval_path, dest):
    """Copy an evaluation's codes file (:func:`~.evaluate.codes_path_for`) to ``dest``."""
    data = codes_path_for(eval_path).read_bytes()  # about 0.5 MB
    atomic_write(dest, lambda f: f.write(data))


def _slim(result):
    """An evaluation without its bulky parts (the MI matrix stays: K x D numbers; the
    suite's results, when it ran, are small matrices too)."""
    if result is None:
        return None
    return {"mig": result["mig"], "mig_histogram": result["mig_histogram"],
            "decomposition": result["decomposition"], "items": result["items"],
            "seconds": result["seconds"],
            **({"suite": result["suite"]} if result.get("suite") else {})}


def make_record(study, name, config, result, train_seconds, uniform=None, commit=None,
                monitor=None, restarts=None):
    """The JSON record of one finished run (``commit``: of the code that ran it;
    default the repository's now; ``monitor``: the MIG monitor's readings, step, training
    time in seconds, MIG and its SE, when the run had ``mig_every``; ``restarts``: the
    candidates' scores and the choice, when it had restarts).  ``host.threads`` is
    torch's thread count when the record is written (the evaluation's; the training's
    is ``config.threads``, 0 for torch's default), ``host.cpu_bf16`` whether the CPU has
    bfloat16 instructions (None where unknown): a bf16 run without them was emulated."""
    return {
        "version": RECORD_VERSION,
        "study": study.name,
        "run": name,
        "config": config.to_dict(),
        "evaluate": study.evaluate,
        "commit": commit or git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"python": platform.python_version(), "torch": torch.__version__,
                 "machine": platform.machine(), "threads": torch.get_num_threads(),
                 "platform": sys.platform, "cpu_bf16": cpu_has_bf16()},
        "train_seconds": train_seconds,
        "eval": _slim(result),
        "eval_uniform": _slim(uniform),
        "mig_over_time": monitor or [],
        **({"restarts": restarts} if restarts else {}),
        "digest": hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True)
                                 .encode()).hexdigest()[:16],
    }
