"""SmallNORB from the user's files: NORB's binary format on tiny files, clear errors."""

import gzip

import numpy as np
import pytest
import torch

from pyro_tcvae.data import SmallNORB, SmallNORBFileError
from pyro_tcvae.data.smallnorb import PREFIXES, read_norb_matrix


def write_norb(path, array):
    """A NORB binary matrix, as the published files are written."""
    magic = {np.uint8: 0x1E3D4C55, np.int32: 0x1E3D4C54}[array.dtype.type]
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    head = np.array([magic, array.ndim, *dims], dtype="<i4").tobytes()
    data = head + array.astype(array.dtype.newbyteorder("<")).tobytes()
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def make_split(folder, prefix, n, seed, gz=False):
    g = np.random.default_rng(seed)
    dat = g.integers(0, 256, (n, 2, 96, 96), dtype=np.uint8)
    cat = g.integers(0, 5, n).astype(np.int32)
    info = np.stack([g.integers(0, 10, n), g.integers(0, 9, n), 2 * g.integers(0, 18, n),
                     g.integers(0, 6, n)], 1).astype(np.int32)
    ext = ".mat.gz" if gz else ".mat"
    write_norb(folder / f"{prefix}-dat{ext}", dat)
    write_norb(folder / f"{prefix}-cat{ext}", cat)
    write_norb(folder / f"{prefix}-info{ext}", info)
    return dat, cat, info


@pytest.fixture
def norb(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "norb"
    folder.mkdir()
    train = make_split(folder, PREFIXES[0], 5, 0)
    test = make_split(folder, PREFIXES[1], 3, 1, gz=True)   # gzipped files are read too
    return folder, train, test


def test_the_published_format_round_trips(norb):
    folder, train, test = norb
    assert np.array_equal(read_norb_matrix(folder / f"{PREFIXES[0]}-dat.mat"), train[0])
    data = SmallNORB(folder, progress=False)
    assert len(data) == 8 and data.image_shape == (64, 64) and data.mig_exclude == ("instance",)
    f = data.factors
    assert f[:5, 0].tolist() == train[1].tolist() and f[5:, 0].tolist() == test[1].tolist()
    assert f[:5, 3].tolist() == (train[2][:, 2] // 2).tolist()      # azimuth 0, 2, .. 34 -> class
    assert f[:5, 1].tolist() == train[2][:, 0].tolist()
    x = data.images(torch.arange(8))
    assert x.shape == (8, 64, 64) and 0 <= float(x.min()) and float(x.max()) <= 1
    # the first camera, resized: its mean brightness survives the resize
    assert abs(float(x[0].mean()) - train[0][0, 0].mean() / 255) < 0.02
    again = SmallNORB(folder, progress=False)                          # from the cache
    assert isinstance(again.pixels, np.memmap) and torch.equal(again.images(torch.arange(8)), x)


def test_bad_files_are_refused(norb, tmp_path, monkeypatch):
    folder = norb[0]
    monkeypatch.delenv("PYRO_TCVAE_SMALLNORB", raising=False)
    with pytest.raises(SmallNORBFileError, match="no SmallNORB folder"):
        SmallNORB(tmp_path / "nowhere")
    (folder / f"{PREFIXES[1]}-cat.mat.gz").unlink()
    with pytest.raises(SmallNORBFileError, match="lacks .*testing-cat.mat"):
        SmallNORB(folder, progress=False)
    make_split(folder, PREFIXES[1], 3, 1)
    path = folder / f"{PREFIXES[0]}-info.mat"
    path.write_bytes(path.read_bytes()[:-8])                           # truncated
    with pytest.raises(SmallNORBFileError, match="a truncated file"):
        SmallNORB(folder, progress=False)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(SmallNORBFileError, match="unknown magic number"):
        SmallNORB(folder, progress=False)
    write_norb(path, np.full((5, 4), 99, dtype=np.int32))
    with pytest.raises(SmallNORBFileError, match="instance outside its range"):
        SmallNORB(folder, progress=False)
