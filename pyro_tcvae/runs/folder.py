"""Run folders: everything that reads or writes one.

A run folder holds ``config.json``, ``checkpoint.pt`` (the latest training state),
``metrics.jsonl`` (one JSON line per logging interval), ``mig.jsonl`` (the MIG
monitor's readings), ``sessions.jsonl`` (where a study trained it: the step each
process started from, its commit and CPU), ``model.pt`` (the trained model, see
:meth:`pyro_tcvae.models.VAE.save`), ``eval.json``, ``figures/`` and, while a process
trains there, ``lock``.  Every command after ``train`` takes the run folder.

Files are written atomically (a temporary sibling, flushed to disk, renamed into
place), so a crash leaves the previous version intact; temporary files left by a
killed process are removed when the folder is next locked.  A checkpoint carries a
SHA-256 of its content, checked on load.  File-system errors (a path that is a file,
a read-only file system, a full disk) become one-line :class:`RunError` messages
naming the path and the fix.
"""

import contextlib
import contextvars
import errno
import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import torch

from .. import files
from .config import RESUMABLE, RunError, TrainConfig, saved_options

CHECKPOINT_MAGIC = b"pyro_tcvae.checkpoint/2\n"
LEGACY_CHECKPOINT_FORMAT = "pyro_tcvae.checkpoint/1"  # a plain torch.save, no checksum


# ---------------------------------------------------------------------- file system
# the command-line option a file-system error tells the user to change: --out for a
# run; a study sets --work around its run folders and --results around its records
_OPTION = contextvars.ContextVar("pyro_tcvae_folder_option", default="--out")


@contextlib.contextmanager
def naming_option(option):
    """Within the block, file-system errors (:func:`describe_os_error`,
    :meth:`RunFolder.check_writable`) name ``option`` as the one to change instead of
    ``--out``: a study's run folders come from ``--work``, its records from
    ``--results``."""
    token = _OPTION.set(option)
    try:
        yield
    finally:
        _OPTION.reset(token)


@contextlib.contextmanager
def fs_errors(path, doing="write"):
    """Turn the file-system errors a user can cause into a one-line RunError."""
    try:
        yield
    except OSError as e:
        raise RunError(describe_os_error(e, path, doing)) from None


def describe_os_error(e, path, doing="write"):
    """A one-line description of an OSError on ``path`` with the fix (the option to
    change: ``--out`` unless :func:`naming_option` says otherwise)."""
    where, out = f"cannot {doing} {path}", _OPTION.get()
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"{where}: no space left on the device. Free some space (the previous files "
                f"are intact) or choose another {out}")
    if e.errno == errno.EROFS:
        return f"{where}: the file system is read-only; choose another {out}"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{where}: permission denied; choose another {out} or fix the permissions"
    if e.errno in (errno.EEXIST, errno.ENOTDIR):
        return f"{where}: a file of that name (or above it) is in the way; choose another {out}"
    return f"{where}: {e.strerror or e}"


def check_can_write(path, option="--out"):
    """Refuse, before anything is written, a folder ``path`` that cannot be made or
    written: a file in the way (at ``path`` or above it) or a read-only or unwritable
    place.  ``option`` is the command-line option the error tells the user to change
    (``--out`` for a run, ``--results`` / ``--work`` for a study)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise RunError(f"{option} {p} is a file, not a folder: choose another {option}")
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise RunError(f"{option} {p}: {probe} is a file, not a folder: choose another "
                       f"{option}")
    if not os.access(probe, os.W_OK | os.X_OK):
        why = "the file system is read-only" if _read_only(probe) else "permission denied"
        raise RunError(f"cannot write in {probe} ({why}): choose another {option}")


def atomic_write(path, write):
    """Write ``path`` through a temporary sibling: ``write(f)`` gets a binary file.

    The data is flushed to disk before the rename, so ``path`` holds either the old
    or the new content, never a part (:func:`pyro_tcvae.files.atomic_write`); a
    file-system error becomes a RunError.
    """
    with fs_errors(path):
        files.atomic_write(path, write, sync=True)


def write_json(path, obj):
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def write_text(path, text):
    atomic_write(path, lambda f: f.write(text.encode()))


def read_json(path, error=None):
    """The content of the JSON file ``path``; None when it is missing, unreadable or not
    JSON, or (with ``error``) ``raise error(e)``, ``error`` a function of the OSError or
    ValueError that returns the exception to raise."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        if error is None:
            return None
        raise error(e) from None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------- the folder
class RunFolder:
    """The files of one run.  ``RunFolder(path)`` touches nothing."""

    def __init__(self, path):
        self.path = Path(path)
        self.config_path = self.path / "config.json"
        self.checkpoint_path = self.path / "checkpoint.pt"
        self.model_path = self.path / "model.pt"
        self.eval_path = self.path / "eval.json"
        self.figures = self.path / "figures"
        self.metrics = MetricsLog(self.path / "metrics.jsonl")
        self.mig_log = MetricsLog(self.path / "mig.jsonl")
        self.sessions = MetricsLog(self.path / "sessions.jsonl")

    def __str__(self):
        return str(self.path)

    def holds_run(self):
        """A checkpoint, a model, or the candidates of a run with restarts."""
        return self.checkpoint_path.exists() or self.model_path.exists() or \
            (self.path / "candidates").exists()

    def trainer(self):
        """The pid of another live process training in this folder (its ``lock``), or
        None."""
        return _live_owner(self.path / "lock")

    # ------------------------------------------------------------------ checks
    def check_writable(self, new_run):
        """Refuse, before anything is written, a folder that cannot hold a run:
        a file in the way, a read-only or unwritable place, or (``new_run``) a
        folder that already holds a run."""
        p = self.path
        check_can_write(p, _OPTION.get())
        owner = self.trainer()
        if owner is not None:
            raise _busy(p, owner)
        if new_run and self.holds_run():
            raise RunError(f"{p} already holds a run: pass --resume to continue it, or "
                           f"choose another {_OPTION.get()}")

    # ------------------------------------------------------------------ config
    def read_config(self):
        if not self.config_path.is_file():
            raise RunError(f"{self.path} is not a run folder (no config.json); train one with "
                           f"`pyro-tcvae train --out {self.path}`")
        try:
            return TrainConfig.from_dict(json.loads(self.config_path.read_text()))
        except json.JSONDecodeError as e:
            raise RunError(f"{self.config_path} is not valid JSON ({e}); restore it or "
                           f"start a new run") from None
        except TypeError as e:
            raise RunError(f"{self.config_path} is not a run configuration ({e})") from None
        except RunError as e:  # unknown keys, bad values: say which file holds them
            raise RunError(f"{self.config_path}: {e} (restore the file, or start a new "
                           f"run)") from None

    def write_config(self, config):
        write_json(self.config_path, config.to_dict())

    # ------------------------------------------------------------------ lock
    @contextlib.contextmanager
    def lock(self):
        """Hold ``lock`` (the pid of this process) while training; a second process
        is refused, a lock left by a dead process is taken over, and temporary files
        of dead writers are removed."""
        path = self.path / "lock"
        with fs_errors(self.path, "create the run folder"):
            self.path.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = _live_owner(path)
                if owner is not None:
                    raise _busy(self.path, owner) from None
                path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            except OSError as e:
                raise RunError(describe_os_error(e, path)) from None
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            break
        else:
            raise RunError(f"could not lock {path}")
        try:
            self.remove_stale_temporaries()
            yield self
        finally:
            path.unlink(missing_ok=True)

    def remove_stale_temporaries(self):
        """Remove ``.NAME.tmpPID`` files whose writer is gone; returns their names."""
        removed = []
        for p in self.path.iterdir():
            m = files.TEMPORARY.match(p.name)
            pid = int(m.group(1)) if m else None
            if pid is not None and p.is_file() and (pid == os.getpid() or not _alive(pid)):
                p.unlink(missing_ok=True)
                removed.append(p.name)
        return removed

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, state):
        """Write the training state with a SHA-256 of its content, atomically."""
        buf = io.BytesIO()
        torch.save(state, buf)
        payload = buf.getbuffer()
        digest = hashlib.sha256(payload).hexdigest()

        def write(f):
            f.write(CHECKPOINT_MAGIC)
            f.write(f"sha256 {digest}\n".encode())
            f.write(payload)

        atomic_write(self.checkpoint_path, write)

    def load_checkpoint(self, config=None):
        """The training state; its checksum is verified, and (with ``config``) its
        settings must match those options that cannot change on resume."""
        path = self.checkpoint_path
        if not path.is_file():
            if self.model_path.is_file():
                raise RunError(f"{self.path} holds a finished model without its checkpoint "
                               f"(deleted, e.g. by --drop-checkpoint): it cannot train on; "
                               f"start a new run in another folder")
            raise RunError(f"no checkpoint in {self.path}: nothing to resume (start without "
                           f"--resume)")
        state = read_checkpoint(path)
        if config is not None:
            saved = saved_options(state["config"])  # older runs lack new keys
            now = config.to_dict()
            differ = sorted(k for k in now if k not in RESUMABLE and now[k] != saved.get(k))
            if differ:
                pairs = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {now[k]!r}"
                                  for k in differ)
                raise RunError(f"the checkpoint in {self.path} was made with other settings "
                               f"({pairs}); resume with the same options or use another --out")
        return state


def read_checkpoint(path):
    """Read a checkpoint file, verifying its checksum; a RunError says what is wrong."""
    path = Path(path)
    fix = "remove it to start over, or restore a copy"
    with fs_errors(path, "read"):
        data = path.read_bytes()
    if data.startswith(CHECKPOINT_MAGIC):
        head_end = data.find(b"\n", len(CHECKPOINT_MAGIC))
        head = data[len(CHECKPOINT_MAGIC):head_end].decode("ascii", "replace").split()
        payload = memoryview(data)[head_end + 1:]
        if head_end < 0 or len(head) != 2 or head[0] != "sha256":
            raise RunError(f"the checkpoint {path} has a damaged header; {fix}")
        if hashlib.sha256(payload).hexdigest() != head[1]:
            raise RunError(f"the checkpoint {path} is corrupt (its content does not match its "
                           f"checksum); {fix}")
        source = io.BytesIO(payload)
        legacy = False
    else:
        source, legacy = io.BytesIO(data), True
    try:
        state = torch.load(source, map_location="cpu", weights_only=False)
    except Exception as e:
        raise RunError(f"the checkpoint {path} is corrupt or unreadable ({type(e).__name__}: "
                       f"{e}); {fix}") from None
    if legacy:
        if not isinstance(state, dict) or state.get("format") != LEGACY_CHECKPOINT_FORMAT:
            raise RunError(f"{path} is not a pyro-tcvae checkpoint")
        warnings.warn(f"{path} was written by an older pyro-tcvae without a checksum; it is "
                      f"read unchecked (the next checkpoint will carry one)")
    return state


def _live_owner(lock_path):
    """The pid in a lock file when that process is alive and not this one, else None."""
    try:
        pid = int(lock_path.read_text().strip() or -1)
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and pid != os.getpid() and _alive(pid) else None


def _busy(path, pid):
    return RunError(f"another process (pid {pid}) is training in {path}; wait for it or stop "
                    f"it, or use another --out")


def _read_only(path):
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# ---------------------------------------------------------------------- logs
class MetricsLog:
    """A JSON-lines log with a ``step`` in every record (``metrics.jsonl``,
    ``mig.jsonl``).  Damaged lines (a write cut short by a crash) are dropped with a
    warning that names the file."""

    def __init__(self, path):
        self.path = Path(path)

    def _records(self):
        if not self.path.is_file():
            return []
        with fs_errors(self.path, "read"):
            lines = self.path.read_text(errors="replace").splitlines()
        records, bad = [], []
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
                    raise ValueError
            except ValueError:
                bad.append(i)
                continue
            records.append(rec)
        if bad:
            warnings.warn(f"{self.path}: dropped {len(bad)} damaged line(s) (line "
                          f"{', '.join(map(str, bad[:5]))}{', ...' if len(bad) > 5 else ''}), "
                          f"e.g. a write cut short by a crash")
        return records

    def read(self):
        """The log's records (dicts), in order."""
        return self._records()

    def truncate(self, last_step):
        """Keep the records up to ``last_step`` (drop those written after the checkpoint
        a run resumes from, and damaged lines)."""
        if self.path.is_file():
            keep = [r for r in self._records() if r["step"] <= last_step]
            atomic_write(self.path, lambda f: f.write(
                "".join(json.dumps(r) + "\n" for r in keep).encode()))

    def append(self, record):
        with fs_errors(self.path):
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
