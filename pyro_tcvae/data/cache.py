"""The cache folder: where the datasets' files are looked for, and the decoded image
sets kept there; and uint8 pixels as floats."""

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ..files import atomic_write

ENV_CACHE = "PYRO_TCVAE_CACHE"


def cache_dir():
    """The folder for cached image sets (and downloaded dataset files):
    ``$PYRO_TCVAE_CACHE``, else ``$XDG_CACHE_HOME/pyro_tcvae``, else
    ``~/.cache/pyro_tcvae``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "pyro_tcvae"


def find_data_file(path, env, name, not_found):
    """The dataset file to load: ``path``, else the file named by ``$env``, else
    ``name`` in the cache folder when it is there; None when there is none.

    Parameters
    ----------
    path : str or Path or None
        The user's path (``~`` expanded).
    env : str
        The environment variable that may name the file.
    name : str
        The file's name in :func:`cache_dir`.
    not_found : callable
        ``not_found(candidate)`` returns the exception raised when the given path (or
        the one in ``$env``) is not a file.
    """
    for candidate in (path, os.environ.get(env)):
        if candidate:
            candidate = Path(candidate).expanduser()
            if not candidate.is_file():
                raise not_found(candidate)
            return candidate
    candidate = cache_dir() / name
    return candidate if candidate.is_file() else None


def atomic_save(path, array):
    """``np.save`` through a temporary sibling renamed into place."""
    atomic_write(path, lambda f: np.save(f, array))


def file_key(path):
    """12 hex digits naming one version of a user's file (its resolved path, size and
    modification time), for the name of the decoded copy in the cache folder."""
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]


def cached_array(target, decode, shape, cache=True):
    """The array in the cache file ``target`` (memory-mapped) when it has ``shape``;
    else ``decode()``, saved there for the next start.  A cache folder that cannot be
    written only costs the next start a decode."""
    if cache and target.is_file():
        array = np.load(target, mmap_mode="r")
        if tuple(array.shape) == tuple(shape):
            return array
    array = decode()
    if cache:
        try:
            atomic_save(target, array)
        except OSError:
            pass
    return array


def unit_floats(rows):
    """uint8 pixels (an ndarray, possibly memory-mapped rows) as float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rows)).to(torch.float32).div_(255.0)
