"""The registries (pyro_tcvae.runs.registry): what each entry says about itself holds.

That every dataset's defaults validate into a TrainConfig is in test_runs_config
(test_unset_options_take_the_dataset_defaults_and_given_ones_win)."""

import dataclasses
import re

import pytest
import torch

from pyro_tcvae.runs import RunError, TrainConfig
from pyro_tcvae.runs.config import OBJECTIVE_OPTIONS, field_type
from pyro_tcvae.runs.registry import (BUILTIN_DATASET, CHOICES, DATASETS, OBJECTIVES,
                                      TC_WEIGHTS)

FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
#: the datasets made in a second, without files
CHEAP = ("small_sprites", "nonlinear")


def test_dataset_defaults_are_options_the_dataset_may_set():
    for name, entry in DATASETS.items():
        for key in entry.defaults:
            assert key in FIELDS and FIELDS[key].metadata["dataset_default"], (name, key)
        # a run's length comes from the dataset, as steps or as epochs
        assert ("steps" in entry.defaults) != ("epochs" in entry.defaults), name
        if entry.defaults.get("likelihood") == "bernoulli":
            assert entry.binary, name


@pytest.mark.parametrize("name", CHEAP)
def test_a_datasets_entry_describes_what_its_make_builds(name):
    entry = DATASETS[name]
    data = entry.make(TrainConfig(dataset=name).validate(), False)
    assert tuple(data.image_shape) == tuple(entry.image_shape)
    x = data.images(torch.arange(0, len(data), 7))
    assert tuple(x.shape[1:]) == tuple(entry.image_shape)
    assert entry.binary == bool(((x == 0) | (x == 1)).all())
    # the help line's count is the dataset's
    count = int(re.match(r"([\d,]+) ", entry.about).group(1).replace(",", ""))
    assert count == len(data)
    assert not entry.dsprites_file and not entry.user_file


def test_the_builtin_dataset_is_the_default_and_cheap():
    assert TrainConfig().dataset == BUILTIN_DATASET and BUILTIN_DATASET in CHEAP


@pytest.mark.parametrize("name", list(DATASETS))
def test_file_options_are_taken_by_the_datasets_that_say_so(name):
    entry = DATASETS[name]
    for option, takes in (("dsprites_path", entry.dsprites_file),
                          ("data_path", entry.user_file)):
        config = TrainConfig(dataset=name, **{option: "somewhere"})
        if takes:
            assert getattr(config.validate(), option) == "somewhere"
        else:
            with pytest.raises(RunError, match=f"{option} is for"):
                config.validate()


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_an_objectives_options_are_fields_and_its_defaults_validate(name):
    entry = OBJECTIVES[name]
    assert set(entry.options) <= set(OBJECTIVE_OPTIONS) <= set(FIELDS)
    assert set(entry.defaults) <= set(entry.options)
    c = TrainConfig(objective=name).validate()
    for key, value in entry.defaults.items():
        assert getattr(c, key) == value, key
    for key in OBJECTIVE_OPTIONS:  # what it does not read stays unset, and is refused
        if key not in entry.options:
            assert getattr(c, key) is None, key
            value = field_type(FIELDS[key])(5)
            with pytest.raises(RunError, match=f"{key} is not an option of the objective"):
                TrainConfig(objective=name, **{key: value}).validate()
    # the first option is the one a run's name shows
    assert c.label() == (name if not entry.options
                         else f"{name}_{entry.options[0]}{getattr(c, entry.options[0]):g}")


def test_the_tc_weighed_objectives_read_beta():
    for name in TC_WEIGHTS:
        assert OBJECTIVES[name].options[0] == "beta"
    assert CHOICES["objective"] == tuple(OBJECTIVES) and CHOICES["dataset"] == tuple(DATASETS)


def test_at_step_sets_what_changes_during_a_run():
    cfg = TrainConfig(objective="tcvae", beta=6.0, warmup=10, beta_start=1.0).validate()
    elbo = OBJECTIVES["tcvae"].make(cfg, 1000, 3, 100)
    for step, beta in ((0, 1.0), (4, 3.0), (10, 6.0), (50, 6.0)):  # linear, then held
        OBJECTIVES["tcvae"].at_step(elbo, cfg, step)
        assert (elbo.alpha, elbo.beta, elbo.gamma) == pytest.approx((1.0, beta, 1.0))
    cfg = TrainConfig(objective="annealed", capacity=10.0).validate()
    elbo = OBJECTIVES["annealed"].make(cfg, 1000, 3, 200)
    OBJECTIVES["annealed"].at_step(elbo, cfg, 50)
    assert elbo.step == 50 and elbo.current_capacity() == pytest.approx(10.0 * 50 / 200)
