"""Score the metric suite again for a study's records, from the codes files kept beside
them (``<run>.codes.npz``): no model, no dataset (``pyro-tcvae report --rescore``)."""

import json
import time
from pathlib import Path

from ..metrics.suite import SUITE, load_codes, score_codes
from ..runs.config import RunError
from ..runs.folder import write_json
from .record import git_commit


def rescore(results_dir, metrics=SUITE, echo=print):
    """Compute the metric suite again for every record of a study folder that has a
    codes file beside it, from that file alone (no model, no dataset), and write the
    results into the records (``eval.suite``; ``eval_uniform.suite`` from
    ``<run>.uniform.codes.npz``), each with ``rescored``: the code's commit and the
    time.  Returns how many records were rewritten."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise RunError(f"no study results in {folder}: run pyro-tcvae study FILE first")
    commit, done = git_commit(), 0
    for path in sorted(folder.glob("*.json")):
        if path.name == "study.json":
            continue
        rec = None
        for key, suffix in (("eval", ".codes.npz"), ("eval_uniform", ".uniform.codes.npz")):
            codes_path = path.with_name(path.stem + suffix)
            if not codes_path.is_file():
                continue
            rec = rec or json.loads(path.read_text())
            if not rec.get(key):
                echo(f"{codes_path.name}: the record has no {key!r}, left as it is")
                continue
            codes = load_codes(codes_path)
            suite = score_codes(codes, metrics, errors="record")
            suite["items"] = len(codes["loc"])
            suite["rescored"] = {"commit": commit, "created": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            rec[key]["suite"] = suite
        if rec is not None:
            write_json(path, rec)
            done += 1
    echo(f"{folder.name}: the suite scored again for {done} record{'s' * (done != 1)} from "
         f"their codes files")
    return done
