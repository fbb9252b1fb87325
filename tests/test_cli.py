"""The command line: generated from the configuration schema, clean errors."""

import dataclasses
import re

import pytest

from pyro_tcvae.cli import build_parser, main
from pyro_tcvae.runs import CHOICES, DATASETS, TrainConfig
from pyro_tcvae.runs.registry import BUILTIN_DATASET

SMALL = ["--arch", "small_mlp", "--z-dim", "2", "--batch-size", "64", "--steps", "3",
         "--no-eval", "--quiet"]


def _help(command="train"):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return {a.dest: a for a in sub._actions}, sub.format_help()


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``pyro-tcvae argv``; never a traceback."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_every_option_of_the_schema_is_a_flag_with_its_choices_and_default():
    actions, text = _help()
    for f in dataclasses.fields(TrainConfig):
        if not f.metadata["cli"]:
            assert f.name not in actions
            continue
        a = actions[f.name]
        assert a.option_strings == ["--" + f.name.replace("_", "-")]
        assert a.default is None  # so that the configuration knows what was given
        if f.name in ("dataset", "objective", "prior"):  # or a user's, by import path
            assert a.choices is None and all(n in " ".join(a.help.split())
                                             for n in CHOICES[f.name])
            assert a.type("mypkg.things:Thing") == "mypkg.things:Thing"
        else:
            assert tuple(a.choices or ()) == tuple(CHOICES.get(f.name, ()))
        if f.metadata["dataset_default"] and f.name != "epochs":
            builtin = DATASETS[BUILTIN_DATASET].defaults[f.name]
            shown = f"{builtin:g}" if isinstance(builtin, float) else str(builtin)
            assert f"{BUILTIN_DATASET} {shown}" in " ".join(a.help.split()), f.name
        elif f.default is not None:
            shown = f"{f.default:g}" if isinstance(f.default, float) else str(f.default)
            assert f"default: {shown}" in a.help, f.name
    assert "1.5x" not in text


def test_no_options_is_the_builtin_run_and_the_description_says_what_it_is():
    args = build_parser().parse_args(["train"])
    from pyro_tcvae.cli import _config

    c = _config(args, print)
    assert c == TrainConfig().validate()
    _, text = _help()
    text = " ".join(text.split())
    for piece in (f"{c.z_dim} latents", f"{c.steps} steps of batch {c.batch_size}",
                  f"lr {c.lr:g}", c.dataset):
        assert piece in text


def test_bad_flags_and_values_are_refused_cleanly(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--objective", "gan"])
    assert e.value.code == 2 and "invalid choice: 'gan'" in capsys.readouterr().err
    code, _, err = run_cli(capsys, "train", "--beta", "-1", "--out", tmp_path / "neg")
    assert code == 2 and "beta must be a finite number >= 0" in err
    assert not (tmp_path / "neg").exists()
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "nowhere")
    assert code == 2 and "not a run folder" in err
    code, _, err = run_cli(capsys, "train", "--out", tmp_path / "y", "--resume")
    assert code == 2 and "not a run folder" in err
    code, _, err = run_cli(capsys, "train", "--batch-size", "5000", "--out", tmp_path / "b")
    assert code == 2 and "use --batch-size 4608 or less" in err and "plate" not in err


def test_dsprites_path_implies_the_dataset_and_a_garbage_file_is_refused(tmp_path, capsys):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\0" * 100)
    code, out, err = run_cli(capsys, "train", "--dsprites-path", garbage, "--out",
                             tmp_path / "d", "--quiet")
    assert "implies --dataset dsprites" in out
    assert code == 2 and str(garbage) in err
    assert not (tmp_path / "d").exists()
    code, _, err = run_cli(capsys, "train", "--dataset", "small_sprites", "--dsprites-path",
                           garbage, "--out", tmp_path / "e")
    assert code == 2 and "add --dataset dsprites, or drop --dsprites-path" in err


def test_out_that_is_a_file_or_unwritable_is_one_line(tmp_path, capsys, monkeypatch):
    f = tmp_path / "afile"
    f.write_text("x")
    code, _, err = run_cli(capsys, "train", *SMALL, "--out", f)
    assert code == 2 and err.count("\n") == 1 and "is a file, not a folder" in err
    code, _, err = run_cli(capsys, "train", *SMALL, "--out", f / "below")
    assert code == 2 and "is a file, not a folder" in err
    # a read-only file system (root may write anywhere, so the check is simulated)
    import pyro_tcvae.runs.folder as folder

    monkeypatch.setattr(folder.os, "access", lambda path, mode: False)
    monkeypatch.setattr(folder, "_read_only", lambda path: True)
    code, _, err = run_cli(capsys, "train", *SMALL, "--out", tmp_path / "ro")
    assert code == 2 and err.count("\n") == 1
    assert "the file system is read-only): choose another --out" in err


def test_a_run_and_its_labelled_output(tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--arch", "small_mlp", "--z-dim", "2",
                             "--batch-size", "64", "--steps", "20", "--quiet", "--out", run)
    assert code == 0, err
    done = next(line for line in out.splitlines() if line.startswith("done:"))
    assert "Minibatch estimates" in done and "biased" in done
    assert "full-dataset terms" in out
    # MIG on the built-in set scores shape too, and says so
    mig_line = next(line for line in out.splitlines() if line.startswith("MIG (paper"))
    assert "factors: shape, scale, orientation, posX, posY" in mig_line
    code, out, err = run_cli(capsys, "train", "--arch", "small_mlp", "--z-dim", "2",
                             "--batch-size", "64", "--steps", "20", "--quiet", "--out", run)
    assert code == 2 and "already holds a run" in err and "--resume" in err
    assert "training in" not in out + err  # refused before the run is announced
    code, out, err = run_cli(capsys, "train", "--arch", "small_mlp", "--z-dim", "2",
                             "--batch-size", "64", "--steps", "20", "--quiet", "--out", run,
                             "--nproc", "2")  # and before torchrun starts any process
    assert code == 2 and "already holds a run" in err and err.count("\n") == 1
    assert "training in" not in out + err
    code, _, err = run_cli(capsys, "train", "--out", run, "--resume", "--beta", "2")
    assert code == 2 and re.search(r"other settings \(beta: checkpoint 6\.0 vs now 2\.0\)", err)


def test_batch_of_the_whole_dataset_trains_without_the_plate_warning(tmp_path, recwarn):
    from pyro_tcvae.runs import train

    cfg = TrainConfig(dataset="nonlinear", batch_size=1000, steps=3, z_dim=2)
    train(cfg, tmp_path / "full", progress=False)
    assert not [w for w in recwarn.list if "not subsampled" in str(w.message)]


def test_help_runs(capsys):
    for cmd in ("train", "evaluate", "plot", "sweep"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
    assert "pyro-tcvae" in capsys.readouterr().out


def test_one_train_command_builds_the_dataset_and_the_model_once(tmp_path, capsys,
                                                                 monkeypatch):
    import pyro_tcvae.runs.registry as registry
    from pyro_tcvae.models import VAE

    counts = {"data": 0, "model": 0}
    entry = registry.DATASETS["small_sprites"]

    def make(config, progress):
        counts["data"] += 1
        return entry.make(config, progress)

    monkeypatch.setitem(registry.DATASETS, "small_sprites",
                        dataclasses.replace(entry, make=make))
    init = VAE.__init__

    def counted(self, *a, **k):
        counts["model"] += 1
        init(self, *a, **k)

    monkeypatch.setattr(VAE, "__init__", counted)
    code, out, err = run_cli(capsys, "train", "--arch", "small_mlp", "--z-dim", "2",
                             "--batch-size", "64", "--steps", "5", "--quiet",
                             "--out", tmp_path / "r")
    assert code == 0, err
    assert "figures:" in out and (tmp_path / "r" / "eval.json").is_file()
    assert counts == {"data": 1, "model": 1}


def test_evaluate_adds_the_metric_suite_on_request(tmp_path, capsys):
    import json

    import numpy as np

    from pyro_tcvae.metrics import load_codes

    run = tmp_path / "r"
    code, _, err = run_cli(capsys, "train", *SMALL, "--out", run)
    assert code == 0, err
    code, _, err = run_cli(capsys, "evaluate", run, "--metrics", "mig,dcii", "--quiet")
    assert code == 2 and "unknown metric 'dcii'" in err and "beta_vae" in err and "all" in err
    assert not (run / "eval.json").exists()
    # default: today's evaluation, no suite and no codes file
    code, out, err = run_cli(capsys, "evaluate", run, "--num-samples", "300", "--quiet")
    assert code == 0, err
    assert "suite" not in json.loads((run / "eval.json").read_text())
    assert "metric suite" not in out and not (run / "eval_codes.npz").exists()
    code, out, err = run_cli(capsys, "evaluate", run, "--num-samples", "300", "--quiet",
                             "--metrics", "mig,sap,modularity", "--suite-items", "900")
    assert code == 0, err
    result = json.loads((run / "eval.json").read_text())
    suite = result["suite"]
    assert set(suite) == {"sap", "modularity", "timings", "items"} and suite["items"] == 900
    assert suite["sap"]["num_train"] + suite["sap"]["num_test"] == 900
    assert result["mig"] is not None and "timings" in result
    assert "metric suite (900 items, posterior means):" in out
    assert re.search(r"\n  SAP +\d\.\d{4} \+- \d\.\d{4}\n", out)
    assert re.search(r"\n  modularity +\d\.\d{4} \+- \d\.\d{4}   \(explicitness", out)
    codes = load_codes(run / "eval_codes.npz")
    assert codes["loc"].shape == (900, 2) and len(np.unique(codes["indices"])) == 900
    assert "eval_codes.npz" in out


def test_evaluation_size_reuse_and_stale_results(tmp_path, capsys):
    import json
    import time

    run = tmp_path / "r"
    code, out, err = run_cli(capsys, "train", *SMALL[:-2], "--out", run, "--eval-items", "1000")
    assert code == 0, err
    assert "evaluating on a fixed random subset of 1,000 of the 4,608 items" in out
    first = json.loads((run / "eval.json").read_text())
    assert first["items"] == 1000 and first["settings"]["items"] == 1000
    # the same model and settings: shown from eval.json, not computed again
    t = time.perf_counter()
    code, out, err = run_cli(capsys, "evaluate", run, "--eval-items", "1000", "--quiet")
    assert code == 0 and "already holds this evaluation" in out, err
    assert time.perf_counter() - t < 5
    assert f"{first['mig']['score']:8.4f}" in out
    # another size is another evaluation; --force computes the same one again
    code, out, err = run_cli(capsys, "evaluate", run, "--eval-items", "800", "--quiet",
                             "--num-samples", "300")
    assert code == 0 and "evaluated on 800 items (a fixed random subset)" in out, err
    code, out, err = run_cli(capsys, "evaluate", run, "--eval-items", "800", "--quiet",
                             "--num-samples", "300", "--force")
    assert code == 0 and "already holds" not in out
    code, out, err = run_cli(capsys, "evaluate", run, "--eval-items", "-3")
    assert code == 2 and "--eval-items must be >= 0" in err
    # training on leaves no evaluation or figures that pass for the newer model's
    assert (run / "figures").is_dir()
    code, out, err = run_cli(capsys, "train", "--out", run, "--resume", "--steps", "30",
                             "--no-eval", "--quiet")
    assert code == 0, err
    assert "set aside as eval.stale.json, figures.stale" in out
    assert not (run / "eval.json").exists() and not (run / "figures").exists()
    assert (run / "eval.stale.json").exists() and (run / "figures.stale").is_dir()
    code, out, err = run_cli(capsys, "evaluate", run, "--eval-items", "800", "--quiet",
                             "--num-samples", "300")
    assert code == 0 and "already holds" not in out


def test_a_finished_run_says_what_it_keeps_and_can_drop_its_checkpoint(tmp_path, capsys):
    run = tmp_path / "r"
    code, out, err = run_cli(capsys, "train", *SMALL, "--out", run)
    assert code == 0, err
    line = next(l for l in out.splitlines() if l.startswith("kept in"))
    assert "model.pt" in line and "checkpoint.pt" in line and "--drop-checkpoint" in line
    assert (run / "checkpoint.pt").exists()
    run2 = tmp_path / "r2"
    code, out, err = run_cli(capsys, "train", *SMALL, "--out", run2, "--drop-checkpoint")
    assert code == 0, err
    assert not (run2 / "checkpoint.pt").exists() and (run2 / "model.pt").exists()
    line = next(l for l in out.splitlines() if l.startswith("kept in"))
    assert "checkpoint" not in line
    code, out, err = run_cli(capsys, "train", "--out", run2, "--resume", "--steps", "6")
    assert code == 2 and "without its checkpoint" in err and err.count("\n") == 1, err


def test_a_study_says_where_it_writes_and_what_it_skipped(tmp_path, capsys, monkeypatch):
    study = tmp_path / "s.toml"
    study.write_text('name = "s"\nseeds = [0]\n[train]\ndataset = "small_sprites"\n'
                     'arch = "small_mlp"\nz_dim = 2\nbatch_size = 64\nsteps = 3\n'
                     '[evaluate]\nitems = 300\nnum_samples = 200\n'
                     '[[runs]]\nobjective = "tcvae"\nbeta = 4\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "study", study, "--quiet")
    assert code == 0, err
    assert f"records: {tmp_path / 'docs' / 'results' / 's'}" in out
    assert "already had a record" not in out
    code, out, err = run_cli(capsys, "study", study, "--quiet")
    assert code == 0 and "none was trained" in out and "--name s_mine" in out, out


@pytest.mark.parametrize("option", ["--results", "--work"])
def test_a_study_folder_in_the_way_names_the_option_to_change(tmp_path, capsys, option):
    study = tmp_path / "s.toml"
    study.write_text('name = "s"\nseeds = [0]\n[train]\ndataset = "small_sprites"\n'
                     'arch = "small_mlp"\nz_dim = 2\nbatch_size = 64\nsteps = 3\n'
                     '[[runs]]\nobjective = "tcvae"\n')
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    other = "--work" if option == "--results" else "--results"
    code, out, err = run_cli(capsys, "study", study, "--quiet", option, blocker,
                             other, tmp_path / "ok")
    assert code == 2 and err.count("\n") == 1, err
    assert f"is a file, not a folder: choose another {option}" in err
    assert not (tmp_path / "ok").exists()  # refused before anything was written
