"""pyro_tcvae.data.cache: the cache folder and the one dataset-file finder."""

import pytest

from pyro_tcvae.data import dsprites, mpi3d, shapes3d
from pyro_tcvae.data.cache import cache_dir, find_data_file


class Missing(ValueError):
    pass


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("PYRO_TCVAE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "pyro_tcvae"
    assert dsprites.cache_dir is cache_dir  # still importable from where it was first


def test_find_data_file_looks_at_the_path_then_the_environment_then_the_cache(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path))
    monkeypatch.delenv("MY_FILE", raising=False)
    assert find_data_file(None, "MY_FILE", "set.npz", Missing) is None
    (tmp_path / "set.npz").write_bytes(b"")
    assert find_data_file(None, "MY_FILE", "set.npz", Missing) == tmp_path / "set.npz"
    other = tmp_path / "other.npz"
    other.write_bytes(b"")
    monkeypatch.setenv("MY_FILE", str(other))
    assert find_data_file(None, "MY_FILE", "set.npz", Missing) == other
    given = tmp_path / "given.npz"
    given.write_bytes(b"")
    assert find_data_file(str(given), "MY_FILE", "set.npz", Missing) == given
    with pytest.raises(Missing, match="nowhere"):
        find_data_file(tmp_path / "nowhere", "MY_FILE", "set.npz", Missing)
    monkeypatch.setenv("MY_FILE", str(tmp_path / "gone"))
    with pytest.raises(Missing, match="gone"):
        find_data_file(None, "MY_FILE", "set.npz", Missing)


@pytest.mark.parametrize("module,error", [(dsprites, dsprites.DSpritesFileError),
                                          (shapes3d, shapes3d.Shapes3DFileError),
                                          (mpi3d, mpi3d.MPI3DFileError)])
def test_each_dataset_names_a_missing_file(module, error, tmp_path, monkeypatch):
    monkeypatch.setenv("PYRO_TCVAE_CACHE", str(tmp_path))
    args = ("toy",) if module is mpi3d else ()
    with pytest.raises(error, match="not found: .*nowhere"):
        module.find_file(*args, path=tmp_path / "nowhere")
