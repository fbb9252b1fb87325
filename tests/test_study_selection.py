"""Which runs a process trains, in which order: stage by stage, seed by seed, a part of
them that does not depend on the records that exist, some seeds or objectives only."""

import pytest

from pyro_tcvae.runs import RunError
from pyro_tcvae.study import load_study, parse_part, run_study
from pyro_tcvae.study.selection import runs_to_do
from study_files import STUDY, write


def test_stages_train_block_by_block_then_seed_by_seed(tmp_path):
    text = STUDY.replace('beta = 4\n', 'beta = 4\nstage = 1\n').replace(
        'beta = [1, 4]\n', 'beta = [1, 4]\nstage = 2\n')
    study = load_study(write(tmp_path, text))
    states = [(n, c, "missing") for n, c in study.runs]
    order = [n for n, _ in runs_to_do(study, states)[1]]
    assert order == ["beta-vae_beta4_seed0", "beta-vae_beta4_seed1",
                     "tcvae_beta1_seed0", "tcvae_beta4_seed0", "tcvae_beta1_seed1",
                     "tcvae_beta4_seed1"]
    assert study.plan()["stages"]["tcvae_beta1_seed0"] == 2
    assert "stages" not in load_study(write(tmp_path)).plan()  # plans of older files unchanged


def test_parts_share_a_study_without_overlap_whatever_records_exist(tmp_path):
    study = load_study(write(tmp_path))
    states = [(n, c, "missing") for n, c in study.runs]
    _, whole = runs_to_do(study, states)
    assert [c.seed for _, c in whole] == [0, 0, 0, 1, 1, 1]  # seed by seed
    parts = [runs_to_do(study, states, part=(i, 3))[1] for i in (1, 2, 3)]
    assert sorted(n for p in parts for n, _ in p) == sorted(n for n, _ in whole)
    assert all(len(p) == 2 for p in parts)
    # a record written by another part meanwhile does not move the split
    done = [(n, c, "done" if n == whole[0][0] else s) for n, c, s in states]
    held, todo = runs_to_do(study, done, part=(2, 3))
    assert (held, todo) == (2, parts[1])
    assert runs_to_do(study, done, part=(1, 3)) == (2, parts[0][1:])
    assert [n for n, _ in runs_to_do(study, done, seeds=[1])[1]] == \
        [n for n, _ in whole if n.endswith("seed1")]
    with pytest.raises(RunError, match="seed 7 is not one of the study's seeds"):
        runs_to_do(study, done, seeds=[7])
    with pytest.raises(RunError, match="seed 7 is not one of the study's seeds"):
        run_study(study, tmp_path / "results", tmp_path / "work", seeds=[7], progress=False)
    assert [n for n, _ in runs_to_do(study, done, objectives=["beta-vae"])[1]] \
        == [n for n, _ in whole if n.startswith("beta-vae")]
    with pytest.raises(RunError, match="objective factorvae has no runs in the study"):
        run_study(study, tmp_path / "results", tmp_path / "work", objectives=["factorvae"],
                  progress=False)
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()
    for bad in ("0/2", "3/2", "2", "a/b"):
        with pytest.raises(RunError, match="--part takes I/N"):
            parse_part(bad)
    assert parse_part("2/3") == (2, 3)
