"""A user's prior, objective and dataset by import path, from the API and the CLI."""

import json
import textwrap

import pytest

from pyro_tcvae.models import VAE
from pyro_tcvae.runs import RunError, TrainConfig
from pyro_tcvae.runs.training import train

MODULE = '''
import pyro.distributions as dist
import torch

from pyro_tcvae.data import SmallSprites
from pyro_tcvae.models.priors import Prior
from pyro_tcvae.runs.registry import DatasetEntry, ObjectiveEntry, OBJECTIVES


class StudentTPrior(Prior):
    def distribution(self, like):
        return dist.StudentT(3.0, like.new_zeros(self.z_dim), 1.0).to_event(1)


def _half(config, dataset_size, z_dim, total_steps):
    made = OBJECTIVES["tcvae"].make(config, dataset_size, z_dim, total_steps)
    made.beta = 0.5 * made.beta  # a "new" objective: half of tcvae's beta
    return made


HALF_TCVAE = ObjectiveEntry(_half, lambda elbo, config, step: None, ("beta",), {"beta": 2.0})

TINY = DatasetEntry(make=lambda config, progress: SmallSprites(), image_shape=(32, 32),
                    binary=True, defaults={"arch": "small_mlp", "likelihood": "bernoulli",
                                           "z_dim": 3, "lr": 2e-3, "batch_size": 64,
                                           "steps": 6}, about="small sprites, by path")
NOT_AN_ENTRY = 3
'''


@pytest.fixture
def userpkg(tmp_path, monkeypatch):
    (tmp_path / "userpkg.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "userpkg"


def test_a_users_prior_objective_and_dataset_train_and_resume(tmp_path, userpkg):
    cfg = TrainConfig(dataset=f"{userpkg}:TINY", objective=f"{userpkg}:HALF_TCVAE",
                      prior=f"{userpkg}:StudentTPrior", checkpoint_every=3, log_every=3)
    c = cfg.validate()
    assert (c.z_dim, c.steps, c.beta, c.batch_size) == (3, 6, 2.0, 64)  # the entries' defaults
    run = tmp_path / "run"
    train(cfg, run, progress=False, echo=lambda *a: None)
    saved = json.loads((run / "config.json").read_text())
    assert saved["prior"] == "userpkg:StudentTPrior" and saved["dataset"] == "userpkg:TINY"
    vae = VAE.load(run / "model.pt")  # saved whole: its prior's class is importable
    assert type(vae.prior).__name__ == "StudentTPrior"
    # the run resumes from its config.json alone, the paths imported again
    more = train(TrainConfig.from_dict({**saved, "steps": 9}), run, resume=True,
                 progress=False, echo=lambda *a: None)
    assert more["step"] == 9


@pytest.mark.parametrize("option, path, message", [
    ("prior", "nosuchpkg.priors:P", "cannot import 'nosuchpkg.priors'.*PYTHONPATH"),
    ("prior", "userpkg:Missing", "userpkg has no attribute 'Missing'"),
    ("prior", "userpkg:TINY", "must be a subclass of pyro_tcvae.models.priors.Prior"),
    ("dataset", "userpkg:NOT_AN_ENTRY", "names a int.*must be a DatasetEntry"),
    ("objective", "userpkg:StudentTPrior", "must be an ObjectiveEntry"),
    ("objective", "userpkg:", "an import path is 'package.module:Name'"),
])
def test_a_bad_import_path_names_the_fix(userpkg, option, path, message):
    with pytest.raises(RunError, match=message):
        TrainConfig(**{option: path}).validate()


def test_the_command_line_takes_an_import_path_and_refuses_a_bad_name(tmp_path, userpkg,
                                                                       capsys):
    from pyro_tcvae.cli import main
    run = tmp_path / "cli_run"
    assert main(["train", "--dataset", "userpkg:TINY", "--prior", "userpkg:StudentTPrior",
                 "--out", str(run), "--no-eval", "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["prior"] == "userpkg:StudentTPrior"
    with pytest.raises(SystemExit) as e:
        main(["train", "--prior", "studentt", "--out", str(tmp_path / "x")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'studentt' (choose from normal, laplace, flow" in err
    assert "or give your own as module:Name" in err
    assert main(["train", "--prior", "userpkg:Nope", "--out", str(tmp_path / "y")]) == 2
    assert "userpkg has no attribute 'Nope'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
