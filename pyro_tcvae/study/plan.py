"""The study file: a declarative plan of runs, and the key that says which runs are alike.

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

The runs are every block's product of lists, times the seeds; :func:`load_study` checks
every key and validates every run's configuration before anything runs.
"""

import dataclasses
import itertools
from pathlib import Path

from ..metrics.suite import SUITE, parse_metrics
from ..runs.config import RunError, TrainConfig, field_type

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

STUDY_KEYS = {"name", "about", "seeds", "train", "evaluate", "runs"}
EVALUATE_KEYS = {"items": 0, "num_samples": 10_000, "uniform": False}
#: Options that say where a run's data lives or how it ran, not what its result is.
NOT_STUDY = {"dsprites_path", "data_path", "device", "threads"}


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
                "runs": {name: config_key(cfg) for name, cfg in self.runs},
                **({"stages": self.stages} if self.stages else {})}


def config_key(config):
    """The options that define a run's result (not where the data lives or how many
    threads ran it), sorted: two runs with the same key are the same run."""
    d = config.to_dict()
    return {k: v for k, v in sorted(d.items()) if k not in NOT_STUDY}


def evaluate_key(settings):
    """Evaluation settings as compared between a record and a plan: the suite metrics
    parsed (a record made before they existed asked for none)."""
    d = dict(settings or {})
    d["metrics"] = parse_metrics(d.get("metrics"))
    return d


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
            raise RunError(f"--set {key}: {text!r} is not "
                           f"{ {int: 'an integer', float: 'a number'}.get(want, want.__name__)}"
                           ) from None
    return out


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
    evaluate = _evaluate_settings(raw.get("evaluate", {}), where, eval_items)
    runs, stages = _expand_blocks(raw["runs"], raw.get("train", {}), seeds, overrides, path)
    return Study(name=name, about=raw.get("about", ""), seeds=seeds, evaluate=evaluate,
                 runs=runs, path=path, stages=stages)


def _evaluate_settings(table, where, eval_items=None):
    """A study file's ``[evaluate]`` table checked, with the defaults of
    :data:`EVALUATE_KEYS` (``eval_items``, when given, replaces ``items``)."""
    evaluate = dict(EVALUATE_KEYS)
    for k, v in table.items():
        if k == "metrics":
            metrics = _study_metrics(v, where)
            if metrics is not None:
                evaluate["metrics"] = metrics
            continue
        if k not in EVALUATE_KEYS:
            raise RunError(f"unknown key 'evaluate.{k}' {where}; [evaluate] has "
                           f"{', '.join(EVALUATE_KEYS)}, metrics")
        if type(v) is not type(EVALUATE_KEYS[k]) or (k != "uniform" and v < 0):
            kind = "true or false" if k == "uniform" else "a whole number >= 0"
            raise RunError(f"evaluate.{k} {where} must be {kind}, got {v!r}")
        evaluate[k] = v
    if eval_items is not None:
        if eval_items < 0:
            raise RunError(f"eval_items must be >= 0 (0: every item), got {eval_items}")
        evaluate["items"] = int(eval_items)
    return evaluate


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


def _expand_blocks(blocks, train, seeds, overrides, path):
    """The runs of a study file's ``[[runs]]`` blocks: each block's product of lists
    over the ``[train]`` options, times the seeds.

    Returns
    -------
    (list of (str, TrainConfig), dict): every run's name and validated configuration in
    the file's order, and {run name: stage} for runs of a stage other than 1.
    """
    where = f"in {path}"
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
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
                    options = ", ".join(sorted(set(fields) - {"seed"}))
                    raise RunError(f"unknown option {k!r} in {section} {where}{hint}; options "
                                   f"are TrainConfig's: {options}")
        varied = {k: (v if isinstance(v, list) else [v]) for k, v in block.items()}
        for k, v in varied.items():
            if not v:
                raise RunError(f"{k} = [] in runs block {b + 1} {where}: a list of values "
                               f"needs at least one (or drop {k} for its default)")
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
    return runs, stages
