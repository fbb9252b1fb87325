"""Arrays inside .npz files, memory-mapped instead of read: the field's benchmark files
hold gigabytes of images (MPI3D: 12.7 GB), more than a laptop's memory.

A member stored uncompressed (``np.savez``) is mapped where it lies in the archive; a
compressed one (``np.savez_compressed``) is decompressed once, streaming, into the cache
folder and mapped from there.
"""

import os
import struct
import zipfile
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..files import atomic_write
from .cache import file_key


def read_npy_header(f):
    """(shape, fortran_order, dtype) of the .npy stream ``f``, left at the data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def npz_keys(path):
    """The array names in an .npz archive."""
    with zipfile.ZipFile(path) as zf:
        return sorted(n[:-4] for n in zf.namelist() if n.endswith(".npy"))


def map_npz_member(path, key, cache_dir, progress=True, desc=None):
    """The array ``key`` of the .npz ``path`` as a read-only ``np.memmap``.

    Raises KeyError for a missing key, ValueError for a damaged archive or member.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(key + ".npy")  # KeyError when missing
        if info.compress_type == zipfile.ZIP_STORED:
            return _map_stored(path, info)
        return _map_extracted(path, zf, info, key, Path(cache_dir), progress, desc)


def _map_stored(path, info):
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ValueError("damaged zip header")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        shape, fortran, dtype = read_npy_header(f)
        offset = f.tell()
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if offset + size > os.path.getsize(path):
        raise ValueError("the array is truncated")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape),
                     order="F" if fortran else "C")


def _map_extracted(path, zf, info, key, cache_dir, progress, desc):
    target = cache_dir / f"{path.stem}_{key}_{file_key(path)}.npy"
    if not target.is_file():
        def extract(dst):
            with zf.open(info) as src:
                with tqdm(total=info.file_size, unit="B", unit_scale=True, leave=False,
                          desc=desc or f"extracting {key}", disable=not progress) as bar:
                    while True:
                        chunk = src.read(1 << 24)
                        if not chunk:
                            break
                        dst.write(chunk)
                        bar.update(len(chunk))

        atomic_write(target, extract)
    return np.load(target, mmap_mode="r")
