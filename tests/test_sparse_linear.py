"""The sparse-input linear layer: F.linear's values and gradients from the nonzeros."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyro_tcvae.models.nets import MLPEncoder, SparseInputLinear
from pyro_tcvae.ops.sparse_linear import is_sparse_enough, sparse_input_linear


def _case(B=48, F_in=300, out=40, density=0.05, binary=True, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(B, F_in, generator=g) < density
    x = mask.to(dtype) if binary else mask * torch.randn(B, F_in, generator=g, dtype=dtype)
    W = torch.randn(out, F_in, generator=g, dtype=dtype)
    b = torch.randn(out, generator=g, dtype=dtype)
    return x, W, b


@pytest.mark.parametrize("binary", [True, False])
def test_values_and_gradients_equal_dense_linear(binary):
    x, W, b = _case(binary=binary, dtype=torch.float32)
    W.requires_grad_()
    b.requires_grad_()
    y = sparse_input_linear(x, W, b)
    g = torch.randn_like(y)
    gw, gb = torch.autograd.grad(y, (W, b), g)
    y_ref = F.linear(x, W, b)
    gw_ref, gb_ref = torch.autograd.grad(y_ref, (W, b), g)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gb, gb_ref)
    assert gw.stride() == W.stride()  # laid out as W: fused optimizers read it so


def test_training_with_fused_adam_follows_the_dense_layer():
    from pyro_tcvae.models.nets import MLP

    torch.manual_seed(0)
    sparse = MLP(256, 6, hidden=(32,), first=SparseInputLinear)
    dense = MLP(256, 6, hidden=(32,))
    dense.load_state_dict(sparse.state_dict())
    x = (torch.rand(64, 256, generator=torch.Generator().manual_seed(2)) < 0.05).float()
    target = torch.randn(64, 6, generator=torch.Generator().manual_seed(3))
    for net in (sparse, dense):
        # a large eps keeps Adam's step smooth in the gradient: with the usual 1e-8, a
        # gradient near 0 steps by about +-lr whatever its rounding
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, eps=1e-2, fused=True)
        for _ in range(5):
            opt.zero_grad(set_to_none=True)
            (net(x) - target).pow(2).mean().backward()
            opt.step()
    for (name, a), b in zip(sparse.state_dict().items(), dense.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_gradcheck_in_every_argument_including_the_input():
    x, W, b = _case(B=12, F_in=30, out=5, density=0.1, binary=False)
    for t in (x, W, b):
        t.requires_grad_()
    # the kernel works in float32 (see the module), so the tolerance is float32's
    assert torch.autograd.gradcheck(sparse_input_linear, (x, W, b), eps=1e-2, atol=1e-3)


def test_rows_without_nonzeros_give_the_bias():
    x, W, b = _case(dtype=torch.float32)
    x[:5] = 0
    y = sparse_input_linear(x, W, b)
    torch.testing.assert_close(y[:5], b.expand(5, -1))


def test_layer_takes_the_sparse_path_only_for_mostly_zero_cpu_inputs(monkeypatch):
    calls = []
    import pyro_tcvae.models.nets as nets

    def spy(*args):
        calls.append(1)
        return sparse_input_linear(*args)

    monkeypatch.setattr(nets, "sparse_input_linear", spy)
    layer = SparseInputLinear(300, 40)
    sparse, _, _ = _case(dtype=torch.float32)
    dense = torch.randn(48, 300)
    assert is_sparse_enough(sparse) and not is_sparse_enough(dense)
    torch.testing.assert_close(layer(dense), F.linear(dense, layer.weight, layer.bias))
    assert calls == []
    torch.testing.assert_close(layer(sparse), F.linear(sparse, layer.weight, layer.bias),
                               rtol=1e-5, atol=1e-5)
    assert calls == [1]


def test_layer_has_linear_state_dict_and_stays_float32_under_bf16_autocast():
    enc = MLPEncoder(64 * 64, 20)
    first = enc.net[0]
    assert isinstance(first, SparseInputLinear) and isinstance(first, nn.Linear)
    assert set(enc.state_dict()) == {f"net.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")}
    x = (torch.rand(16, 64, 64, generator=torch.Generator().manual_seed(1)) < 0.04).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = first(x.reshape(16, -1))
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, F.linear(x.reshape(16, -1), first.weight, first.bias),
                               rtol=1e-5, atol=1e-5)


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"x \[B, F\]"):
        sparse_input_linear(torch.zeros(2, 3, 4), torch.zeros(5, 12))


def test_the_embedding_bag_reads_a_contiguous_transposed_weight():
    # a strided W.T view makes every bag gather scattered columns: 100x slower
    from pyro_tcvae.ops.sparse_linear import _transposed

    W = torch.randn(40, 300)
    wt = _transposed(W)
    assert wt.is_contiguous() and torch.equal(wt, W.t())


def test_a_weight_updated_in_place_by_fused_adam_is_read_afresh():
    # fused Adam does not bump the version counter: nothing may be cached on it
    layer = SparseInputLinear(300, 40)
    x, _, _ = _case(dtype=torch.float32)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1, fused=True)
    with torch.no_grad():
        before = layer(x)
    layer(x).sum().backward()
    opt.step()
    with torch.no_grad():
        after = layer(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, F.linear(x, layer.weight, layer.bias), rtol=1e-5,
                               atol=1e-5)
