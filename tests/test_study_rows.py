"""A study's rows from its records: what a row says beyond the record's numbers."""

from pyro_tcvae.study.rows import shared_latents


def test_factors_sharing_their_best_latent_are_named():
    names = ["color", "shape", "scale", "posX", "posY"]
    mi = [[0.0, 0.0, 0.0], [0.9, 0.0, 0.0], [0.0, 0.5, 0.1],
          [1.4, 0.0, 0.0], [1.3, 0.1, 0.0]]  # posX and posY both on latent 0
    m = {"factor_names": names, "mi": mi, "included": ["scale", "posX", "posY"]}
    assert shared_latents(m) == [["posX", "posY"]]  # shape is not included
    assert shared_latents({**m, "included": names}) == [["posX", "posY", "shape"]]
    mi[4] = [0.1, 1.3, 0.0]  # posY moves to latent 1, where scale is: both counted
    assert shared_latents(m) == [["posY", "scale"]]
    mi[2] = [0.0, 0.15, 0.1]  # scale below 0.2 nats: not a claim on the latent
    assert shared_latents(m) == []
