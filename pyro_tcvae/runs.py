"""Run folders: the training configuration, checkpoints and the metrics log.

A run folder holds ``config.json``, ``checkpoint.pt`` (the latest state, written
atomically), ``metrics.jsonl`` (one JSON line per logging interval), ``model.pt`` (the
trained model, see :meth:`pyro_tcvae.models.VAE.save`), ``eval.json`` and
``figures/``.  Every command after ``train`` takes the run folder.
"""

import dataclasses
import json
import math
import os
from pathlib import Path

import torch

from .models.vae import PRECISIONS

CHECKPOINT_FORMAT = "pyro_tcvae.checkpoint/1"
OBJECTIVES = ("tcvae", "beta-vae", "vae")
DATASETS = ("small_sprites", "dsprites", "nonlinear")


class RunError(ValueError):
    """A user-facing problem with a run folder, a checkpoint or a configuration."""


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json``).

    ``arch`` and ``likelihood`` default to the dataset's natural choice: the paper's
    MLP and a Bernoulli likelihood for sprites, a small MLP and a Gaussian for vectors.
    ``steps`` wins over ``epochs``. During ``warmup`` steps the weight ``beta`` rises
    linearly from ``beta_start``.  ``precision="bf16"`` runs the networks under bfloat16
    autocast; ``fused`` uses torch's fused Adam (see :mod:`pyro_tcvae.optim`).
    ``mig_every`` > 0: every that many minutes of training time, the MIG (paper
    estimator) of a fixed random subset of ``mig_items`` items goes to ``mig.jsonl``;
    the evaluation's own time is not counted as training time.
    """

    dataset: str = "small_sprites"
    dsprites_path: str = None
    objective: str = "tcvae"
    beta: float = 6.0
    estimator: str = "mss"
    arch: str = None
    z_dim: int = 10
    latent: str = "normal"
    prior: str = "normal"
    likelihood: str = None
    steps: int = None
    epochs: float = None
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    warmup: int = 0
    beta_start: float = 1.0
    log_every: int = 50
    checkpoint_every: int = 500
    precision: str = "fp32"
    fused: bool = True
    mig_every: float = 0.0
    mig_items: int = 50_000
    device: str = "cpu"

    def validate(self):
        if self.objective not in OBJECTIVES:
            raise RunError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.dataset not in DATASETS:
            raise RunError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        for name in ("batch_size", "z_dim", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise RunError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise RunError(f"steps must be >= 1, got {self.steps}")
        if self.epochs is not None and not self.epochs > 0:
            raise RunError(f"epochs must be > 0, got {self.epochs}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise RunError(f"lr must be a positive number, got {self.lr}")
        check_device(self.device)
        if not self.mig_every >= 0:
            raise RunError(f"mig_every must be >= 0 minutes, got {self.mig_every}")
        if self.mig_items < 2:
            raise RunError(f"mig_items must be >= 2, got {self.mig_items}")
        if self.warmup < 0:
            raise RunError(f"warmup must be >= 0, got {self.warmup}")
        if self.precision not in PRECISIONS:
            raise RunError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.estimator == "mss" and self.batch_size < 2:
            raise RunError("the 'mss' estimator needs batch_size >= 2")
        return self

    def weights(self, step):
        """(alpha, beta, gamma) at a step, with the warm-up applied."""
        b = self.beta
        if self.warmup > 0:
            b = self.beta_start + (self.beta - self.beta_start) * min(1.0, step / self.warmup)
        if self.objective == "tcvae":
            return 1.0, b, 1.0
        if self.objective == "beta-vae":
            return b, b, b
        return 1.0, 1.0, 1.0

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise RunError(f"unknown configuration keys {sorted(unknown)}")
        return cls(**d).validate()


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


def atomic_write(path, write):
    """Write a file through a temporary sibling and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, obj):
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2) + "\n"))


def read_config(run_dir):
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run folder (no config.json); train one with "
                       f"`pyro-tcvae train --out {run_dir}`")
    try:
        return TrainConfig.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON ({e})") from None


class RunLock:
    """``run_dir/lock`` holds the pid of the process training there; a second process
    is refused (two runs writing one folder corrupt each other's logs and checkpoints).
    A lock left by a process that no longer exists is taken over."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / "lock"
        self.held = False

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pid = self._owner()
                if pid is not None and pid != os.getpid() and _alive(pid):
                    raise RunError(f"another process (pid {pid}) is training in "
                                   f"{self.path.parent}; wait for it or stop it, or use "
                                   f"another --out") from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return self
        raise RunError(f"could not lock {self.path}")

    def _owner(self):
        try:
            return int(self.path.read_text().strip() or -1)
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc):
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def save_checkpoint(run_dir, state):
    state = dict(state, format=CHECKPOINT_FORMAT)
    atomic_write(Path(run_dir) / "checkpoint.pt", lambda p: torch.save(state, p))


def load_checkpoint(run_dir, config=None):
    """Load ``checkpoint.pt``; check that it belongs to ``config`` (if given)."""
    path = Path(run_dir) / "checkpoint.pt"
    if not path.is_file():
        raise RunError(f"no checkpoint in {run_dir}: nothing to resume (start without --resume)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise RunError(f"the checkpoint {path} is corrupt or unreadable ({type(e).__name__}: "
                       f"{e}); remove it to start over, or restore a copy") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path} is not a pyro-tcvae checkpoint")
    if config is not None:
        saved = {**TrainConfig().to_dict(), **state["config"]}  # older runs lack new keys
        now = config.to_dict()
        # the length of the run and the MIG monitor may change on resume; the rest must match
        differ = sorted(k for k in now if k not in ("steps", "epochs", "mig_every", "device")
                        and now[k] != saved[k])
        if differ:
            pairs = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {now[k]!r}" for k in differ)
            raise RunError(f"the checkpoint in {run_dir} was made with other settings ({pairs}); "
                           f"resume with the same options or use another --out")
    return state


class MetricsLog:
    """``metrics.jsonl``: one line per logging interval (step, time, loss, terms).

    ``name="mig.jsonl"``: the MIG monitor's log, same format (one record per line with
    a ``step``)."""

    def __init__(self, run_dir, name="metrics.jsonl"):
        self.path = Path(run_dir) / name

    def truncate(self, last_step):
        """Drop lines written after ``last_step`` (by a run killed after its checkpoint)."""
        if self.path.is_file():
            keep = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line)["step"] <= last_step]
            atomic_write(self.path, lambda p: p.write_text("".join(k + "\n" for k in keep)))

    def append(self, record):
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def read(self):
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
