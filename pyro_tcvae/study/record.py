"""A study's records: one small JSON file per finished run, and each run's state.

A record (``<results>/<study>/<run>.json``) holds the run's configuration, the git commit
of the code that ran it, MIG with its SE and per-factor gaps, the histogram MIG, the
full-dataset decomposition with SEs, training and evaluation time, the MIG monitor's
readings, the restarts' candidates, and with the metric suite its results.  A record
marks its run done; one made by another configuration than the plan asks for now is
a "mismatch", neither reused nor overwritten unless asked.
"""

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..runs.config import TrainConfig
from ..runs.folder import read_json, write_json
from ..runs.host import cpu_has_bf16
from .plan import config_key, evaluate_key

RECORD_VERSION = 1


def record_path(results, name):
    """Where the record of the run ``name`` lives in the study folder ``results``."""
    return Path(results) / f"{name}.json"


def read_record(path):
    """A record's dict, or None when the file is unreadable (reported by the caller)."""
    return read_json(path)


def write_record(results, record):
    """Write ``record`` (:func:`make_record`'s) into the study folder ``results``,
    atomically: the run is done once its record is there."""
    write_json(record_path(results, record["run"]), record)


def status(study, results):
    """Each run's state: (name, config, state) with state "done", "missing",
    "mismatch" (a record of another configuration) or "damaged"."""
    out = []
    for name, cfg in study.runs:
        path = record_path(results, name)
        if not path.is_file():
            out.append((name, cfg, "missing"))
            continue
        rec = read_record(path)
        if rec is None or "config" not in rec:
            out.append((name, cfg, "damaged"))
        elif config_key(TrainConfig.from_dict(rec["config"])) != config_key(cfg) or \
                evaluate_key(rec.get("evaluate")) != evaluate_key(study.evaluate):
            out.append((name, cfg, "mismatch"))
        else:
            out.append((name, cfg, "done"))
    return out


def differences(record_config, config):
    """The options where a record's configuration differs from the study's, as text."""
    a, b = config_key(TrainConfig.from_dict(record_config)), config_key(config)
    return ", ".join(f"{k}: record {a.get(k)!r}, study {b.get(k)!r}"
                     for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


#: Names the commit of a copy of the code that has no git repository beside it (a
#: working tree sent to another machine, e.g. by ``studies/device_study.sh``).
ENV_COMMIT = "PYRO_TCVAE_COMMIT"


def git_commit():
    """The repository's commit (with '+dirty' for uncommitted changes); where the code
    is not in a git checkout, ``$PYRO_TCVAE_COMMIT`` (or None)."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        sha = ""
    if not sha:
        return os.environ.get(ENV_COMMIT) or None
    return sha + ("+dirty" if dirty.strip() else "")


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
                monitor=None, restarts=None, sessions=None):
    """The JSON record of one finished run (``commit``: of the code that ran it;
    default the repository's now; ``monitor``: the MIG monitor's readings, step, epoch,
    training time in seconds, MIG and its SE, the training loss and (in records made
    since the monitor computes them) the subset's ELBO and its decomposition, when the
    run had ``mig_every`` or ``mig_at``; ``restarts``: the
    candidates' scores and the choice, when it had restarts; ``sessions``: each process
    that trained the run (one, or several for a run resumed in another session): the
    step it started from, its commit, CPU, device and time).  ``host.threads`` is
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
        **({"sessions": sessions} if sessions else {}),
        "digest": hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True)
                                 .encode()).hexdigest()[:16],
    }
