"""The run configuration: one schema, the dataset's defaults, every check before a write."""

import dataclasses

import pytest

from pyro_tcvae.data import DSpritesFileError
from pyro_tcvae.runs import CHOICES, DATASETS, RunError, TrainConfig, train
from pyro_tcvae.runs.config import RESUMABLE

SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64, log_every=10,
             checkpoint_every=15)


def test_unset_options_take_the_dataset_defaults_and_given_ones_win():
    for name, entry in DATASETS.items():
        c = TrainConfig(dataset=name).validate()
        for key, value in entry.defaults.items():
            assert getattr(c, key) == value, (name, key)
        assert c.steps is not None or c.epochs is not None
    c = TrainConfig(dataset="small_sprites", lr=5e-4, z_dim=3, epochs=2.0).validate()
    assert (c.lr, c.z_dim, c.epochs, c.steps) == (5e-4, 3, 2.0, None)  # epochs replace steps
    raw = TrainConfig()
    assert raw.validate() is not raw and raw.lr is None  # validate returns a resolved copy


def test_every_enumerated_option_is_checked_against_its_registry():
    for name, names in CHOICES.items():
        assert TrainConfig(**{name: names[0]}).validate()
        with pytest.raises(RunError, match=f"{name} must be one of"):
            TrainConfig(**{name: "no-such-thing"}).validate()


@pytest.mark.parametrize("changes, message", [
    (dict(beta=-1.0), "beta must be a finite number >= 0"),
    (dict(beta_start=-0.5), "beta_start must be a finite number >= 0"),
    (dict(batch_size=0), "batch_size must be >= 1"),
    (dict(batch_size=1), "'mss' estimator needs batch_size >= 2"),
    (dict(lr=0.0), "lr must be a positive number"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(z_dim=2.5), "z_dim must be of type int"),
    (dict(beta="6"), "beta must be of type float"),
    (dict(arch="conv"), "arch 'conv' is for 64x64 images"),
    (dict(dataset="nonlinear", likelihood="bernoulli"), "bernoulli likelihood needs binary"),
    (dict(dsprites_path="x.npz"), "dsprites_path is for the dataset 'dsprites'"),
    (dict(device="tpu:9"), "not a torch device"),
])
def test_bad_configurations_are_refused_with_the_reason(changes, message):
    with pytest.raises(RunError, match=message):
        TrainConfig(**changes).validate()


def test_bad_choices_and_bad_files_are_refused_before_anything_is_written(tmp_path):
    for changes in (dict(estimator="bogus"), dict(prior="nope"), dict(latent="nope"),
                    dict(arch="nope"), dict(likelihood="nope"), dict(beta=-1.0)):
        run = tmp_path / "run"
        with pytest.raises(RunError):
            train(TrainConfig(steps=3, **{**SMALL, **changes}), run, progress=False)
        assert not run.exists(), changes
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not an npz file")
    with pytest.raises(DSpritesFileError):
        train(TrainConfig(dataset="dsprites", dsprites_path=str(garbage), steps=3), tmp_path / "d",
              progress=False)
    assert not (tmp_path / "d").exists()
    with pytest.raises(RunError, match=r"batch_size 5000 is larger than the dataset small_sprites "
                                       r"\(4608 items\): use --batch-size 4608 or less"):
        train(TrainConfig(steps=3, **{**SMALL, "batch_size": 5000}), tmp_path / "b",
              progress=False)
    assert not (tmp_path / "b").exists()


def test_resumable_options_are_fields():
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(RESUMABLE) <= names


def test_config_round_trips_through_a_dict():
    c = TrainConfig(**SMALL).validate()
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(RunError, match="unknown configuration keys"):
        TrainConfig.from_dict({**c.to_dict(), "colour": "red"})
