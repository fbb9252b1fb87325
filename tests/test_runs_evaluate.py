"""Evaluating a run (pyro_tcvae.runs.evaluate): the same numbers as the metrics called
directly, the items of nested views, the sharded encoding, stale results set aside, the
model's stamp, and the printed table."""

import hashlib
import json

import pytest
import torch

from pyro_tcvae.data import SmallSprites, View
from pyro_tcvae.metrics import elbo_decomposition, encode_dataset, mig, mig_histogram
from pyro_tcvae.models import VAE
from pyro_tcvae.runs import RunFolder, TrainConfig, evaluate, format_eval, train
from pyro_tcvae.runs.evaluate import (codes_path_for, dataset_indices, encode_sharded,
                                      evaluate_model, model_stamp, set_aside_results)
from pyro_tcvae.runs.parallel import Ranks

SMALL = dict(dataset="small_sprites", arch="small_mlp", z_dim=3, batch_size=64, threads=1)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sprites():
    return SmallSprites()


@pytest.fixture
def tiny(sprites):
    """An untrained VAE and 1,536 sprites of one scale (so that MIG leaves scale out)."""
    torch.manual_seed(0)
    data = sprites.subset(scale=1)
    return VAE(x_shape=(32, 32), z_dim=3, arch="small_mlp", dataset_size=len(data)), data


def _same_posterior(a, b):
    return torch.equal(a.loc, b.loc) and torch.equal(a.scale, b.scale)


@pytest.mark.parametrize("max_components", [None, 500])  # exact, and stratified
def test_evaluate_model_gives_the_metrics_computed_directly(tiny, max_components):
    vae, data = tiny
    settings = dict(num_samples=400, max_components=max_components, seed=3)
    result = evaluate_model(vae, data, progress=False, **settings)
    post = encode_dataset(vae, data, progress=False)
    direct = mig(post, data.factors, factor_names=data.factor_names, exclude=data.mig_exclude,
                 progress=False, **settings)
    assert result["mig"]["score"] == pytest.approx(direct.score, rel=1e-9, abs=1e-12)
    assert result["mig"]["gaps"] == pytest.approx(direct.gaps, rel=1e-9, abs=1e-12)
    assert result["mig"]["included"] == ["shape", "orientation", "posX", "posY"]
    hist = mig_histogram(posterior=post, factors=data.factors, factor_names=data.factor_names,
                         exclude=data.mig_exclude, seed=3)
    assert result["mig_histogram"]["score"] == pytest.approx(hist.score, rel=1e-9, abs=1e-12)
    terms = elbo_decomposition(vae, data, progress=False, posterior=post, **settings)
    for k in ("elbo", "log_likelihood", "kl", "mi", "tc", "dwkl"):
        assert result["decomposition"][k] == pytest.approx(terms[k], rel=1e-6, abs=1e-6), k
    assert result["items"] == len(data) and "suite" not in result
    assert set(result["timings"]) == {"encode", "marginals", "mig", "mig_histogram",
                                      "decomposition"}


def test_the_suite_needs_factors(tiny):
    vae, data = tiny
    no_factors = View(data, torch.arange(100))
    no_factors.factor_names, no_factors.factor_sizes = (), ()
    no_factors.factors = no_factors.factors[:, :0]
    with pytest.raises(ValueError, match="needs factors of variation"):
        evaluate_model(vae, no_factors, metrics="sap", progress=False)
    result = evaluate_model(vae, no_factors, num_samples=50, progress=False)
    assert result["mig"] is None and result["mig_histogram"] is None
    assert "MIG: none (the dataset has no factors of variation)" in format_eval(result)


def test_dataset_indices_compose_the_index_maps_of_nested_views(sprites):
    assert torch.equal(dataset_indices(sprites), torch.arange(len(sprites)))
    a = sprites.subset(shape="heart", scale=[0, 2])                 # a subset
    b = a.correlated("posX", "posY", 5.0, size=700, seed=1)         # a resampled multiset
    c = View(b, torch.tensor([699, 0, 5, 5, 300]))                  # any order, repeats
    expected = a.parent_indices[b.parent_indices[c.parent_indices]]
    assert torch.equal(dataset_indices(c), expected)
    assert torch.equal(c.images(), sprites.images(expected))
    assert torch.equal(c.factors, sprites.factors[expected])


class _Gathered(Exception):
    pass


class _Rank(Ranks):
    """Rank ``rank`` of ``world`` processes without torch.distributed: ``gather``
    records this rank's part in ``parts``; rank 0 (run last) gets them all, the
    others stop there."""

    def __init__(self, world, rank, parts):
        super().__init__(world, rank)
        self.parts = parts

    def gather(self, obj):
        self.parts[self.rank] = obj
        if not self.main:
            raise _Gathered
        return [self.parts[r] for r in range(self.world)]


@pytest.mark.parametrize("world", [1, 3, 20])
def test_encode_sharded_equals_encode_dataset(tiny, world):
    vae, data = tiny  # 1,536 items, 16 batches of 100: 20 ranks leave some without a batch
    whole = encode_dataset(vae, data, batch_size=100, progress=False)
    if world == 1:
        assert _same_posterior(encode_sharded(vae, data, Ranks(), progress=False,
                                              batch_size=100), whole)
        return
    parts = {}
    for rank in range(1, world):
        with pytest.raises(_Gathered):
            encode_sharded(vae, data, _Rank(world, rank, parts), progress=False, batch_size=100)
    got = encode_sharded(vae, data, _Rank(world, 0, parts), progress=False, batch_size=100)
    sizes = [0 if parts[r] is None else parts[r].batch_shape[0] for r in range(world)]
    shards = [s for s in sizes if s]
    assert sizes == shards + [0] * (world - len(shards))  # in rank order, the last idle
    assert sum(sizes) == len(data) and all(s % 100 == 0 for s in shards[:-1])
    assert _same_posterior(got, whole)  # whole batches: the very same numbers


def _write_results(folder, tag):
    folder.path.mkdir(exist_ok=True)
    folder.eval_path.write_text(json.dumps({"tag": tag}))
    codes_path_for(folder.eval_path).write_bytes(tag.encode())
    folder.figures.mkdir()
    (folder.figures / f"{tag}.png").write_bytes(b"png")


def test_set_aside_results_renames_and_replaces_older_stale_ones(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert codes_path_for(folder.eval_path) == folder.path / "eval_codes.npz"
    assert codes_path_for(tmp_path / "x" / "small.json") == tmp_path / "x" / "small_codes.npz"
    _write_results(folder, "first")
    stale = [folder.path / "eval.stale.json", folder.path / "eval_codes.stale.npz",
             folder.path / "figures.stale"]
    assert set_aside_results(folder) == stale
    assert not folder.eval_path.exists() and not folder.figures.exists()
    assert not codes_path_for(folder.eval_path).exists()
    _write_results(folder, "second")
    assert set_aside_results(folder) == stale
    assert json.loads(stale[0].read_text()) == {"tag": "second"}
    assert stale[1].read_bytes() == b"second"
    assert [p.name for p in stale[2].iterdir()] == ["second.png"]  # the older one is gone
    folder.eval_path.write_text("{}")  # only what exists is moved
    assert set_aside_results(folder) == [stale[0]]
    assert stale[1].exists() and stale[2].is_dir()
    assert set_aside_results(folder) == []


def test_model_stamp_is_the_sha256_of_the_file(tmp_path):
    path = tmp_path / "model.pt"
    blob = torch.randint(0, 256, (9 << 20,), dtype=torch.uint8).numpy().tobytes()  # 3 blocks
    path.write_bytes(blob)
    assert model_stamp(path) == hashlib.sha256(blob).hexdigest()
    path.write_bytes(b"")
    assert model_stamp(path) == hashlib.sha256(b"").hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("evaluate") / "run"
    out = train(TrainConfig(**SMALL, steps=4, log_every=2), path, progress=False,
                echo=lambda *a, **k: None)
    return path, out["model"], out["data"]


def test_evaluate_scores_a_fixed_subset_and_names_the_model(run, tmp_path):
    path, vae, data = run
    settings = dict(num_samples=300, max_components=1000, seed=2)
    result = evaluate(path, items=700, progress=False, out=tmp_path / "eval.json", **settings)
    # the subset by hand: 700 items drawn with the seed, in order
    g = torch.Generator().manual_seed(2)
    subset = View(data, torch.randperm(len(data), generator=g)[:700].sort().values)
    direct = evaluate_model(vae, subset, progress=False, **settings)
    assert result["items"] == 700
    assert result["mig"]["score"] == direct["mig"]["score"]
    assert result["decomposition"]["elbo"] == pytest.approx(direct["decomposition"]["elbo"],
                                                            rel=1e-6)
    assert result["settings"]["model_sha256"] == \
        hashlib.sha256((path / "model.pt").read_bytes()).hexdigest()
    assert result["config"] == TrainConfig(**SMALL, steps=4, log_every=2).validate().to_dict()
    assert json.loads((tmp_path / "eval.json").read_text())["mig"] == result["mig"]
    assert not (path / "eval.json").exists()  # written where asked only
    again = evaluate(path, items=700, progress=False, out=tmp_path / "eval.json", reuse=True,
                     **settings)
    assert again.pop("reused") is True and again == json.loads(
        (tmp_path / "eval.json").read_text())
    other = evaluate(path, items=600, progress=False, out=tmp_path / "eval.json", reuse=True,
                     **settings)
    assert "reused" not in other and other["items"] == 600


def test_the_printed_table_names_the_factors_mig_left_out(tiny):
    vae, data = tiny
    result = evaluate_model(vae, data, num_samples=300, progress=False)
    text = format_eval(result)
    gaps = result["mig"]["gaps"]
    assert f"{result['mig']['score']:8.4f}" in text
    assert f"(factors: {', '.join(gaps)}; left out: scale)" in text  # one value in this set
    for name, gap in gaps.items():
        assert f"{'  gap ' + name:28s} {gap:8.4f}" in text
    d = result["decomposition"]
    for k in ("elbo", "log_likelihood", "kl", "mi", "tc", "dwkl"):
        assert f"{'  ' + k:28s} {d[k]:8.3f} +- {d['stderr'][k]:.3f}" in text


def test_the_printed_evaluation_shows_mig_sup_when_recorded():
    from pyro_tcvae.runs import format_eval
    terms = ("elbo", "log_likelihood", "kl", "mi", "tc", "dwkl")
    result = {"mig": {"score": 0.3, "stderr": 0.01, "gaps": {"a": 0.3}, "factor_names": ["a"],
                      "mi": [[1.0, 0.0]], "sup": 0.25, "sup_stderr": 0.004},
              "mig_histogram": {"score": 0.2, "stderr": 0.01},
              "decomposition": {**{k: -1.0 for k in terms}, "stderr": {k: 0.1 for k in terms}}}
    text = format_eval(result)
    assert "MIG-sup (per latent)           0.2500 +- 0.0040   (a perfect code: 1 / 2)" in text
    # more factors than latents: each latent codes one factor at best, so D / D
    result3 = {**result, "mig": {**result["mig"], "gaps": {"a": 0.3, "b": 0.1, "c": 0.0},
                                 "factor_names": ["a", "b", "c"]}}
    assert "(a perfect code: 2 / 2)" in format_eval(result3)
    del result["mig"]["sup"], result["mig"]["sup_stderr"]  # an older eval.json
    assert "MIG-sup" not in format_eval(result) and "gap a" in format_eval(result)
