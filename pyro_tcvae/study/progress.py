"""Where a study's unfinished run stands, from its run folder alone: for ``pyro-tcvae
study --status``, so that a run of hours can be watched (or found stopped) without
opening its folder.  Nothing is loaded but the run's small logs (not its checkpoint)."""

from ..runs.folder import RunFolder


def run_progress(path, config):
    """One line on the training of the run in folder ``path``, or None where the folder
    holds nothing (the run has not started).

    Parameters
    ----------
    path : path
        The run's folder (``<work>/<study>/<run>``).
    config : TrainConfig
        The run's configuration in the study (for its length in steps or epochs).

    Returns
    -------
    str or None
        e.g. ``"training now (pid 4242): step 1950 of 18000 (11%), epoch 5.4, 2 h 46
        min to go at 0.62 s/step; MIG (subset) 0.056 at epoch 5, ELBO -114.1"``, or
        ``"stopped at step 1950 ...; the same command resumes it"``, or ``"trained;
        the study evaluates and records it next"``.
    """
    folder = RunFolder(path)
    if not folder.path.is_dir() or not (folder.holds_run() or folder.config_path.is_file()):
        return None
    pid = folder.trainer()
    if folder.model_path.is_file():
        return ("trained; being evaluated now" if pid else
                "trained; the study evaluates and records it next")
    logged = folder.metrics.read()
    state = f"training now (pid {pid})" if pid else "stopped"
    if not logged:
        where = "before its first log line"
    else:
        last = logged[-1]
        step, epoch = last["step"], last.get("epoch")
        where, total = f"step {step}", None
        if config.steps is not None or epoch:  # the run's length as the trainer counts it
            total = config.total_steps(round(step / epoch) if epoch else 1)
        if total:
            where += f" of {total} ({100 * step / total:.0f}%)"
        if epoch is not None:
            where += f", epoch {epoch:.1f}"
        pace = _seconds_per_step(logged)
        if total and pace and total > step:
            where += f", {_duration(pace * (total - step))} to go at {pace:.2f} s/step"
    line = f"{state}: {where}" if pid else \
        (f"{state} at {where}" if logged else f"{state} {where}")
    readings = folder.mig_log.read()
    if readings:
        r = readings[-1]
        line += f"; MIG (subset) {r['mig']:.3f} at epoch {r.get('epoch', 0):.3g}"
        if "elbo" in r:
            line += f", ELBO {r['elbo']:.1f}"
    if not pid:
        line += ("; the same command resumes it from its last checkpoint"
                 if folder.checkpoint_path.is_file() else "; no checkpoint yet: it starts over")
    return line


def _seconds_per_step(logged, lines=10):
    """The training pace over the last ``lines`` log intervals (seconds a step), from
    the logs' ``time`` (training seconds, so a pause between sessions does not count);
    None with fewer than two lines."""
    recent = [r for r in logged[-(lines + 1):] if "time" in r]
    if len(recent) < 2 or recent[-1]["step"] <= recent[0]["step"]:
        return None
    return (recent[-1]["time"] - recent[0]["time"]) / (recent[-1]["step"] - recent[0]["step"])


def _duration(seconds):
    """"2 h 05 min", "7 min", "40 s"."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
