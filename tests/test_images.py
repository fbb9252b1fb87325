"""A folder of images as an unlabeled dataset: decoded once, cropped, no MIG."""

import numpy as np
import pytest
import torch
from PIL import Image

from pyro_tcvae.data import ImageFolder, ImageFolderError


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "faces"
    (root / "sub").mkdir(parents=True)
    # a wide RGB image: left third red, middle green, right third blue
    wide = np.zeros((60, 180, 3), dtype=np.uint8)
    wide[:, :60, 0], wide[:, 60:120, 1], wide[:, 120:, 2] = 255, 255, 255
    Image.fromarray(wide).save(root / "a_wide.png")
    Image.fromarray(np.full((80, 80), 128, dtype=np.uint8)).save(root / "b_grey.jpg")
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[..., 2] = 200
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(root / "sub" / "c_rgba.png")
    (root / "notes.txt").write_text("not an image")
    return root


def test_images_are_cropped_resized_and_cached(folder, tmp_path):
    data = ImageFolder(folder, progress=False)
    assert len(data) == 3 and data.image_shape == (64, 64, 3)
    assert [f.name for f in data.files] == ["a_wide.png", "b_grey.jpg", "c_rgba.png"]
    x = data.images(torch.arange(3))
    assert x.shape == (3, 64, 64, 3) and 0 <= float(x.min()) and float(x.max()) <= 1
    # the centre square of the wide image is its green third
    centre = x[0][8:56, 8:56]
    assert float(centre[..., 1].min()) > 0.95 and float(centre[..., [0, 2]].max()) < 0.05
    assert abs(float(x[1].mean()) - 128 / 255) < 0.02
    assert abs(float(x[2][..., 2].mean()) - 200 / 255) < 0.01
    assert data.factors.shape == (3, 0) and data.num_factors == 0
    again = ImageFolder(folder, progress=False)                 # from the cache
    assert isinstance(again.pixels, np.memmap) and torch.equal(again.images(torch.arange(3)), x)
    assert ImageFolder(folder, grey=True, progress=False).image_shape == (64, 64)


def test_bad_folders_are_refused(folder, tmp_path, monkeypatch):
    monkeypatch.delenv("PYRO_TCVAE_IMAGES", raising=False)
    with pytest.raises(ImageFolderError, match="no image folder"):
        ImageFolder()
    with pytest.raises(ImageFolderError, match="is not a folder"):
        ImageFolder(folder / "a_wide.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageFolderError, match="holds no images"):
        ImageFolder(tmp_path / "empty")
    (folder / "d_broken.png").write_bytes(b"garbage")
    with pytest.raises(ImageFolderError, match="d_broken.png is not a readable image"):
        ImageFolder(folder, progress=False)


def test_a_run_on_images_trains_evaluates_and_draws_without_mig(folder, tmp_path, capsys):
    from pyro_tcvae.cli import main

    code = main(["train", "--dataset", "images", "--data-path", str(folder), "--batch-size", "3",
                 "--steps", "2", "--z-dim", "2", "--quiet", "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "MIG: none (the dataset has no factors of variation)" in out
    assert (tmp_path / "run" / "figures" / "traversals.png").is_file()
    assert not (tmp_path / "run" / "figures" / "latents_vs_factors.png").exists()
