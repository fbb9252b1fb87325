import itertools
import math

import pytest
import torch

from pyro_tcvae.ops.weights import importance_weight_matrix, log_importance_weights


def test_mss_worked_small_case():
    # B = 3 datapoints of N = 5: own component 1/N = 0.2, the two others each
    # (N - 1) / (N (B - 1)) = 4 / 10 = 0.4.
    W = importance_weight_matrix("mss", 3, 5)
    expected = torch.tensor([[0.2, 0.4, 0.4], [0.4, 0.2, 0.4], [0.4, 0.4, 0.2]], dtype=W.dtype)
    assert torch.allclose(W, expected, atol=1e-15)


@pytest.mark.parametrize("B,N", [(2, 2), (2, 10), (7, 7), (16, 100), (256, 737280)])
def test_mss_diagonal_and_rows(B, N):
    W = importance_weight_matrix("mss", B, N)
    assert torch.allclose(W.diagonal(), torch.full((B,), 1.0 / N, dtype=W.dtype))
    assert torch.allclose(W.sum(1), torch.ones(B, dtype=W.dtype))
    # the own component sits on the diagonal, not in column 0 (the reference code's bug)
    if B > 2 and N > B:
        assert W[1, 1] < W[1, 0]


def test_mss_is_uniform_when_batch_is_dataset():
    W = importance_weight_matrix("mss", 9, 9)
    assert torch.allclose(W, torch.full((9, 9), 1 / 9, dtype=W.dtype))


def test_mws_is_the_papers_formula():
    ld, lo = log_importance_weights("mws", 32, 1000)
    assert ld == lo == pytest.approx(-math.log(32 * 1000))


def test_mss_is_unbiased_over_all_batches():
    # E over every batch (own point + B-1 others without replacement) of
    # sum_j w_ij q_j equals the exact mean (1/N) sum_n q_n.
    N, B = 6, 3
    q = torch.tensor([0.3, 1.7, 0.2, 2.5, 0.9, 1.1], dtype=torch.float64)
    W = importance_weight_matrix("mss", B, N)
    own = 0
    others = [n for n in range(N) if n != own]
    estimates = []
    for rest in itertools.combinations(others, B - 1):
        members = [own, *rest]
        estimates.append((W[0] * q[members]).sum())
    assert torch.stack(estimates).mean() == pytest.approx(q.mean().item(), rel=1e-12)


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="batch of 1.*estimator='mws'"):
        log_importance_weights("mss", 1, 100)
    with pytest.raises(ValueError, match="smaller than the batch size.*dataset_size"):
        log_importance_weights("mss", 64, 10)
    with pytest.raises(ValueError, match="Unknown estimator 'iws'.*'mss'.*'mws'"):
        log_importance_weights("iws", 64, 100)
    assert log_importance_weights("mws", 1, 100)[0] == pytest.approx(-math.log(100))
