"""MPI3D from the user's file: the published layout on a tiny grid, clear errors."""

import numpy as np
import pytest
import torch

import pyro_tcvae.data.mpi3d as mpi3d
from pyro_tcvae.data import MPI3D, MPI3DFileError

TINY = (2, 1, 2, 1, 1, 3, 2)  # 24 images on the factors' order


@pytest.fixture
def tiny_grid(monkeypatch, tmp_path):
    monkeypatch.setattr(mpi3d, "FACTOR_SIZES", TINY)
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PYRO_TCVAE_MPI3D", raising=False)
    n = int(np.prod(TINY))
    images = np.random.default_rng(0).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    return images


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "compressed"])
def test_a_file_in_the_published_layout_round_trips(tiny_grid, tmp_path, save):
    path = tmp_path / "mpi3d_toy.npz"
    save(path, images=tiny_grid)
    data = MPI3D(path=path, progress=False)
    assert len(data) == 24 and data.image_shape == (64, 64, 3)
    assert data.factor_names[0] == "object_color" and data.factor_sizes == TINY
    x = data.images(torch.tensor([0, 7, 23]))
    assert x.dtype == torch.float32 and float(x.max()) <= 1.0
    assert torch.equal((x * 255).round().to(torch.uint8), torch.from_numpy(tiny_grid[[0, 7, 23]]))
    # row-major over the factors, the last (vertical axis) fastest
    assert data.factors[:4].tolist() == [[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1],
                                         [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1, 1]]
    assert isinstance(data.images_array, np.memmap)  # never read whole


def test_it_is_found_through_the_environment_and_the_cache(tiny_grid, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    np.savez(cache / "mpi3d_real.npz", images=tiny_grid)
    assert len(MPI3D("real", progress=False)) == 24
    np.savez(tmp_path / "elsewhere.npz", images=tiny_grid)
    monkeypatch.setenv("PYRO_TCVAE_MPI3D", str(tmp_path / "elsewhere.npz"))
    assert MPI3D("toy", progress=False).path.name == "elsewhere.npz"


def test_bad_files_are_refused_with_the_fix(tiny_grid, tmp_path):
    with pytest.raises(MPI3DFileError, match="no MPI3D file: download mpi3d_toy.npz"):
        MPI3D(progress=False)
    with pytest.raises(MPI3DFileError, match="MPI3D file not found"):
        MPI3D(path=tmp_path / "nope.npz", progress=False)
    np.savez(tmp_path / "keys.npz", imgs=tiny_grid)
    with pytest.raises(MPI3DFileError, match="no key 'images'; keys are \\['imgs'\\]"):
        MPI3D(path=tmp_path / "keys.npz", progress=False)
    np.savez(tmp_path / "short.npz", images=tiny_grid[:10])
    with pytest.raises(MPI3DFileError, match="has shape \\(10, 64, 64, 3\\)"):
        MPI3D(path=tmp_path / "short.npz", progress=False)
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(MPI3DFileError, match="not a readable .npz"):
        MPI3D(path=tmp_path / "junk.npz", progress=False)
    np.savez(tmp_path / "cut.npz", images=tiny_grid)
    blob = (tmp_path / "cut.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(MPI3DFileError):
        MPI3D(path=tmp_path / "cut.npz", progress=False)
    with pytest.raises(ValueError, match="variant must be one of"):
        MPI3D("cartoon")


def test_the_command_line_trains_on_it(tiny_grid, tmp_path, capsys):
    from pyro_tcvae.cli import main

    np.savez(tmp_path / "m.npz", images=tiny_grid)
    code = main(["train", "--dataset", "mpi3d_toy", "--data-path", str(tmp_path / "m.npz"),
                 "--batch-size", "8", "--steps", "2", "--z-dim", "2", "--no-eval", "--quiet",
                 "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "mpi3d_toy" in out and (tmp_path / "run" / "model.pt").is_file()
    code = main(["train", "--data-path", str(tmp_path / "m.npz"), "--out", str(tmp_path / "x")])
    assert code == 2 and "drop --data-path" in capsys.readouterr().err
