"""The training loop: ``pyro.infer.SVI`` with the TC-decomposed ELBO, with checkpoints.

>>> from pyro_tcvae.train import TrainConfig, train
>>> summary = train(TrainConfig(dataset="small_sprites", steps=2000), "runs/demo")

Interrupting (Ctrl-C or SIGTERM) finishes the current step, writes a checkpoint and
returns; ``train(..., resume=True)`` continues exactly where it stopped: the batches,
the random numbers, the optimizer state and the log are restored, so the losses are
those of an uninterrupted run with the same seed.
"""

import contextlib
import math
import random
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pyro
import torch
from pyro.infer import SVI
from tqdm.auto import tqdm

from .data import Batches, DSprites, NonlinearFactors, SmallSprites
from .data.ground_truth import View
from .infer import TraceTC_ELBO
from .models import VAE
from .optim import Adam
from .runs import (MetricsLog, RunError, RunLock, TrainConfig, check_device,
                   load_checkpoint, read_config, save_checkpoint, write_json)

TERMS = ("elbo", "log_likelihood", "mi", "tc", "dwkl", "kl")


def make_dataset(config, progress=True):
    """The ground-truth dataset a configuration names."""
    if config.dataset == "dsprites":
        return DSprites(path=config.dsprites_path, progress=progress)
    if config.dataset == "small_sprites":
        return SmallSprites()
    return NonlinearFactors()


def make_model(config, x_shape, dataset_size):
    """The VAE a configuration describes, for observations of shape ``x_shape``."""
    vector = len(x_shape) == 1
    return VAE(
        x_shape=x_shape, z_dim=config.z_dim,
        arch=config.arch or ("small_mlp" if vector else "mlp"),
        latent=config.latent, prior=config.prior,
        likelihood=config.likelihood or ("gaussian" if vector else "bernoulli"),
        dataset_size=dataset_size, precision=config.precision,
    )


def make_svi(config, vae):
    """(svi, elbo): ``pyro.infer.SVI`` with the configured ELBO and Adam."""
    elbo = TraceTC_ELBO(*config.weights(0), estimator=config.estimator)
    optim = Adam(lr=config.lr, fused=None if config.fused else False)
    return SVI(vae.model, vae.guide, optim, loss=elbo), elbo


class MIGMonitor:
    """MIG of a fixed subset every ``config.mig_every`` minutes of training time.

    The subset (``config.mig_items`` items drawn with ``config.seed``) and the MIG's
    own seed are fixed, so successive values differ only through the model.  Records
    go to ``run_dir/mig.jsonl``: step, epoch, training time (s), score, stderr, gaps,
    and the seconds the evaluation took (not counted as training time).
    """

    def __init__(self, config, data, run_dir):
        self.interval = 60.0 * config.mig_every
        self.log = MetricsLog(run_dir, "mig.jsonl")
        self.data, self.config = data, config
        self.items = None

    def next_after(self, elapsed):
        """Training time (s) of the first evaluation after ``elapsed``."""
        return (math.floor(elapsed / self.interval) + 1) * self.interval

    def __call__(self, vae, step, epoch, elapsed):
        from .metrics import mig  # metrics import the models; keep train import light
        if self.items is None:
            g = torch.Generator().manual_seed(self.config.seed)
            n = min(self.config.mig_items, len(self.data))
            self.items = View(self.data, torch.randperm(len(self.data), generator=g)[:n])
        t = time.perf_counter()
        result = mig(model=vae, data=self.items, num_samples=min(10_000, len(self.items)),
                     max_components=None, seed=self.config.seed, progress=False)
        record = {"step": step, "epoch": epoch, "time": elapsed, "mig": result.score,
                  "stderr": result.stderr, "gaps": result.gaps,
                  "eval_seconds": time.perf_counter() - t}
        self.log.append(record)
        return record


def total_steps(config, batches_per_epoch):
    if config.steps is not None:
        return int(config.steps)
    return max(1, math.ceil((config.epochs or 1.0) * batches_per_epoch))


def _rng_state():
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": np.random.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state):
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _Interrupts:
    """Turn SIGINT / SIGTERM into a flag checked between steps (main thread only)."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signal = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _flush_denormals():
    """Denormal floats (e.g. exp of the logits of confidently empty pixels, below e^-87)
    take a slow path on x86 CPUs; flushing them to zero changes no reported digit.
    Switched off again when training ends, also by an exception."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _tensorboard(run_dir, step):
    """A TensorBoard writer when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=step or None)


def train(config, run_dir, resume=False, progress=True, data=None, echo=print):
    """Train a VAE as ``config`` says, in the folder ``run_dir``.

    Parameters
    ----------
    config : TrainConfig or None
        None with ``resume=True`` reuses the run's saved configuration.
    run_dir : path
    resume : bool
        Continue from ``run_dir/checkpoint.pt``.
    data : GroundTruthData, optional
        The dataset (default: built from the config).

    Returns
    -------
    dict: ``step``, ``steps``, ``interrupted`` (a signal stopped it), ``elapsed``
    seconds of training (over all sessions), and the last logged ``terms``.
    """
    run_dir = Path(run_dir)
    # every configuration error comes before anything is written
    if resume:
        saved = read_config(run_dir)
        config = saved if config is None else config.validate()
    elif config is None:
        raise RunError("a configuration is needed to start a run")
    else:
        config.validate()
    with RunLock(run_dir):  # creates run_dir
        return _train(config, run_dir, resume, progress, data, echo)


def _train(config, run_dir, resume, progress, data, echo):
    """The body of :func:`train`: ``config`` is valid and ``run_dir`` locked."""
    if resume:
        state = load_checkpoint(run_dir, config)
    else:
        if (run_dir / "checkpoint.pt").exists() or (run_dir / "model.pt").exists():
            raise RunError(f"{run_dir} already holds a run: pass --resume to continue it, or "
                           f"choose another --out")
        state = None
    write_json(run_dir / "config.json", config.to_dict())

    data = make_dataset(config, progress) if data is None else data
    pyro.clear_param_store()
    pyro.set_rng_seed(config.seed)
    device = check_device(config.device)
    vae = make_model(config, data.image_shape, len(data)).to(device)
    loader = Batches(data, config.batch_size, shuffle=True, seed=config.seed,
                     drop_last=config.batch_size <= len(data))
    if len(loader) == 0:
        raise RunError(f"batch_size {config.batch_size} is larger than the dataset ({len(data)})")
    steps = total_steps(config, len(loader))
    svi, elbo = make_svi(config, vae)
    optim = svi.optim
    log = MetricsLog(run_dir)
    monitor = MIGMonitor(config, data, run_dir) if config.mig_every > 0 else None
    step, elapsed, acc = 0, 0.0, {"n": 0, "loss": 0.0, **{k: 0.0 for k in TERMS}}
    if state is not None:
        vae.load_state_dict(state["model"])
        optim.set_state(state["optim"])
        step, elapsed, acc = state["step"], state["elapsed"], state["log_state"]
        _set_rng_state(state["rng"])
        log.truncate(step)
    else:
        log.truncate(-1)
    if monitor is not None:
        monitor.log.truncate(step)
        next_eval = monitor.next_after(elapsed)

    def checkpoint():
        save_checkpoint(run_dir, {
            "config": config.to_dict(), "step": step, "elapsed": elapsed,
            "model": vae.state_dict(), "optim": optim.get_state(), "rng": _rng_state(),
            "log_state": dict(acc), "x_shape": list(data.image_shape), "dataset_size": len(data),
        })

    last = None
    board = _tensorboard(run_dir, step)
    bar = tqdm(total=steps, initial=min(step, steps), desc="training", disable=not progress,
               unit="step", dynamic_ncols=True)
    interrupted = None
    with _flush_denormals(), _Interrupts() as stop:
        t_start = time.perf_counter()
        while step < steps and stop.signal is None:
            epoch, pos = divmod(step, len(loader))
            for x, idx in loader.epoch_batches(epoch, start=pos):
                elbo.alpha, elbo.beta, elbo.gamma = config.weights(step)
                if device.type != "cpu":
                    x, idx = x.to(device, non_blocking=True), idx.to(device, non_blocking=True)
                loss = svi.step(x, idx) / len(data)
                step += 1
                now = elapsed + time.perf_counter() - t_start  # this step's training time
                terms = elbo.last_terms
                acc["n"] += 1
                acc["loss"] += loss
                for k in TERMS:
                    acc[k] += terms[k]
                if step % config.log_every == 0 or step == steps:
                    last = {"step": step, "epoch": step / len(loader), "time": now,
                            "beta": config.weights(step - 1)[1],
                            **{k: acc[k] / acc["n"] for k in ("loss", *TERMS)}}
                    log.append(last)
                    if board is not None:
                        for k in ("loss", "beta", *TERMS):
                            board.add_scalar(k, last[k], step)
                    acc = {"n": 0, "loss": 0.0, **{k: 0.0 for k in TERMS}}
                    bar.set_postfix(loss=f"{last['loss']:.2f}", mi=f"{last['mi']:.2f}",
                                    tc=f"{last['tc']:.3f}")
                bar.update()
                if monitor is not None and now >= next_eval:
                    rec = monitor(vae, step, step / len(loader), now)
                    echo(f"step {step}, {now / 60:.1f} min of training: MIG {rec['mig']:.4f} "
                         f"+- {rec['stderr']:.4f}")
                    elapsed, t_start = now, time.perf_counter()  # evaluation time excluded
                    next_eval = monitor.next_after(elapsed)
                if step % config.checkpoint_every == 0 or stop.signal is not None \
                        or step == steps:
                    elapsed += time.perf_counter() - t_start
                    t_start = time.perf_counter()
                    checkpoint()
                if stop.signal is not None or step >= steps:
                    break
        interrupted = stop.signal
    bar.close()
    if board is not None:
        board.close()
    if interrupted is None:
        vae.save(run_dir / "model.pt")
    else:
        echo(f"interrupted at step {step} of {steps}; checkpoint saved. Continue with: "
             f"pyro-tcvae train --out {run_dir} --resume")
    return {"step": step, "steps": steps, "interrupted": interrupted is not None,
            "elapsed": elapsed, "terms": last, "run_dir": str(run_dir)}


def load_model(run_dir):
    """(model, config) of a run: ``model.pt``, else the latest checkpoint."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if (run_dir / "model.pt").is_file():
        return VAE.load(run_dir / "model.pt"), config
    state = load_checkpoint(run_dir)
    vae = make_model(config, tuple(state["x_shape"]), state["dataset_size"])
    vae.load_state_dict(state["model"])
    return vae, config
