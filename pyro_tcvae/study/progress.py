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
        e.g. ``"training now (pid 4242): step 1950 of 18000 (11%), epoch 5.4; MIG
        (subset) 0.056 at epoch 5, ELBO -114.1"``, or ``"stopped at step 1950 ...;
        the same command resumes it"``, or ``"trained; the study evaluates and records
        it next"``.
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
        where = f"step {step}"
        if config.steps is not None:
            where += f" of {config.steps} ({100 * step / config.steps:.0f}%)"
        elif epoch and config.epochs:
            total = round(step / epoch * config.epochs)
            where += f" of {total} ({100 * epoch / config.epochs:.0f}%)"
        if epoch is not None:
            where += f", epoch {epoch:.1f}"
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
