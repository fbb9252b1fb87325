"""The figures of a run folder (pyro_tcvae.runs.plot.plot_run): each one the run's data
and logs allow, and nothing else."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from pyro_tcvae.runs import TrainConfig, plot_run, train  # noqa: E402

IMAGE_FIGURES = {"traversals.png", "traversals.gif", "reconstructions.png"}


pytestmark = pytest.mark.usefixtures("one_thread")


def _train(path, **options):
    config = TrainConfig(arch="small_mlp", z_dim=2, steps=4, log_every=2, threads=1, **options)
    return train(config, path, progress=False, echo=lambda *a, **k: None)


def _check_written(run, files, names):
    """``files`` are exactly ``names`` in ``figures/``, nothing else is there, and each
    is a picture."""
    assert sorted(f.name for f in files) == sorted(names)
    assert sorted(p.name for p in (run / "figures").iterdir()) == sorted(names)
    for f in files:
        with Image.open(f) as im:
            assert im.size[0] > 100 and im.size[1] > 100, f.name


def test_an_image_run_with_the_mig_monitor_gets_every_figure(tmp_path):
    run = tmp_path / "run"
    _train(run, dataset="small_sprites", batch_size=64, mig_every="2steps", mig_items=300)
    assert len((run / "mig.jsonl").read_text().splitlines()) == 2
    files = plot_run(run, progress=False)  # the model and data built from the folder
    _check_written(run, files, IMAGE_FIGURES | {"latents_vs_factors.png",
                                                "training_curves.png", "mig_over_time.png"})
    with Image.open(run / "figures" / "traversals.gif") as gif:
        assert gif.n_frames == 2 * 9 - 2  # 9 steps out and back, the ends shown once


def test_a_vector_run_gets_no_pictures_of_its_observations(tmp_path):
    run = tmp_path / "run"
    out = _train(run, dataset="nonlinear", batch_size=100)
    files = plot_run(run, data=out["data"], model=out["model"], progress=False)
    _check_written(run, files, {"latents_vs_factors.png", "training_curves.png"})


def test_a_run_without_factors_plots_what_it_can(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "images"
    folder.mkdir()
    g = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(g.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    run = tmp_path / "run"
    _train(run, dataset="images", data_path=str(folder), batch_size=4)
    files = plot_run(run, progress=False)
    _check_written(run, files, IMAGE_FIGURES | {"training_curves.png"})
