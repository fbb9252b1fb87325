"""The configuration of a training run: one schema for the API, the command line and
``config.json``.

Every option is a field of :class:`TrainConfig` with its type, default, help and (for
enumerated options) the registry it chooses from; :mod:`pyro_tcvae.cli` builds its
flags from these fields, so the help cannot drift from what runs.  Options whose
default depends on the dataset (``arch``, ``likelihood``, ``z_dim``, ``lr``,
``batch_size`` and the run's length) are None until :meth:`TrainConfig.validate`
fills them from :data:`~.registry.DATASETS`.  ``validate`` asks every question that
can be answered without data, so a bad configuration is refused before anything is
written.
"""

import dataclasses
import math
import re
import typing

import torch

from .plugins import PluginError, register_all
from .registry import CHOICES, DATASETS, OBJECTIVES, TC_WEIGHTS


class RunError(ValueError):
    """A user-facing problem with a run folder, a checkpoint or a configuration."""


def option(default, help, *, cli=True, dataset_default=False, objective_default=False):
    """A configuration field: ``help`` for the command line, ``cli=False`` for options
    of the API only, ``dataset_default=True`` when None means "the dataset's value",
    ``objective_default=True`` when None means "the objective's value"."""
    return dataclasses.field(default=default, metadata={
        "help": help, "cli": cli, "dataset_default": dataset_default,
        "objective_default": objective_default})


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json``).

    Fields left None take the dataset's defaults in :meth:`validate`; ``steps`` wins
    over ``epochs``.  During ``warmup`` steps the weight ``beta`` rises linearly from
    ``beta_start``.  ``mig_every`` (e.g. "2m", "500steps", "2epochs") and ``mig_at``
    (epochs, e.g. "2,5,10"): when the MIG of a fixed random subset of ``mig_items``
    items goes to ``mig.jsonl`` (the evaluation's own time is not counted as training
    time).  A number given for ``mig_every`` (older run folders and study files) means
    minutes and is stored as "<n>m".
    """

    def __post_init__(self):
        if isinstance(self.mig_every, (int, float)) and not isinstance(self.mig_every, bool):
            self.mig_every = "0" if self.mig_every == 0 else f"{self.mig_every:g}m"
        try:  # one spelling per schedule, so that equal schedules give equal study keys
            self.mig_every = format_every(parse_every(self.mig_every))
            self.mig_at = ",".join(f"{e:g}" for e in parse_epochs(self.mig_at))
        except (RunError, TypeError, AttributeError):
            pass  # validate() says what is wrong

    dataset: str = option("small_sprites", "the ground-truth dataset")
    dsprites_path: typing.Optional[str] = option(
        None, "the dSprites .npz file (implies --dataset dsprites; default: look for it in "
              "$PYRO_TCVAE_DSPRITES and the cache folder, else render the set)")
    data_path: typing.Optional[str] = option(
        None, "the file or folder of a dataset loaded from your files (shapes3d: 3dshapes.h5, "
              "rendered when there is none; mpi3d_*: the .npz; "
              "smallnorb: the folder of its six files; cars3d: the folder of its .mat files; "
              "images: the folder; default: its "
              "environment variable, then the cache folder)")
    correlate: typing.Optional[str] = option(
        None, "sampling bias: 'A,B,S' trains on items drawn with weight exp(-S (u_A - "
              "u_B)^2), u a factor's class scaled to [0, 1]: factors A and B tied with "
              "strength S >= 0 (e.g. posX,posY,10; evaluation uses the same biased set)")
    objective: str = option("tcvae", "tcvae / beta-vae: the total correlation / the whole KL "
                                     "weighed by --beta; vae: the plain ELBO; factorvae: a "
                                     "discriminator's TC weighed by --gamma; annealed: --gamma "
                                     "|KL - C| with C raised to --capacity; dip-i / dip-ii: "
                                     "covariance penalties --lambda-od, --lambda-d")
    beta: typing.Optional[float] = option(None, "weight of tcvae and beta-vae, >= 0",
                                          objective_default=True)
    gamma: typing.Optional[float] = option(None, "weight of factorvae's TC estimate, of "
                                                 "annealed's |KL - C|, or of tcvae's "
                                                 "dimension-wise KL (default 1), >= 0",
                                           objective_default=True)
    capacity: typing.Optional[float] = option(None, "annealed: the capacity C_max in nats",
                                              objective_default=True)
    capacity_steps: typing.Optional[int] = option(
        None, "annealed: steps over which C rises linearly to C_max (default: the whole "
              "run)")
    lambda_od: typing.Optional[float] = option(None, "dip-i / dip-ii: weight of the "
                                                     "off-diagonal covariances",
                                               objective_default=True)
    lambda_d: typing.Optional[float] = option(None, "dip-i / dip-ii: weight of the diagonal "
                                                    "(default 10 x lambda_od for dip-i, "
                                                    "lambda_od for dip-ii)")
    estimator: str = option("mss", "minibatch estimator of log q(z): stratified (mss) or "
                                   "weighted (mws) sampling")
    memory: int = option(0, "tcvae / beta-vae: also estimate q(z) from the (detached) "
                            "posteriors of the last M datapoints of past steps (0: the "
                            "batch alone, as in the paper)")
    arch: typing.Optional[str] = option(None, "the encoder and decoder networks",
                                        dataset_default=True)
    z_dim: typing.Optional[int] = option(None, "latent dimensions", dataset_default=True)
    latent: str = option("normal", "the posterior family q(z|x)")
    prior: str = option("normal", "the prior p(z); flow is a learnable factorial spline flow")
    likelihood: typing.Optional[str] = option(None, "p(x|z)", dataset_default=True)
    steps: typing.Optional[int] = option(None, "training steps (wins over --epochs)",
                                         dataset_default=True)
    epochs: typing.Optional[float] = option(None, "training epochs", dataset_default=True)
    batch_size: typing.Optional[int] = option(None, "items per step", dataset_default=True)
    lr: typing.Optional[float] = option(None, "Adam learning rate", dataset_default=True)
    seed: int = option(0, "seed of the initialization, the batches and the samples")
    warmup: int = option(0, "steps of linear beta warm-up")
    beta_start: float = option(1.0, "beta at the start of the warm-up")
    log_every: int = option(50, "steps per line of metrics.jsonl")
    checkpoint_every: int = option(500, "steps per checkpoint")
    precision: str = option("fp32", "bf16 runs the networks under bfloat16 autocast, the "
                                    "rest in float32 (about 2x faster on CPUs with bf16 "
                                    "instructions, about 30x slower on CPUs without: "
                                    "training warns)")
    fused: bool = option(True, "torch's fused Adam", cli=False)
    mig_every: str = option("0", "how often to read the MIG of a fixed subset (mig.jsonl), "
                                 "with a unit: 2m, 90s or 1h of training time, 500steps, or "
                                 "2epochs (0: off; a bare number in older run folders and "
                                 "study files means minutes)")
    mig_at: str = option("", "epochs at which to read the MIG of the fixed subset as well, "
                             "e.g. 2,5,10,20,35,50")
    mig_items: int = option(50_000, "items in the MIG monitor's fixed subset")
    restarts: int = option(0, "candidates: train this many seeds (K * seed + i) for "
                              "--restart-steps each, keep the one with the lowest total "
                              "correlation (no labels needed) and train it on (0: off)")
    restart_steps: int = option(500, "steps each restart candidate trains before the choice")
    restart_items: int = option(50_000, "items of the fixed subset on which the candidates' "
                                        "total correlation is estimated")
    device: str = option("cpu", "cpu, cuda, cuda:N or auto")
    threads: int = option(0, "CPU threads: 0 adapts to the cores that other processes leave "
                             "free; N uses N")

    # ------------------------------------------------------------------ checks
    def validate(self):
        """The configuration with the dataset's defaults filled in, checked.

        Raises :class:`RunError` naming the option and the fix.  Returns a new
        :class:`TrainConfig`; ``self`` is not changed.
        """
        _check_types(self)
        try:  # a user's dataset, objective or prior named by import path
            register_all(self)
        except PluginError as e:
            raise RunError(str(e)) from None
        if self.dsprites_path is not None and self.dataset in DATASETS \
                and not DATASETS[self.dataset].dsprites_file:
            raise RunError(f"dsprites_path is for the dataset 'dsprites' (and its colour and "
                           f"noisy variants), but the dataset is {self.dataset!r}: add --dataset "
                           f"dsprites, or drop --dsprites-path")
        if self.data_path is not None and self.dataset in DATASETS \
                and not DATASETS[self.dataset].user_file:
            raise RunError(f"data_path is for the datasets loaded from your files, and "
                           f"{self.dataset!r} is not one: drop --data-path")
        for name, names in CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in names:
                raise RunError(f"{name} must be one of {', '.join(names)}; got {value!r}")
        if self.correlate is not None:
            parse_correlate(self.correlate)
        entry = OBJECTIVES[self.objective]
        for name in OBJECTIVE_OPTIONS:
            if getattr(self, name) is not None and name not in entry.options:
                readers = [o for o, e in OBJECTIVES.items() if name in e.options]
                raise RunError(f"{name} is not an option of the objective {self.objective!r} "
                               f"(it is one of {', '.join(readers)}): drop it, or choose "
                               f"that objective")
        if self.warmup and self.objective not in TC_WEIGHTS:
            raise RunError(f"warmup raises beta, which {self.objective!r} does not have: "
                           f"drop --warmup")
        c = self.resolved()
        for name in ("gamma", "capacity", "lambda_od", "lambda_d"):
            v = getattr(c, name)
            if v is not None and not (v >= 0 and math.isfinite(v)):
                raise RunError(f"{name} must be a finite number >= 0, got {v}")
        if c.capacity_steps is not None and c.capacity_steps < 1:
            raise RunError(f"capacity_steps must be >= 1, got {c.capacity_steps}")
        if c.objective in ("dip-i", "dip-ii") and c.latent == "relaxed_bernoulli":
            raise RunError(f"{c.objective} needs the mean{' and variance' if c.objective == 'dip-ii' else ''} "
                           f"of q(z|x), which the relaxed Bernoulli has not in closed form: use "
                           f"--latent normal or laplace")
        for name, lo in (("batch_size", 1), ("z_dim", 1), ("log_every", 1),
                         ("checkpoint_every", 1), ("mig_items", 2), ("seed", 0),
                         ("restart_steps", 1), ("restart_items", 2),
                         ("warmup", 0), ("threads", 0)):
            if getattr(c, name) < lo:
                raise RunError(f"{name} must be >= {lo}, got {getattr(c, name)}")
        if c.steps is not None and c.steps < 1:
            raise RunError(f"steps must be >= 1, got {c.steps}")
        if c.epochs is not None and not (c.epochs > 0 and math.isfinite(c.epochs)):
            raise RunError(f"epochs must be > 0, got {c.epochs}")
        if not (c.lr > 0 and math.isfinite(c.lr)):
            raise RunError(f"lr must be a positive number, got {c.lr}")
        for name in ("beta", "beta_start"):
            v = getattr(c, name)
            if v is not None and not (v >= 0 and math.isfinite(v)):
                raise RunError(f"{name} must be a finite number >= 0, got {v} (a negative "
                               f"weight rewards the term it should penalize)")
        parse_every(c.mig_every)
        parse_epochs(c.mig_at)
        if c.memory < 0:
            raise RunError(f"memory must be >= 0, got {c.memory}")
        if c.memory and c.objective not in TC_WEIGHTS:
            raise RunError(f"memory is an option of tcvae and beta-vae, not of "
                           f"{c.objective!r}: drop --memory")
        if c.memory and c.latent != "normal":
            raise RunError(f"memory keeps past posteriors as Normal components: use "
                           f"--latent normal (got {c.latent!r}) or drop --memory")
        if c.restarts == 1 or c.restarts < 0:
            raise RunError(f"restarts must be 0 (off) or 2 or more candidates, got {c.restarts}")
        if c.restarts and c.steps is not None and c.restart_steps >= c.steps:
            raise RunError(f"restart_steps ({c.restart_steps}) must be fewer than steps "
                           f"({c.steps}): the chosen candidate trains on from there")
        if c.estimator == "mss" and c.batch_size < 2:
            raise RunError("the 'mss' estimator needs batch_size >= 2")
        if c.objective == "factorvae" and c.batch_size < 2:
            raise RunError("factorvae permutes each latent dimension across the batch: it "
                           "needs batch_size >= 2")
        entry = DATASETS[c.dataset]
        if c.arch == "conv" and tuple(entry.image_shape)[:2] != (64, 64):
            raise RunError(f"arch 'conv' is for 64x64 images, but {c.dataset} has "
                           f"{'x'.join(map(str, entry.image_shape))} observations: use "
                           f"--arch mlp or small_mlp")
        if c.likelihood == "bernoulli" and not entry.binary:
            raise RunError(f"the bernoulli likelihood needs binary data, and {c.dataset} is "
                           f"real-valued: use --likelihood gaussian")
        check_device(c.device)
        return c

    def resolved(self):
        """A copy with the dataset's defaults in place of None (unchecked)."""
        defaults = DATASETS[self.dataset].defaults if self.dataset in DATASETS else {}
        fill = {}
        for f in dataclasses.fields(self):
            if f.metadata["dataset_default"] and getattr(self, f.name) is None \
                    and f.name not in ("steps", "epochs"):
                fill[f.name] = defaults.get(f.name)
        if self.steps is None and self.epochs is None:
            fill["steps"], fill["epochs"] = defaults.get("steps"), defaults.get("epochs")
        if self.objective in OBJECTIVES:
            for name, value in OBJECTIVES[self.objective].defaults.items():
                if getattr(self, name) is None:
                    fill[name] = value
        return dataclasses.replace(self, **fill)

    # ------------------------------------------------------------------ use
    def weights(self, step):
        """(alpha, beta, gamma) of the TC decomposition at a step, with the warm-up
        applied ((1, 1, 1) for objectives that do not weigh it)."""
        if self.objective not in TC_WEIGHTS:
            return 1.0, 1.0, 1.0
        b = OBJECTIVES[self.objective].defaults["beta"] if self.beta is None else self.beta
        if self.warmup > 0:
            b = self.beta_start + (b - self.beta_start) * min(1.0, step / self.warmup)
        return TC_WEIGHTS[self.objective](b, self.gamma)

    def hyperparameter(self):
        """(name, value) of the objective's main hyperparameter (the one a sweep varies),
        or (None, None) for the plain VAE."""
        options = OBJECTIVES[self.objective].options
        if not options:
            return None, None
        return options[0], getattr(self.resolved(), options[0])

    def label(self):
        """A short name of the run's objective and setting: "tcvae_beta6", "vae"."""
        name, value = self.hyperparameter()
        return self.objective if name is None else f"{self.objective}_{name}{value:g}"

    def steps_per_epoch(self, batches):
        """Steps in an epoch of ``batches`` batches (an objective may draw several per
        step, e.g. FactorVAE's second batch for its discriminator)."""
        return max(1, batches // OBJECTIVES[self.objective].batches_per_step)

    def total_steps(self, batches_per_epoch):
        """The run's length in steps (``steps``, else ``epochs`` of batches)."""
        if self.steps is not None:
            return int(self.steps)
        return max(1, math.ceil((self.epochs or 1.0) * batches_per_epoch))

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        """A validated configuration from a dict (``config.json``)."""
        return cls(**saved_options(d)).validate()


def parse_correlate(text):
    """('A', 'B', strength) of a ``correlate`` option 'A,B,S'; RunError naming the
    format otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 3 or not parts[0] or not parts[1] or parts[0] == parts[1]:
            raise ValueError
        strength = float(parts[2])
    except ValueError:
        raise RunError(f"correlate must be 'A,B,S': two different factor names and a "
                       f"strength, e.g. posX,posY,10; got {text!r}") from None
    if not (strength >= 0 and math.isfinite(strength)):
        raise RunError(f"the strength in correlate must be a finite number >= 0, got {parts[2]}")
    return parts[0], parts[1], strength


_EVERY = re.compile(r"^\s*(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)\s*"
                    r"(s|sec|m|min|h|steps?|ep|epochs?)?\s*$")
_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "m": 1.0, "min": 1.0, "h": 60.0}


def parse_every(text):
    """The MIG monitor's interval ``mig_every``: ("minutes", x), ("steps", n),
    ("epochs", x), or None for "0" (off).  RunError naming the spelling otherwise:
    a number needs a unit, as "2" could be minutes or steps."""
    m = _EVERY.match(str(text))
    if m is None:
        raise RunError(f"mig_every must be a number with a unit, e.g. 2m (minutes of "
                       f"training time), 90s, 1h, 500steps or 2epochs (0: off); got {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    if value == 0:
        return None
    if not math.isfinite(value):
        raise RunError(f"mig_every must be finite, got {text!r}")
    if unit is None:
        raise RunError(f"mig_every {text!r} needs a unit: {m.group(1)}m for minutes of "
                       f"training time, {m.group(1)}steps or {m.group(1)}epochs")
    if unit in _MINUTES:
        return "minutes", value * _MINUTES[unit]
    if unit.startswith("step"):
        if value != int(value):
            raise RunError(f"mig_every in steps must be a whole number, got {text!r}")
        return "steps", int(value)
    return "epochs", value


def format_every(schedule):
    """The one spelling of a :func:`parse_every` result: "0", "2m", "500steps", "2epochs"."""
    if schedule is None:
        return "0"
    kind, value = schedule
    return {"minutes": f"{value:g}m", "steps": f"{value}steps", "epochs": f"{value:g}epochs"}[kind]


def parse_epochs(text):
    """The epochs of ``mig_at`` ("2,5,10"), sorted and distinct; [] for "".  RunError
    naming the format otherwise."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        epochs = sorted({float(p) for p in parts})
    except ValueError:
        raise RunError(f"mig_at must be epochs separated by commas, e.g. 2,5,10,20,35,50; "
                       f"got {text!r}") from None
    if any(not (e > 0 and math.isfinite(e)) for e in epochs):
        raise RunError(f"the epochs in mig_at must be > 0, got {text!r}")
    return epochs


#: Options that only some objectives read (see :data:`~.registry.OBJECTIVES`).
OBJECTIVE_OPTIONS = ("beta", "gamma", "capacity", "capacity_steps", "lambda_od", "lambda_d")


def saved_options(d):
    """A saved configuration dict as today's options: keys missing from older runs take
    their defaults, and an objective option that older versions saved for an objective
    that does not read it (beta for the plain VAE) is dropped."""
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise RunError(f"unknown configuration keys {unknown}")
    d = {**TrainConfig().to_dict(), **d}
    entry = OBJECTIVES.get(d["objective"])
    if entry is not None:
        d.update({k: None for k in OBJECTIVE_OPTIONS if k not in entry.options})
    return d


#: Options that may differ when a run is resumed; everything else must match.
RESUMABLE = ("steps", "epochs", "checkpoint_every", "mig_every", "mig_at", "device", "threads")


def field_type(f):
    """The Python type of a configuration field (``Optional[int]`` -> int)."""
    args = [a for a in typing.get_args(f.type) if a is not type(None)]
    return args[0] if args else f.type


def _check_types(config):
    for f in dataclasses.fields(config):
        value, want = getattr(config, f.name), field_type(f)
        if value is None and f.default is None:
            continue
        ok = (isinstance(value, bool) if want is bool else
              isinstance(value, want) and not isinstance(value, bool) if want is int else
              isinstance(value, (int, float)) and not isinstance(value, bool) if want is float
              else isinstance(value, want))
        if not ok:
            raise RunError(f"{f.name} must be of type {want.__name__}, got {value!r}")


def check_device(device):
    """A torch device from a name ("cpu", "cuda", "cuda:1", "auto"), or a RunError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise RunError(f"device {device!r} is not a torch device ({e}); use cpu, cuda or "
                       f"auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RunError(f"device {device!r} asked for, but torch sees no CUDA GPU here "
                       f"(torch {torch.__version__}); use --device cpu, or install a CUDA "
                       f"build of torch")
    return dev
