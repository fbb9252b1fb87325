"""pyro_tcvae.files: the one atomic writer (and the run folder's, over it); a failed write
leaves the old file and no temporary behind, and every writer of the package goes
through it."""

import ast
import os
from pathlib import Path

import pytest
import torch

from pyro_tcvae.files import TEMPORARY, atomic_write, replacing, temporary_sibling
from pyro_tcvae.models import VAE
from pyro_tcvae.runs.folder import atomic_write as run_folder_atomic_write

PACKAGE = Path(__file__).resolve().parents[1] / "pyro_tcvae"


def test_temporary_names_are_recognised_with_their_pid(tmp_path):
    tmp = temporary_sibling(tmp_path / "model.pt")
    assert tmp.parent == tmp_path and tmp.name == f".model.pt.tmp{os.getpid()}"
    assert int(TEMPORARY.match(tmp.name).group(1)) == os.getpid()
    assert TEMPORARY.match("model.pt") is None


@pytest.mark.parametrize("sync", [False, True])
def test_atomic_write_replaces_the_file_and_creates_its_folder(tmp_path, sync):
    target = tmp_path / "a" / "b.bin"
    atomic_write(target, lambda f: f.write(b"one"), sync=sync)
    atomic_write(target, lambda f: f.write(b"two"), sync=sync)
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["b.bin"]


@pytest.mark.parametrize("write", [atomic_write, run_folder_atomic_write])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, write):
    target = tmp_path / "f.bin"
    write(target, lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"half")
        raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError):
        write(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_replacing_gives_a_path_and_renames_only_on_success(tmp_path):
    target = tmp_path / "x.npy"
    with replacing(target) as tmp:
        assert tmp != target and not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(KeyError):
        with replacing(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyError("x")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]


def test_a_failed_model_save_leaves_the_old_model_and_no_temporary(tmp_path, monkeypatch):
    torch.manual_seed(0)
    vae = VAE(x_shape=(12,), z_dim=3, arch="small_mlp", likelihood="gaussian",
              dataset_size=64)
    path = vae.save(tmp_path / "model.pt")
    before, weights = path.read_bytes(), next(vae.parameters()).detach().clone()
    save = torch.save

    def fail(obj, f, *args, **kwargs):
        save(obj, f, *args, **kwargs)  # the whole file is written, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", fail)
    with torch.no_grad():
        next(vae.parameters()).add_(1.0)
    with pytest.raises(OSError):
        vae.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert torch.equal(next(VAE.load(path).parameters()), weights)


def test_the_package_renames_files_in_one_place():
    """Every temp-file-then-rename writer goes through pyro_tcvae.files."""
    calls = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("replace", "rename") and \
                    isinstance(node.value, ast.Name) and node.value.id == "os":
                calls.append(str(path.relative_to(PACKAGE)))
    assert calls == ["files.py"]
