"""Decoded image sets kept in the cache folder, and uint8 pixels as floats."""

import hashlib

import numpy as np
import torch

from ..files import atomic_write


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
