"""A linear map of mostly-zero inputs, computed from the nonzeros only.

Binary images are mostly zeros: a dSprites frame has about 175 lit pixels of 4,096
(4.3%).  The first layer of an MLP encoder, ``x @ W.T + b`` with W [out, F], is the
largest matrix product of the paper's dSprites model (4,096 x 1,200 of its 14.2 M
multiply-adds per image), and both of its products, the forward ``x @ W.T`` and the
weight gradient ``g.T @ x``, only need the nonzeros of x:

    forward   y_b = b + sum_{f: x_bf != 0} x_bf W[:, f]        (a weighted embedding bag)
    backward  dW[:, f] = sum_{b: x_bf != 0} x_bf g_b           (x.T in CSR form @ g)
              db = sum_b g_b;   dx = g @ W (only when x requires a gradient)

Every product x_bf W[o, f] is the one the dense product forms (exactly so for 0/1
inputs); only the order of the sums differs, so results agree with ``F.linear`` to
float32 rounding.  On a 2-core CPU at batch 2048 the two products take about 0.25 s
instead of 0.93 s (``benchmarks/bench_train.py`` measures the whole step).

The work is done in float32 whatever the autocast state: it is cheap, and the first
layer of the encoder is where reduced precision would round the input features.
"""

import warnings

import torch
import torch.nn.functional as F

#: Inputs with at most this share of nonzeros take the sparse path (on a 2-core CPU the
#: sparse products cost about the dense ones at 15% nonzeros, at dSprites' 4.3% 0.27x).
MAX_DENSITY = 0.10


def is_sparse_enough(x, max_density=MAX_DENSITY):
    """Whether the sparse kernel is worth using for x [B, F]: a CPU tensor with at most
    ``max_density`` nonzeros (one pass over x)."""
    if x.device.type != "cpu" or x.dim() != 2 or x.numel() == 0:
        return False
    return int(torch.count_nonzero(x)) <= max_density * x.numel()


def _compressed_rows(x):
    """The nonzeros of x [B, F] in compressed-row form: (crow [B + 1], col [nnz],
    val [nnz] or None when every nonzero is 1)."""
    B, F_in = x.shape
    flat = x.reshape(-1).nonzero().squeeze(1)                     # row-major order
    starts = torch.arange(B + 1, device=x.device) * F_in
    crow = torch.searchsorted(flat, starts)                       # [B + 1]
    col = flat.remainder(F_in)
    val = x.reshape(-1)[flat]
    return crow, col, (None if bool((val == 1).all()) else val)


def _transposed(weight):
    """W.T [F, out], contiguous (the embedding bag reads one row per nonzero), copied at
    every call: about 10 ms at 4096 x 1200.  (Not cached: torch's fused Adam updates
    a parameter in place without bumping its version counter, so no cheap key tells a
    stale copy from a current one.)"""
    return weight.detach().t().contiguous()


class _SparseInputLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        crow, col, val = _compressed_rows(x)
        # a weighted embedding bag over the rows of W.T [F, out]: y_b = sum_f x_bf W.T[f]
        y = F.embedding_bag(col, _transposed(weight), crow[:-1], mode="sum",
                            per_sample_weights=val)               # [B, out]
        if bias is not None:
            y.add_(bias)
        ctx.save_for_backward(x if ctx.needs_input_grad[0] else None, weight)
        ctx.rows = (crow, col, val, x.shape) if ctx.needs_input_grad[1] else None
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        g = g.float().contiguous()
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = g @ weight                                       # [B, F]
        if ctx.needs_input_grad[1]:
            crow, col, val, shape = ctx.rows
            if val is None:
                val = g.new_ones(col.shape)
            with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
                warnings.simplefilter("ignore", UserWarning)
                csr = torch.sparse_csr_tensor(crow, col, val, shape)
            # x.T @ g with x.T in compressed-column form (CSC of x): [F, out], then laid
            # out as W [out, F] (torch's fused Adam reads a gradient's memory in the
            # parameter's layout and ignores a transposed view's strides)
            gw = torch.sparse.mm(csr.t(), g).t().contiguous()
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g.sum(0)
        return gx, gw, gb


def sparse_input_linear(x, weight, bias=None):
    """``F.linear(x, weight, bias)`` computed from the nonzeros of x, in float32.

    Parameters
    ----------
    x : Tensor [B, F]
        Input, mostly zeros (any values; 0/1 images are the case it is made for).
    weight : Tensor [out, F]
    bias : Tensor [out], optional

    Returns
    -------
    Tensor [B, out], float32, differentiable in x, weight and bias.
    """
    if x.dim() != 2:
        raise ValueError(f"sparse_input_linear takes x [B, F], got shape {tuple(x.shape)}")
    with torch.autocast(x.device.type, enabled=False):
        return _SparseInputLinear.apply(x.float(), weight.float(),
                                        None if bias is None else bias.float())
