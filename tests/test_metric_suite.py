"""The field's metric suite (BetaVAE and FactorVAE scores, DCI, SAP, modularity and
explicitness) on codes built in the test where the answer is known: an identity code,
pure noise, a rotation that mixes two factors, duplicated and monotonically distorted
dimensions; closed forms checked by hand; bad input."""

import json
import math

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from sklearn.metrics import mutual_info_score, roc_auc_score

from pyro_tcvae.data import grid_factors
from pyro_tcvae.metrics import (beta_vae_score, dci, dci_from_importance, factor_vae_score,
                                modularity, modularity_from_mi, sap, sap_from_matrix)
from pyro_tcvae.metrics._suite import GroupSampler, discrete_mi, discretize
from pyro_tcvae.metrics.modularity import weighted_auc

SIZES = (3, 4, 4, 5)  # factors 1 and 2 share a size, so a rotation of the two mixes them
F = grid_factors(SIZES).repeat(8, 1).numpy()  # a full grid, 1920 items
K = len(SIZES)
CHANCE = 1 / K

# small protocols: every metric here on ~2,000 items in about a second (DCI a few)
DRAWS = dict(num_train=2000, num_eval=1000)  # BetaVAE and FactorVAE points
SPLIT = dict(num_train=1000, num_test=600)  # DCI, SAP, modularity items
DCI_SPLIT = dict(num_train=600, num_test=600)


def identity_code(noise=0.05, extra=2, seed=0):
    """Dimension k = factor k standardised, plus ``noise``; ``extra`` N(0, 1) dims."""
    rng = np.random.default_rng(seed)
    u = (F - F.mean(0)) / F.std(0)
    return np.concatenate([u + noise * rng.standard_normal(u.shape),
                           rng.standard_normal((len(F), extra))], 1)


def rotate(z, i=1, j=2):
    """Dimensions i and j turned by 45 degrees: each then carries both factors equally."""
    out = z.copy()
    out[:, i], out[:, j] = (z[:, i] + z[:, j]) / math.sqrt(2), (z[:, i] - z[:, j]) / math.sqrt(2)
    return out


def distort(z):
    """A strictly increasing map of every dimension."""
    return np.sinh(1.5 * z) + 3


IDENTITY = identity_code()
NOISE = np.random.default_rng(1).standard_normal(IDENTITY.shape)
ROTATED = rotate(IDENTITY)
DUPLICATED = np.concatenate([IDENTITY, IDENTITY[:, :K]], 1)  # every factor in two dims


@pytest.fixture(scope="module")
def dci_results():
    """DCI of the codes the tests compare (the protocol's boosted trees are slow)."""
    codes = {"identity": IDENTITY, "noise": NOISE, "rotated": ROTATED,
             "rotated_distorted": distort(ROTATED), "duplicated": DUPLICATED}
    return {name: dci(z, F, **DCI_SPLIT) for name, z in codes.items()}


# --- BetaVAE score -------------------------------------------------------------------
def test_beta_vae_score_identity_noise_rotation_distortion():
    ident = beta_vae_score(IDENTITY, F, **DRAWS)
    assert ident.score >= 0.9 and ident.train_score >= 0.9
    noise = beta_vae_score(NOISE, F, **DRAWS)
    assert noise.score == pytest.approx(CHANCE, abs=max(0.06, 4 * noise.stderr))
    # the two mixed factors give the same features: the classifier confuses them
    rot = beta_vae_score(ROTATED, F, **DRAWS)
    assert rot.score < ident.score - 0.15
    assert rot.score == pytest.approx(1 - 0.5 * 2 / K, abs=0.06)
    # the fixed factor's dimension still differs by ~0 after a monotone map
    assert beta_vae_score(distort(IDENTITY), F, **DRAWS).score >= 0.9
    assert 0 < noise.stderr < 0.03


# --- FactorVAE score -----------------------------------------------------------------
def test_factor_vae_score_identity_noise_rotation_distortion_duplicate():
    ident = factor_vae_score(IDENTITY, F, **DRAWS)
    assert ident.score >= 0.9
    assert list(ident.majority[:K]) == list(range(K))  # dimension k predicts factor k
    noise = factor_vae_score(NOISE, F, **DRAWS)
    assert noise.score == pytest.approx(CHANCE, abs=max(0.06, 4 * noise.stderr))
    rot = factor_vae_score(ROTATED, F, **DRAWS)
    assert rot.score < ident.score - 0.15
    assert factor_vae_score(distort(IDENTITY), F, **DRAWS).score >= 0.9
    # two dimensions of one factor both vote for it: the majority classifier maps both
    dup = factor_vae_score(DUPLICATED, F, **DRAWS)
    assert dup.score >= 0.9


def test_factor_vae_prunes_collapsed_dims_and_skips_constant_factors():
    collapsed = np.concatenate([IDENTITY, 0.01 * NOISE[:, :1]], 1)  # std 0.01 < 0.05
    r = factor_vae_score(collapsed, F, **DRAWS)
    assert not r.active[-1] and r.active[:-1].all()
    assert r.votes[:, -1].sum() == 0 and r.score >= 0.9
    # a factor with one value (dSprites' colour) fixes nothing: it never votes
    f = np.concatenate([np.zeros((len(F), 1), np.int64), F], 1)
    r2 = factor_vae_score(IDENTITY, f, factor_names=["colour", "a", "b", "c", "d"], **DRAWS)
    assert r2.factor_names == ("a", "b", "c", "d") and r2.votes.shape == (K, IDENTITY.shape[1])
    assert r2.score >= 0.9
    # every dimension collapsed: score 0, as in disentanglement_lib
    assert factor_vae_score(0.01 * NOISE, F, **DRAWS).score == 0.0


def test_group_sampler_draws_uniformly_within_a_value():
    rng = np.random.default_rng(0)
    f = np.array([[0, 2], [1, 0], [0, 0], [2, 2], [0, 1]])
    s = GroupSampler(f)
    k = np.full(30000, 0)
    items = s.draw(k, np.zeros_like(k), rng)
    assert set(items) == {0, 2, 4}
    assert np.bincount(items, minlength=5)[[0, 2, 4]] / 30000 == pytest.approx([1 / 3] * 3,
                                                                                abs=0.02)
    items = s.draw(np.array([1, 1, 0]), np.array([2, 1, 2]), rng)
    assert items[1] == 4 and items[2] == 3 and items[0] in (0, 3)


# --- DCI -----------------------------------------------------------------------------
def test_dci_from_importance_by_hand():
    # dim 0 serves factor 0 only; dim 1 both equally; dim 2 nothing
    R = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    d, c = dci_from_importance(R)
    # D_d = 1 - H_2(P_d): 1, 0, (weight 0); rho = (1, 2, 0) / 3
    assert d == pytest.approx(1 / 3, abs=1e-9)
    # C_k = 1 - H_3: factor 0 split over two dims -> 1 - log 2 / log 3; factor 1 -> 1;
    # weights (2, 1) / 3
    assert c == pytest.approx((2 * (1 - math.log(2) / math.log(3)) + 1) / 3, abs=1e-9)
    # disentanglement_lib's cases
    assert dci_from_importance(np.diag([5.0] * 5)) == pytest.approx((1.0, 1.0))
    two = np.hstack([np.diag([5.0] * 5)] * 2)  # one code for two factors
    assert dci_from_importance(two) == pytest.approx((1 - math.log(2) / math.log(10), 1.0))
    assert dci_from_importance(two.T) == pytest.approx((1.0, 1 - math.log(2) / math.log(10)))
    assert dci_from_importance(np.zeros((4, 3))) == pytest.approx((0.0, 0.0), abs=1e-6)
    batched = dci_from_importance(np.stack([R, np.eye(3)[:, :2]]))
    assert batched[0] == pytest.approx([1 / 3, 1.0]) and batched[1][1] == pytest.approx(1.0)


def test_dci_identity_noise_rotation(dci_results):
    ident, noise, rot = (dci_results[n] for n in ("identity", "noise", "rotated"))
    assert ident.score >= 0.9 and ident.completeness >= 0.9 and ident.informativeness >= 0.9
    assert np.argmax(ident.importance[:K], 1).tolist() == list(range(K))
    assert noise.score < 0.1 and noise.completeness < 0.1
    chance = np.mean([1 / s for s in SIZES])  # uniform classes
    assert noise.informativeness == pytest.approx(chance, abs=0.06)
    # two of four factors share two dimensions evenly: both scores drop to ~3/4, while
    # the information (informativeness) is all still there
    assert rot.score < ident.score - 0.15 and rot.completeness < ident.completeness - 0.1
    assert rot.informativeness >= 0.9
    assert ident.importance.shape == (IDENTITY.shape[1], K)
    assert 0 < noise.informativeness_stderr < 0.03 and 0 < rot.stderr < 0.02


def test_dci_duplicated_factors_cost_completeness_not_disentanglement(dci_results):
    # every factor in two identical dims: the trees split its importance in half, so
    # C = 1 - log 2 / log D while each dim still serves one factor (Eastwood & Williams)
    dup = dci_results["duplicated"]
    assert dup.score >= 0.9
    assert dup.completeness == pytest.approx(1 - math.log(2) / math.log(DUPLICATED.shape[1]),
                                             abs=0.05)


def test_dci_is_invariant_to_a_monotone_distortion(dci_results):
    # trees split on thresholds: a strictly increasing map leaves every partition
    a, b = dci_results["rotated"], dci_results["rotated_distorted"]
    assert np.allclose(a.importance, b.importance, atol=0.01)
    assert b.score == pytest.approx(a.score, abs=0.01)
    assert b.completeness == pytest.approx(a.completeness, abs=0.01)


def test_dci_takes_another_classifier():
    from sklearn.tree import DecisionTreeClassifier
    r = dci(IDENTITY, F, classifier=lambda s: DecisionTreeClassifier(random_state=s),
            **DCI_SPLIT)
    assert r.score >= 0.9 and math.isnan(r.stderr) and r.informativeness >= 0.9


# --- SAP -----------------------------------------------------------------------------
def test_sap_from_matrix_by_hand():
    S = np.array([[0.9, 0.2], [0.3, 0.25], [0.1, 0.7]])
    assert sap_from_matrix(S) == pytest.approx(((0.9 - 0.3) + (0.7 - 0.25)) / 2)
    assert sap_from_matrix(np.array([[0.4, 0.8]])) == pytest.approx(0.6)  # one dim


def test_sap_identity_noise_rotation_duplicate():
    # R^2 variant (disentanglement_lib's own test): a perfect code scores ~1
    ident_c = sap(IDENTITY, F, continuous_factors=True, **SPLIT)
    assert ident_c.score >= 0.9
    # the protocol's variant: a linear SVM on one dimension cannot carve a factor of
    # many values into its classes, so its maximum is well below 1 for those factors;
    # each factor's best dimension is still its own, ahead of every other
    ident = sap(IDENTITY, F, **SPLIT)
    assert np.argmax(ident.score_matrix, 0).tolist() == list(range(K))
    assert ident.gaps[0] >= 0.5  # 3 values: the SVM gets ~all, the next dim ~1/3
    noise = sap(NOISE, F, **SPLIT)
    assert noise.score < 0.05 and sap(NOISE, F, continuous_factors=True, **SPLIT).score < 0.05
    assert ident.score > noise.score + 0.3
    # the two mixed factors are read equally well from two dimensions: their gap is ~0
    rot = sap(ROTATED, F, continuous_factors=True, **SPLIT)
    assert rot.gaps[1] < 0.05 and rot.gaps[2] < 0.05 and rot.score < ident_c.score - 0.4
    assert sap(ROTATED, F, **SPLIT).score < ident.score - 0.05
    # a duplicated factor has two equally good dimensions (Kumar et al.; the lib's test)
    dup = sap(DUPLICATED, F, **SPLIT)
    assert dup.score < 0.05 and sap(DUPLICATED, F, continuous_factors=True, **SPLIT).score < 0.05
    assert 0 < ident.stderr < 0.05 and 0 < ident_c.stderr < 0.05


# --- modularity and explicitness -----------------------------------------------------
def test_modularity_from_mi_by_hand():
    mi = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]])
    # rows: 1, 1, 1 - 1 / (1 * 1) = 0, and 0 for a row of zeros
    assert modularity_from_mi(mi) == pytest.approx(2 / 4)
    # 1 - (1 + 1) / (9 * 2)
    assert modularity_from_mi(np.array([[3.0, 1.0, 1.0]])) == pytest.approx(1 - 1 / 9)
    # disentanglement_lib's cases
    assert modularity_from_mi(np.diag([5.0] * 5)) == pytest.approx(1.0)
    assert modularity_from_mi(np.hstack([np.diag([5.0] * 5)] * 2)) == pytest.approx(1 - 1 / 9)
    assert modularity_from_mi(np.vstack([np.diag([5.0] * 5)] * 2)) == pytest.approx(1.0)


def test_modularity_identity_noise_rotation_duplicate():
    ident = modularity(IDENTITY[:, :K], F, **SPLIT)
    assert ident.score >= 0.9 and ident.explicitness >= 0.9
    # extra uninformative dims keep the factor dims' modularity
    extra = modularity(IDENTITY, F, **SPLIT)
    assert (extra.per_dimension[:K] >= 0.9).all()
    # pure noise: explicitness at chance (AUC 1/2); modularity at *its* chance level,
    # which is not 0: the MI of an uninformative dimension is estimation bias, about
    # (bins - 1)(C_k - 1) / 2N, so the factor of most values dominates every row:
    # 1 - delta ~ 1 - sum_{k != k*} (C_k - 1)^2 / ((C_k* - 1)^2 (K - 1))
    noise = modularity(NOISE, F, **SPLIT)
    assert noise.explicitness == pytest.approx(0.5, abs=0.04)
    c = np.array(SIZES) - 1.0
    bias_level = 1 - (np.sum(c ** 2) - c.max() ** 2) / (c.max() ** 2 * (K - 1))
    assert noise.score == pytest.approx(bias_level, abs=0.15)
    # rotated dims carry two factors equally: squared MI (0, m, m, 0), so
    # 1 - delta = 1 - m^2 / (m^2 (K - 1)); explicitness (a linear read-out of all
    # dims) keeps every factor readable
    rot = modularity(ROTATED[:, :K], F, **SPLIT)
    assert rot.per_dimension[1:3] == pytest.approx([1 - 1 / (K - 1)] * 2, abs=0.05)
    assert rot.score < ident.score - 0.1
    assert rot.explicitness == pytest.approx(ident.explicitness, abs=0.02)
    # a factor in two dims is still modular: each dim serves one factor
    dup = modularity(np.concatenate([IDENTITY[:, :K]] * 2, 1), F, **SPLIT)
    assert dup.score >= 0.9
    assert 0 < noise.stderr < 0.1 and 0 < noise.explicitness_stderr < 0.03


def test_weighted_auc_matches_scikit_learn():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(300), 1)  # many ties
    y = rng.random(300) < 0.3 + 0.4 * scores
    assert weighted_auc(scores, y, np.ones((1, 300)))[0] == pytest.approx(roc_auc_score(y, scores))
    # integer weights are repeats
    w = rng.integers(0, 3, 300)
    rep = np.repeat(np.arange(300), w)
    assert weighted_auc(scores, y, w[None].astype(float))[0] == pytest.approx(
        roc_auc_score(y[rep], scores[rep]))


def test_discretize_and_mi_match_disentanglement_lib_helpers():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 3))
    binned = discretize(z, 20)
    for d in range(3):  # disentanglement_lib's histogram discretizer
        ref = np.digitize(z[:, d], np.histogram(z[:, d], 20)[1][:-1])
        assert np.array_equal(binned[:, d] + 1, ref)
    f = rng.integers(0, 4, (500, 2))
    mi = discrete_mi(binned, f)
    ref = [[mutual_info_score(f[:, k], binned[:, d]) for k in range(2)] for d in range(3)]
    assert np.allclose(mi, ref)
    w = rng.integers(0, 3, (2, 500)).astype(float)  # weights are repeats
    rep = np.repeat(np.arange(500), w[1].astype(int))
    assert np.allclose(discrete_mi(binned, f, w)[1], [[mutual_info_score(
        f[rep, k], binned[rep, d]) for k in range(2)] for d in range(3)])


# --- every metric: inputs and results ------------------------------------------------
ALL = {
    "beta_vae_score": (beta_vae_score, DRAWS),
    "factor_vae_score": (factor_vae_score, DRAWS),
    "dci": (dci, dict(DCI_SPLIT, classifier=None)),
    "sap": (sap, SPLIT),
    "modularity": (modularity, SPLIT),
}


@pytest.mark.parametrize("name", ["beta_vae_score", "factor_vae_score", "sap", "modularity"])
def test_posteriors_tensors_and_json(name):
    fn, kw = ALL[name]
    a = fn(IDENTITY, F, **kw)
    loc = torch.as_tensor(IDENTITY)
    b = fn(dist.Normal(loc, torch.ones_like(loc)), torch.as_tensor(F), **kw)
    assert a.score == b.score and a.stderr == b.stderr
    out = json.loads(json.dumps(a.as_dict()))
    assert out["score"] == a.score and out["stderr"] == a.stderr and "+-" in str(a)


@pytest.mark.parametrize("name", list(ALL))
def test_bad_input_names_the_fix(name):
    fn, kw = ALL[name]
    with pytest.raises(ValueError, match="same items"):
        fn(IDENTITY[:-1], F, **kw)
    nan = IDENTITY.copy()
    nan[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN.*drop those items"):
        fn(nan, F, **kw)
    with pytest.raises(ValueError, match="integer classes"):
        fn(IDENTITY, F.astype(float), **kw)
    with pytest.raises(ValueError, match="single value"):
        fn(IDENTITY, np.zeros_like(F), **kw)
    with pytest.raises(ValueError, match="outside"):
        fn(IDENTITY, F, factor_sizes=(3, 4, 4, 4), **kw)
    small = slice(0, 40)
    if name in ("beta_vae_score", "factor_vae_score"):
        with pytest.raises(ValueError, match="batch_size="):
            fn(IDENTITY[small], F[small], **kw)
        with pytest.raises(ValueError, match="two or more values"):  # one factor varies
            fn(IDENTITY, F * (np.arange(K) == 0), **kw)
    else:
        with pytest.raises(ValueError, match=r"num_train=26, num_test=14"):
            fn(IDENTITY[small], F[small], **kw)


def test_modularity_standard_error_is_small_for_clean_codes_with_collapsed_dims():
    # a clean identity code, then the same with two collapsed dimensions whose codes
    # are all equal (a constant mean): their MI is exactly 0, not round-off, so they
    # score 0 every time and the standard error stays small (it was ~0.2 before)
    ident = modularity(IDENTITY[:, :K], F, **SPLIT)
    assert ident.score >= 0.9 and 0 < ident.stderr < 0.05
    collapsed = np.concatenate([IDENTITY[:, :K], np.zeros((len(F), 2))], 1)
    r = modularity(collapsed, F, **SPLIT)
    assert (r.mi[K:] == 0).all() and (r.per_dimension[K:] == 0).all()
    assert r.score == pytest.approx(ident.score * K / (K + 2))
    assert 0 < r.stderr < 0.05
    assert (discrete_mi(discretize(np.full((50, 1), 3.0)), F[:50]) == 0).all()


def test_dci_in_worker_processes_is_what_one_process_gives():
    one = dci(ROTATED, F, n_jobs=1, **DCI_SPLIT)
    two = dci(ROTATED, F, n_jobs=2, **DCI_SPLIT)
    assert np.array_equal(one.importance, two.importance)
    assert (one.score, one.stderr, one.completeness, one.informativeness,
            one.informativeness_stderr) == (two.score, two.stderr, two.completeness,
                                            two.informativeness, two.informativeness_stderr)


# --- the suite by name, its subset and its codes file ------------------------------------
from pyro_tcvae.metrics import load_codes, save_codes, score_codes, score_suite  # noqa: E402
from pyro_tcvae.metrics.suite import (SUITE, parse_metrics, subset_codes,  # noqa: E402
                                      suite_subset)

SMALL_SUITE = {"beta_vae": DRAWS, "factor_vae": DRAWS, "dci": DCI_SPLIT, "sap": SPLIT,
               "modularity": SPLIT}


def test_score_suite_is_each_metric_by_name_with_its_time():
    out = score_suite(IDENTITY, F, metrics=["sap", "beta_vae"], options=SMALL_SUITE, seed=3)
    assert set(out) == {"sap", "beta_vae", "timings"} and set(out["timings"]) == {"sap",
                                                                                 "beta_vae"}
    assert out["sap"] == sap(IDENTITY, F, seed=3, **SPLIT).as_dict()
    assert out["beta_vae"] == beta_vae_score(IDENTITY, F, seed=3, **DRAWS).as_dict()
    assert all(t > 0 for t in out["timings"].values())
    with pytest.raises(ValueError, match="unknown suite metric 'mig'.*beta_vae, factor_vae, "
                                         "dci, sap, modularity"):
        score_suite(IDENTITY, F, metrics=["sap", "mig"])
    # fewer items than the protocol's 10,000 + 5,000: both sizes scaled down, 2 : 1
    mod = score_suite(IDENTITY, F, metrics=["modularity"])["modularity"]
    assert (mod["num_train"], mod["num_test"]) == (1280, 640) and mod["score"] >= 0.5
    # a metric's bad input raises, or is recorded as that metric's error
    with pytest.raises(ValueError, match="single value"):
        score_suite(IDENTITY, np.zeros_like(F), metrics=["sap"])
    out = score_suite(IDENTITY, np.zeros_like(F), metrics=["sap"], errors="record")
    assert "single value" in out["sap"]["error"]


def test_parse_metrics_takes_mig_all_and_lists():
    assert parse_metrics(None) == parse_metrics("mig") == ()
    assert parse_metrics("all") == parse_metrics("mig,all") == SUITE
    assert parse_metrics("mig, sap,dci") == ("dci", "sap")  # the suite's order
    assert parse_metrics(["modularity", "beta_vae"]) == ("beta_vae", "modularity")
    with pytest.raises(ValueError, match=r"unknown metric 'dcii': choose from mig, beta_vae, "
                                         r"factor_vae, dci, sap, modularity .*or all"):
        parse_metrics("mig,dcii")


def test_the_subset_and_its_codes_file_round_trip(tmp_path):
    n = len(F)
    a, b = suite_subset(n, 500, seed=1), suite_subset(n, 500, seed=2)
    assert len(a) == len(torch.unique(a)) == 500 and torch.equal(a, a.sort().values)
    assert torch.equal(a, suite_subset(n, 500, seed=1)) and not torch.equal(a, b)
    assert torch.equal(suite_subset(n, 15_000), torch.arange(n))  # all items fit
    loc = torch.as_tensor(IDENTITY, dtype=torch.float32)
    post = dist.Normal(loc, 0.1 + loc.abs())
    parent = torch.arange(n) * 3 + 7  # the items' indices in a larger dataset
    codes = subset_codes(post, torch.as_tensor(F), ("a", "b", "c", "d"), SIZES, items=500,
                         seed=1, dataset_indices=parent)
    assert codes["loc"].dtype == np.float16 and codes["loc"].shape == (500, IDENTITY.shape[1])
    assert np.array_equal(codes["loc"], loc[a].numpy().astype(np.float16))
    assert np.array_equal(codes["scale"], (0.1 + loc[a].abs()).numpy().astype(np.float16))
    assert np.array_equal(codes["indices"], parent[a].numpy())
    assert np.array_equal(codes["factors"], F[a.numpy()]) and codes["factors"].dtype == np.uint8
    save_codes(tmp_path / "x.codes.npz", codes)
    back = load_codes(tmp_path / "x.codes.npz")
    assert back["factor_names"] == ("a", "b", "c", "d") and back["seed"] == 1
    for k in ("loc", "scale", "indices", "factors", "factor_sizes"):
        assert np.array_equal(back[k], codes[k]) and back[k].dtype == codes[k].dtype, k
    options = {"sap": dict(num_train=300, num_test=200), "beta_vae": dict(num_train=500,
                                                                          num_eval=300)}
    one, two = (score_codes(c, ["beta_vae", "sap"], options) for c in (codes, back))
    assert {k: v for k, v in one.items() if k != "timings"} == \
        {k: v for k, v in two.items() if k != "timings"}
