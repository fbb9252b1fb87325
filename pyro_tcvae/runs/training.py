"""The training loop: ``pyro.infer.SVI`` with the TC-decomposed ELBO, with checkpoints.

>>> from pyro_tcvae.runs import TrainConfig, train
>>> run = train(TrainConfig(dataset="small_sprites", steps=2000), "runs/demo")

Interrupting (Ctrl-C or SIGTERM) finishes the current step, writes a checkpoint and
returns; ``train(..., resume=True)`` continues exactly where it stopped: the batches,
the random numbers, the optimizer state and the log are restored, so the losses are
those of an uninterrupted run with the same seed.
"""

import contextlib
import math
import signal
import threading
import time

import pyro
import pyro.util
import torch
from pyro.infer.util import is_validation_enabled
from tqdm.auto import tqdm

from ..data import Batches, View
from .build import check_fits, fresh_model, make_dataset, make_svi
from .config import RunError, check_device, parse_epochs, parse_every
from .evaluate import mig_and_decomposition, set_aside_results
from .folder import RunFolder
from .host import ThreadGovernor, bf16_warning, flush_denormals, reuse_freed_memory
from .parallel import Ranks, lost_contact
from .registry import OBJECTIVES, TC_WEIGHTS
from .restarts import train_restarts

TERMS = ("elbo", "log_likelihood", "kl", "mi", "tc", "dwkl")  # a reading's decomposition


class MIGMonitor:
    """MIG of a fixed subset on the schedule of ``config.mig_every`` (minutes of
    training time, steps or epochs) and at the epochs of ``config.mig_at``.

    The subset (``config.mig_items`` items drawn with ``config.seed``) and the MIG's
    own seed are fixed, so successive values differ only through the model.  Records
    go to ``mig.jsonl``: step, epoch, training time (s), score, stderr, gaps, the
    seconds the evaluation took (not counted as training time), the ELBO and its
    decomposition on the same subset (:data:`TERMS`, nats per item, from the same
    samples as the MIG: ``elbo_stderr`` its standard error) and the training loss of
    the last logged interval (``loss``, ``loss_step``).
    """

    def __init__(self, config, data, log, steps_per_epoch):
        self.log, self.data, self.config = log, data, config
        self.items = None
        every = parse_every(config.mig_every)
        self.minutes = every[1] if every and every[0] == "minutes" else None
        self.every_steps = (every[1] if every and every[0] == "steps" else
                            every[1] * steps_per_epoch if every and every[0] == "epochs"
                            else None)
        self.at_steps = sorted({max(1, math.ceil(round(e * steps_per_epoch, 6)))
                                for e in parse_epochs(config.mig_at)})
        self.next_time = math.inf

    @classmethod
    def wanted(cls, config):
        return parse_every(config.mig_every) is not None or bool(parse_epochs(config.mig_at))

    def restart(self, elapsed):
        """Set the next reading by time after ``elapsed`` s of training."""
        if self.minutes is not None:
            interval = 60.0 * self.minutes
            self.next_time = (math.floor(elapsed / interval) + 1) * interval

    def due(self, step, now):
        """Whether a reading is due after ``step`` steps and ``now`` s of training."""
        if now >= self.next_time or step in self.at_steps:
            return True
        if self.every_steps is not None:  # the step at which the k-th interval ends
            k = math.floor(round(step / self.every_steps, 9))
            return k >= 1 and math.ceil(round(k * self.every_steps, 6)) == step
        return False

    def __call__(self, vae, step, epoch, elapsed, last=None):
        from ..metrics import encode_dataset

        if self.items is None:
            g = torch.Generator().manual_seed(self.config.seed)
            n = min(self.config.mig_items, len(self.data))
            self.items = View(self.data, torch.randperm(len(self.data), generator=g)[:n])
        t = time.perf_counter()
        post = encode_dataset(vae, self.items, progress=False)  # once, for MIG and the ELBO
        result, terms = mig_and_decomposition(  # every item a component
            vae, self.items, post, min(10_000, len(self.items)), None, self.config.seed,
            progress=False)
        record = {"step": step, "epoch": epoch, "time": elapsed, "mig": result.score,
                  "stderr": result.stderr, "gaps": result.gaps,
                  **{k: terms[k] for k in TERMS}, "elbo_stderr": terms["stderr"]["elbo"],
                  "eval_seconds": time.perf_counter() - t,
                  **({"loss": last["loss"], "loss_step": last["step"]} if last else {})}
        self.log.append(record)
        return record


def rng_state():
    """Every random state a step draws from: Pyro's (torch, Python, numpy) and CUDA's."""
    state = pyro.util.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    if "python" in state:  # checkpoints written before Pyro's helpers were used
        state = {**state, "random": state["python"]}
    pyro.util.set_rng_state(state)
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


def _tensorboard(path, step):
    """A TensorBoard writer when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(path / "tensorboard"), purge_step=step or None)


def train(config, run_dir, resume=False, progress=True, data=None, echo=print):
    """Train a VAE as ``config`` says, in the folder ``run_dir``.

    Every check that can fail (the configuration, the folder, the checkpoint, the
    dataset) runs before anything is written.  With ``config.restarts = K`` the run
    trains K candidates briefly and goes on with the one of lowest total correlation
    (``pyro_tcvae.runs.restarts``).

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
    seconds of training (over all sessions), the last logged ``terms`` (minibatch
    estimates), ``model`` (the trained VAE) and ``data``, for evaluation and plots
    without building them again.
    """
    folder = RunFolder(run_dir)
    if resume:
        saved = folder.read_config()
        config = saved if config is None else config.validate()
    elif config is None:
        raise RunError("a configuration is needed to start a run")
    else:
        config = config.validate()
    if config.restarts:
        return train_restarts(config, run_dir, _train_one, resume=resume, progress=progress,
                              data=data, echo=echo)
    return _train_one(config, run_dir, resume, progress, data, echo)


def _train_one(config, run_dir, resume=False, progress=True, data=None, echo=print):
    """:func:`train` of one run folder, without restarts (``config`` validated)."""
    folder = RunFolder(run_dir)
    ranks = Ranks.from_env(config.device)
    ranks.check(config)
    _on_main(ranks, lambda: folder.check_writable(new_run=not resume))
    state = folder.load_checkpoint(config) if resume else None
    if state is not None and state.get("world_size", 1) != ranks.world:
        raise RunError(f"{folder} was trained on {state.get('world_size', 1)} process(es) and "
                       f"this is {ranks.world}: each process draws its own random numbers, so "
                       f"only the same number resumes exactly; resume with "
                       f"{state.get('world_size', 1)}")
    data = make_dataset(config, progress) if data is None else data
    check_fits(config, data)
    device = ranks.device(check_device(config.device))
    vae = fresh_model(config, data, device)
    warning = bf16_warning(config.precision, device)
    if warning and ranks.main:
        echo(warning)
    if ranks.active:  # the same initial weights on every rank, then its own draws
        pyro.set_rng_seed(config.seed + 7919 * ranks.rank)
    with (folder.lock() if ranks.main else contextlib.nullcontext()):
        def start():
            if state is None and folder.holds_run():  # another process got here first
                raise RunError(f"{folder} already holds a run: pass --resume to continue it")
            folder.write_config(config)

        _on_main(ranks, start)
        summary = _train(config, folder, state, data, vae, device, progress and ranks.main,
                         echo if ranks.main else (lambda *a, **k: None), ranks)
    return {**summary, "model": vae, "data": data}


def _on_main(ranks, fn):
    """Run ``fn`` on rank 0; a RunError there is raised on every rank (so no rank waits
    for a partner that gave up)."""
    problem = None
    if ranks.main:
        try:
            fn()
        except RunError as e:
            problem = str(e)
    problems = [p for p in ranks.gather(problem) if p]
    if problems:
        raise RunError(problems[0])


def _train(config, folder, state, data, vae, device, progress, echo, ranks=None):
    """The body of :func:`train`: everything checked, ``folder`` locked (by rank 0)."""
    ranks = ranks or Ranks()
    try:
        return _loop(config, folder, state, data, vae, device, progress, echo, ranks)
    except RuntimeError as e:
        if ranks.active and not isinstance(e, RunError):
            raise lost_contact(ranks, None, e, folder.path) from None
        raise


def _loop(config, folder, state, data, vae, device, progress, echo, ranks):
    objective = OBJECTIVES[config.objective]
    per_step = objective.batches_per_step
    loader = Batches(data, config.batch_size, shuffle=True, seed=config.seed, drop_last=True,
                     part=ranks.part if ranks.active else None)
    steps_per_epoch = config.steps_per_epoch(len(loader))
    steps = config.total_steps(steps_per_epoch)
    svi, elbo = make_svi(config, vae, len(data), total_steps=steps)
    optim = svi.optim
    if ranks.active:  # average the gradients over the ranks before each optimizer step,
        params = list(vae.parameters())  # in one fixed order on every rank
        optim.before_step = lambda step_params: ranks.average_gradients(params)
    main = ranks.main
    log = folder.metrics
    monitor = (MIGMonitor(config, data, folder.mig_log, steps_per_epoch)
               if main and MIGMonitor.wanted(config) else None)
    step, elapsed, acc = 0, 0.0, _zero_acc()
    if state is not None:
        vae.load_state_dict(state["model"])
        optim.set_state(state["optim"])
        step, elapsed, acc = state["step"], state["elapsed"], state["log_state"]
        if hasattr(elbo, "load_state_dict"):
            elbo.load_state_dict(state.get("objective", {}))
        set_rng_state(state["rng_ranks"][ranks.rank] if ranks.active else state["rng"])
    if main:
        log.truncate(step)
        if state is not None and step < steps:  # the model will change: its old results go
            moved = set_aside_results(folder)
            if moved:
                echo("the evaluation and figures of the model at step "
                     f"{step} are set aside as {', '.join(p.name for p in moved)} (a newer "
                     "model is on its way)")
    if monitor is not None:
        monitor.log.truncate(step)
        monitor.restart(elapsed)

    def checkpoint():
        rngs = ranks.gather(rng_state())  # every rank's random state, for an exact resume
        if main:
            folder.save_checkpoint({
                "config": config.to_dict(), "step": step, "elapsed": elapsed,
                "model": vae.state_dict(), "optim": optim.get_state(), "rng": rngs[0],
                "log_state": dict(acc), "x_shape": list(data.image_shape),
                "dataset_size": len(data),
                "objective": elbo.state_dict() if hasattr(elbo, "state_dict") else {},
                "world_size": ranks.world, **({"rng_ranks": rngs} if ranks.active else {}),
            })

    last, mig_text = None, None
    board = _tensorboard(folder.path, step) if main else None
    bar = tqdm(total=steps, initial=min(step, steps), desc="training", disable=not progress,
               unit="step", dynamic_ncols=True)
    # The first step runs with Pyro's validation as the caller has it (every check of
    # the model, the guide and the data); the model's structure and the dataset's kind
    # of data do not change, so the rest run without (restored on exit).
    with pyro.validation_enabled(is_validation_enabled()), reuse_freed_memory(), \
            flush_denormals(), ThreadGovernor(config.threads) as governor, \
            _Interrupts() as stop:
        t_start, first_step = time.perf_counter(), step
        stopping = False
        while step < steps and not stopping:
            epoch, pos = divmod(step, steps_per_epoch)
            batches = loader.epoch_batches(epoch, start=pos * per_step)
            for _ in range(pos, steps_per_epoch):
                group = [next(batches) for _ in range(per_step)]
                if device.type != "cpu":
                    group = [(x.to(device, non_blocking=True), idx.to(device, non_blocking=True))
                             for x, idx in group]
                (x, idx), extra = group[0], {}
                if per_step == 2:
                    extra["second_batch"] = group[1]
                objective.at_step(elbo, config, step)
                loss = svi.step(x, idx, **extra) / len(data)
                if ranks.active:  # the mean over every rank's datapoints
                    loss = elbo.last_terms["loss"] / len(data)
                if step == first_step:
                    pyro.enable_validation(False)
                step += 1
                now = elapsed + time.perf_counter() - t_start  # this step's training time
                governor.tick()
                acc["n"] += 1
                acc["loss"] += loss
                for k, v in elbo.last_terms.items():
                    if k != "loss":
                        acc[k] = acc.get(k, 0.0) + v
                stopping = ranks.any(stop.signal is not None)  # the same step on every rank
                if step % config.log_every == 0 or step == steps:
                    last = {"step": step, "epoch": step / steps_per_epoch, "time": now,
                            "threads": governor.threads,
                            **({"beta": config.weights(step - 1)[1]}
                               if config.objective in TC_WEIGHTS else {}),
                            **{k: v / acc["n"] for k, v in acc.items() if k != "n"}}
                    if main:
                        log.append(last)
                    if board is not None:
                        for k, v in last.items():
                            if k not in ("step", "epoch", "time", "threads"):
                                board.add_scalar(k, v, step)
                    acc = _zero_acc()
                    bar.set_postfix_str(_postfix(last, mig_text, governor), refresh=False)
                bar.update()
                if monitor is not None and monitor.due(step, now):
                    rec = monitor(vae, step, step / steps_per_epoch, now, last)
                    mig_text = f"MIG(subset) {rec['mig']:.3f}"
                    echo(f"step {step} (epoch {step / steps_per_epoch:.3g}), {now / 60:.1f} "
                         f"min of training: MIG of the fixed subset {rec['mig']:.4f} +- "
                         f"{rec['stderr']:.4f}")
                    elapsed, t_start = now, time.perf_counter()  # evaluation time excluded
                    monitor.restart(elapsed)
                if step % config.checkpoint_every == 0 or stopping or step == steps:
                    elapsed += time.perf_counter() - t_start
                    t_start = time.perf_counter()
                    checkpoint()
                if stopping or step >= steps:
                    break
        interrupted = stop.signal
        if interrupted is None and stopping:
            interrupted = "another process"
    bar.close()
    if board is not None:
        board.close()
    if interrupted is None:
        if main:
            vae.save(folder.model_path)
    else:
        more = f" --nproc {ranks.world}" if ranks.active else ""
        echo(f"interrupted at step {step} of {steps}; checkpoint saved. Continue with: "
             f"pyro-tcvae train --out {folder} --resume{more}")
    ranks.barrier()  # no rank exits before rank 0 has written and said everything
    return {"step": step, "steps": steps, "interrupted": interrupted is not None,
            "elapsed": elapsed, "terms": last, "run_dir": str(folder),
            "thread_changes": governor.changes}


def _zero_acc():
    return {"n": 0, "loss": 0.0}


def _postfix(last, mig_text, governor):
    """The progress bar's text: the minibatch estimates, labelled as such (the
    minibatch TC is biased low when the batch is much smaller than the dataset)."""
    parts = [f"batch estimates: elbo {last['elbo']:.2f} tc {last['tc']:.3f}"]
    if mig_text:
        parts.append(mig_text)
    if governor.threads < governor.max_threads:
        parts.append(f"threads {governor.threads} (cores busy elsewhere)")
    return ", ".join(parts)
