"""Cars3D from the user's MATLAB files: the published layout on tiny files."""

import numpy as np
import pytest
import torch

from pyro_tcvae.data import Cars3D, Cars3DFileError

scipy_io = pytest.importorskip("scipy.io")


def write_car(path, k):
    """A car file in the published layout: im [H, W, 3, 24 azimuths, 4 elevations], each
    view a constant colour that encodes (azimuth, elevation, car)."""
    im = np.zeros((16, 16, 3, 24, 4), dtype=np.uint8)
    for a in range(24):
        for e in range(4):
            im[:, :, :, a, e] = (10 * a, 60 * e, 80 * k)
    scipy_io.savemat(str(path), {"im": im})


@pytest.fixture
def cars(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cars"
    folder.mkdir()
    for k in range(3):
        write_car(folder / f"car_{k:03d}_mesh.mat", k)
    return folder


def test_the_published_layout_round_trips(cars):
    data = Cars3D(cars, progress=False)
    assert len(data) == 4 * 24 * 3 and data.factor_sizes == (4, 24, 3)
    assert data.image_shape == (64, 64, 3)
    picks = torch.tensor([[0, 0, 0], [3, 5, 2], [1, 23, 1]])           # (elevation, azimuth, car)
    x = data.images_for_factors(picks)
    for (e, a, k), img in zip(picks.tolist(), x):
        expect = torch.tensor([10 * a, 60 * e, 80 * k]) / 255.0
        assert torch.allclose(img.reshape(-1, 3), expect.expand(64 * 64, 3), atol=1 / 255)
    assert data.factors[:2].tolist() == [[0, 0, 0], [0, 0, 1]]          # the car fastest
    again = Cars3D(cars, progress=False)                                # from the cache
    assert isinstance(again.pixels, np.memmap)
    assert torch.equal(again.images(torch.arange(10)), data.images(torch.arange(10)))


def test_bad_folders_and_files_are_refused(cars, tmp_path, monkeypatch):
    monkeypatch.delenv("PYRO_TCVAE_CARS3D", raising=False)
    with pytest.raises(Cars3DFileError, match="no Cars3D folder"):
        Cars3D(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Cars3DFileError, match="holds no .mat files"):
        Cars3D(tmp_path / "empty")
    scipy_io.savemat(str(cars / "car_999_mesh.mat"), {"img": np.zeros((2, 2), np.uint8)})
    with pytest.raises(Cars3DFileError, match="no array 'im'"):
        Cars3D(cars, progress=False)
    scipy_io.savemat(str(cars / "car_999_mesh.mat"), {"im": np.zeros((8, 8, 3, 24, 5), np.uint8)})
    with pytest.raises(Cars3DFileError, match="expected \\(H, W, 3, 24, 4\\) uint8"):
        Cars3D(cars, progress=False)
    (cars / "car_999_mesh.mat").write_bytes(b"garbage")
    with pytest.raises(Cars3DFileError, match="not a readable MATLAB file"):
        Cars3D(cars, progress=False)
