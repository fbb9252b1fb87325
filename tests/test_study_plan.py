"""The study file: checked before anything runs, its runs the product of each block and
the seeds, options overridden for every run, and the committed files' recipes."""

from pathlib import Path

import pytest

from pyro_tcvae.runs import RunError
from pyro_tcvae.study import load_study
from pyro_tcvae.study.selection import runs_to_do
from study_files import STUDY, write


@pytest.mark.parametrize("change, message", [
    (("seeds = [0, 1]", "seeds = [0, 1]\ncolour = 3"), "unknown key 'colour'"),
    (("steps = 30", "steps = 30\nbetta = 2"), "unknown option 'betta' in train"),
    (("beta = [1, 4]", "beta = [1, 4]\nseed = 3"), "the seeds are the study's 'seeds'"),
    (("beta = [1, 4]", "beta = [1, -4]"), "beta must be a finite number >= 0"),
    (("objective = \"tcvae\"", "objective = \"tcvea\""), "objective must be one of"),
    (("items = 1000", "items = 1000\nbatches = 2"), "unknown key 'evaluate.batches'"),
    (("items = 1000", "items = -5"), "evaluate.items"),
    (("items = 1000", "items = 1000\nmetrics = [\"sap\", \"dcii\"]"),
     "evaluate.metrics in .*unknown metric 'dcii': choose from mig, beta_vae"),
    (("items = 1000", "items = 1000\nmetrics = 3"), "evaluate.metrics .*must be \"all\" or a list"),
    (("name = \"tiny\"", "name = \"../tiny\""), "must be a folder name"),
    (("beta = 4\n", "beta = 4\ngamma = 2\n"), "gamma is not an option of the objective"),
    (("seeds = [0, 1]", "seeds = [0, 0]"), "different integers"),
    (("[[runs]]\nobjective = \"beta-vae\"", "[[runs]]\nobjective = \"tcvae\""), "are both"),
    (("beta = 4\n", "beta = 4\nstage = 0\n"), "stage in runs block 2 .*integer >= 1"),
    (("steps = 30", "steps = 30\nmig_every = \"5\""), "needs a unit: 5m"),
])
def test_a_bad_study_file_is_refused_before_anything_runs(tmp_path, change, message):
    path = write(tmp_path, STUDY.replace(*change, 1))
    with pytest.raises(RunError, match=message):
        load_study(path)
    assert not (tmp_path / "results").exists()


def test_the_runs_are_the_product_of_each_block_and_the_seeds(tmp_path):
    study = load_study(write(tmp_path))
    names = [n for n, _ in study.runs]
    assert names == ["tcvae_beta1_seed0", "tcvae_beta1_seed1", "tcvae_beta4_seed0",
                     "tcvae_beta4_seed1", "beta-vae_beta4_seed0", "beta-vae_beta4_seed1"]
    cfg = dict(study.runs)["beta-vae_beta4_seed1"]
    assert (cfg.objective, cfg.beta, cfg.seed, cfg.steps, cfg.z_dim) == ("beta-vae", 4.0, 1, 30, 3)
    assert load_study(write(tmp_path), device="cpu").runs[0][1].device == "cpu"


def test_settings_override_every_run_and_are_checked(tmp_path):
    from pyro_tcvae.study import parse_settings

    sets = parse_settings(["steps=50", "precision=fp32", "batch_size=128", "fused=false"])
    assert sets == {"steps": 50, "precision": "fp32", "batch_size": 128, "fused": False}
    study = load_study(write(tmp_path), name="tiny_big", eval_items=0, **sets)
    assert study.name == "tiny_big" and all(c.steps == 50 and c.batch_size == 128
                                            for _, c in study.runs)
    assert study.evaluate["items"] == 0
    for bad, message in (("seed=3", "other than seed"), ("stepz=3", "OPTION=VALUE"),
                         ("steps=many", "'many' is not an integer")):
        with pytest.raises(RunError, match=message):
            parse_settings([bad])


def test_the_paper_scale_study_is_the_papers_recipe():
    study = load_study(Path(__file__).resolve().parents[1] / "studies" / "dsprites_paper.toml")
    states = [(n, c, "missing") for n, c in study.runs]
    order = [n for n, _ in runs_to_do(study, states)[1]]
    assert order[:6] == [f"{o}_beta6_seed{s}" for s in range(3) for o in ("tcvae", "beta-vae")]
    assert order[6:12] == [f"{o}_beta4_seed{s}" for s in range(3) for o in ("tcvae", "beta-vae")]
    assert order[12:] == [f"vae_seed{s}" for s in range(3)]
    for _, c in study.runs:
        assert (c.arch, c.z_dim, c.likelihood, c.batch_size, c.lr, c.estimator, c.precision) \
            == ("mlp", 10, "bernoulli", 2048, 1e-3, "mws", "fp32")
        assert c.total_steps(737_280 // 2048) == 18_000  # 50 epochs
        assert c.mig_at == "2,5,10,20,35,50" and c.mig_items == 100_000
    assert study.evaluate["items"] == 0 and study.evaluate["metrics"] == "all"
