"""Sweeps: the configurations of a grid."""

from pyro_tcvae.runs import TrainConfig
from pyro_tcvae.study.sweep import sweep_configs


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
