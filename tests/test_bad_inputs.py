"""Bad input to every command, as a new user might give it: one line on stderr that
names the fix, exit status 2, no traceback, and nothing written (issue 31)."""

import json

import numpy as np
import pytest

from pyro_tcvae.cli import main

STUDY = """name = "s"
seeds = [0]
[train]
dataset = "small_sprites"
arch = "small_mlp"
z_dim = 2
batch_size = 64
steps = 3
[evaluate]
items = 300
num_samples = 200
[[runs]]
objective = "tcvae"
beta = 4
"""


def _study(tmp_path, old=None, new=None, name="s.toml", text=STUDY):
    path = tmp_path / name
    path.write_text(text if old is None else text.replace(old, new, 1))
    return str(path)


def _files(tmp_path):
    """Every file under tmp_path (to check that a refusal writes nothing)."""
    return sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())


def _prepare(tmp_path):
    """The inputs the cases refer to: a plain file, an empty folder, record folders with
    a foreign and a truncated JSON, broken run folders, bad dataset files."""
    (tmp_path / "f.txt").write_text("garbage\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x.json").write_text('{"foo": 1}')
    (tmp_path / "truncated").mkdir()
    (tmp_path / "truncated" / "y.json").write_text('{"version": 1, "run": "a", "con')
    (tmp_path / "cut_run").mkdir()
    (tmp_path / "cut_run" / "config.json").write_text('{"dataset": "small_sprites", "obj')
    (tmp_path / "odd_run").mkdir()
    (tmp_path / "odd_run" / "config.json").write_text(json.dumps({"colour": 3}))
    np.savez(tmp_path / "bad.npz", images=np.zeros((5, 3, 3)))


CASES = {
    # study files
    "study: a typo'd option": (lambda t: ["study", _study(t, "steps = 3", "stepz = 3")],
                              "unknown option 'stepz' in train"),
    "study: an unknown objective": (lambda t: ["study", _study(t, '"tcvae"', '"tcvea"')],
                                   "objective must be one of tcvae"),
    "study: an empty grid": (lambda t: ["study", _study(t, "beta = 4", "beta = []")],
                            "a list of values needs at least one"),
    "study: no runs": (lambda t: ["study", _study(t, text='name = "s"\nseeds = [0]\n')],
                      "needs 'runs'"),
    "study: not TOML": (lambda t: ["study", _study(t, text='name = "s')], "is not valid TOML"),
    "study: no such file": (lambda t: ["study", str(t / "nosuch.toml")],
                           "cannot read the study file"),
    "study: a negative seed": (lambda t: ["study", _study(t, "[0]", "[-1]")],
                              "different integers >= 0"),
    "study: evaluate.items a word": (lambda t: ["study", _study(t, "items = 300",
                                                                'items = "many"')],
                                    "evaluate.items .* must be a whole number >= 0"),
    "study: a batch size as text": (lambda t: ["study", _study(t, "batch_size = 64",
                                                               'batch_size = "64"')],
                                   "batch_size must be of type int"),
    "study: an empty name": (lambda t: ["study", _study(t, 'name = "s"', 'name = ""')],
                            "must be a folder name"),
    "study: a bare MIG interval": (lambda t: ["study", _study(t, "steps = 3",
                                                              'steps = 3\nmig_every = "5"')],
                                  "needs a unit: 5m"),
    "study: --part beyond N": (lambda t: ["study", _study(t), "--part", "3/2"],
                              "--part takes I/N"),
    "study: --set of no option": (lambda t: ["study", _study(t), "--set", "stepz=3"],
                                 "--set takes OPTION=VALUE"),
    "study: --set of a bad value": (lambda t: ["study", _study(t), "--set", "steps=abc"],
                                   "'abc' is not an integer"),
    "study: --results a file": (lambda t: ["study", _study(t), "--results", str(t / "f.txt")],
                               "is a file, not a folder: choose another --results"),
    "study: --seeds not the file's": (lambda t: ["study", _study(t), "--seeds", "5"],
                                     "not one of the study's seeds"),
    # reports
    "report: an empty folder": (lambda t: ["report", str(t / "empty")], "no record files"),
    "report: a foreign JSON": (lambda t: ["report", str(t / "foreign")],
                              r"1 file\(s\) left out, e.g. x.json"),
    "report: a truncated JSON": (lambda t: ["report", str(t / "truncated")],
                                r"1 file\(s\) left out, e.g. y.json"),
    "report: no such folder": (lambda t: ["report", str(t / "nosuch")],
                              "run pyro-tcvae study FILE first"),
    # sweep
    "sweep: --out a file": (lambda t: ["sweep", "--out", str(t / "f.txt"), "--betas", "1"],
                           "is in the way"),
    "sweep: a negative beta": (lambda t: ["sweep", "--out", str(t / "sw"), "--betas", "-1"],
                              "beta must be a finite number >= 0"),
    # evaluate
    "evaluate: not a run folder": (lambda t: ["evaluate", str(t / "empty")],
                                  "not a run folder"),
    "evaluate: a cut config.json": (lambda t: ["evaluate", str(t / "cut_run")],
                                   "config.json is not valid JSON"),
    "evaluate: a foreign config.json": (lambda t: ["evaluate", str(t / "odd_run")],
                                       r"odd_run/config.json: unknown configuration keys"),
    "evaluate: a negative size": (lambda t: ["evaluate", str(t / "odd_run"),
                                             "--eval-items", "-1"],
                                 "--eval-items must be >= 0"),
    # distributed training: refused before torchrun starts any process
    "train: a batch that does not split": (lambda t: ["train", "--nproc", "3", "--batch-size",
                                                      "256", "--out", str(t / "r")],
                                          "must split evenly over 3 processes"),
    "train: FactorVAE on two processes": (lambda t: ["train", "--nproc", "2", "--objective",
                                                     "factorvae", "--out", str(t / "r")],
                                         "does not run on several processes"),
    "train: no processes": (lambda t: ["train", "--nproc", "0", "--out", str(t / "r")],
                           "--nproc must be >= 1"),
    # dataset files
    "dsprites: not an npz": (lambda t: ["train", "--dsprites-path", str(t / "f.txt"),
                                        "--out", str(t / "r")], "not a usable dSprites file"),
    "dsprites: the wrong keys": (lambda t: ["train", "--dsprites-path", str(t / "bad.npz"),
                                            "--out", str(t / "r")], "no key 'imgs'"),
    "mpi3d: the wrong shape": (lambda t: ["train", "--dataset", "mpi3d_toy", "--data-path",
                                          str(t / "bad.npz"), "--out", str(t / "r")],
                              r"has shape \(5, 3, 3\)"),
    "mpi3d: no such file": (lambda t: ["train", "--dataset", "mpi3d_toy", "--data-path",
                                       str(t / "no.npz"), "--out", str(t / "r")],
                           "MPI3D file not found"),
    "images: an empty folder": (lambda t: ["train", "--dataset", "images", "--data-path",
                                           str(t / "empty"), "--out", str(t / "r")],
                               "holds no images"),
    "smallnorb: an empty folder": (lambda t: ["train", "--dataset", "smallnorb",
                                              "--data-path", str(t / "empty"),
                                              "--out", str(t / "r")],
                                  "put the six files of SmallNORB"),
    "cars3d: an empty folder": (lambda t: ["train", "--dataset", "cars3d", "--data-path",
                                           str(t / "empty"), "--out", str(t / "r")],
                               "holds no .mat files"),
    "train: a prior nobody can import": (lambda t: ["train", "--prior", "nosuchpkg:P",
                                                    "--out", str(t / "r")],
                                        "cannot import 'nosuchpkg'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_the_fix_and_writes_nothing(case, tmp_path, capsys,
                                                                  monkeypatch):
    import re

    monkeypatch.chdir(tmp_path)  # default output folders would land here
    _prepare(tmp_path)
    make_argv, message = CASES[case]
    argv = make_argv(tmp_path)
    before = _files(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (case, out, err)
    assert "Traceback" not in err
    line = err.strip().splitlines()
    assert len(line) == 1 and line[0].startswith("pyro-tcvae: error: "), err
    assert re.search(message, line[0]), line[0]
    assert _files(tmp_path) == before, "a refusal wrote files"
