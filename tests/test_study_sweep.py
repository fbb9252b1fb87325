"""Sweeps, and the step they share with studies: train a configuration's run unless its
folder holds it (resuming an interrupted one), refusing a folder of another
configuration."""

import pytest

from pyro_tcvae.runs import RunError, RunFolder, TrainConfig, train
from pyro_tcvae.study import sweep, train_missing
from pyro_tcvae.study.sweep import sweep_configs

SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64, log_every=15,
             checkpoint_every=15, steps=30)


def test_a_sweep_keeps_the_base_objectives_options_and_leaks_none_into_others():
    base = TrainConfig(objective="tcvae", gamma=0.0)
    got = sweep_configs(base, {"tcvae": [1.0, 4.0], "factorvae": [10.0], "beta-vae": [2.0]},
                        seeds=(0, 1))
    assert [(c.objective, c.seed) for c in got][:3] == [("tcvae", 0), ("tcvae", 1),
                                                      ("tcvae", 0)]
    assert [c.weights(0) for c in got if c.objective == "tcvae"] == \
        [(1.0, 1.0, 0.0)] * 2 + [(1.0, 4.0, 0.0)] * 2  # the base's gamma stays tcvae's
    fvae = [c for c in got if c.objective == "factorvae"]
    assert [(c.gamma, c.beta) for c in fvae] == [(10.0, None)] * 2
    assert {c.weights(0) for c in got if c.objective == "beta-vae"} == {(2.0, 2.0, 2.0)}


def test_a_run_is_trained_resumed_or_found_and_another_configurations_refused(tmp_path):
    cfg = TrainConfig(**SMALL).validate()
    said = []
    folder = RunFolder(tmp_path / "run")
    model, seconds = train_missing(cfg, folder, None, progress=False, echo=said.append)
    assert model is not None and seconds > 0 and said[0] == "run: training"
    # the folder holds the finished model: nothing is trained, its time comes from the run
    said.clear()
    assert train_missing(cfg, folder, None, progress=False, echo=said.append) == (None, seconds)
    assert not any("training" in line for line in said)
    other = TrainConfig(**{**SMALL, "z_dim": 4}).validate()
    with pytest.raises(RunError, match="holds a run of another configuration: remove it"):
        train_missing(other, folder, None, progress=False, echo=said.append)
    # an interrupted run (a checkpoint, no model) resumes
    half = RunFolder(tmp_path / "half")
    train(TrainConfig(**{**SMALL, "steps": 15}), half.path, progress=False, echo=said.append)
    half.model_path.unlink()
    said.clear()
    model, _ = train_missing(cfg, half, None, progress=False, echo=said.append, name="half run")
    assert model is not None and said[0] == "half run: resuming"


def test_a_sweep_refuses_a_run_folder_of_another_configuration(tmp_path):
    base = TrainConfig(**SMALL)
    name = f"{sweep_configs(base)[0].label()}_seed0"
    train(TrainConfig(**{**SMALL, "z_dim": 4}), tmp_path / name, progress=False,
          echo=lambda *a: None)
    with pytest.raises(RunError, match="holds a run of another configuration"):
        sweep(base, tmp_path, grid={"tcvae": [1.0]}, num_samples=300, progress=False,
              echo=lambda *a: None)
