"""Small synthetic ground-truth sets, generated in milliseconds."""

import torch


def nonlinear_factors(num_samples=2000, num_factors=3, x_dim=12, hidden=32, noise=0.05,
                      seed=0):
    """Independent uniform factors pushed through a fixed random nonlinear map.

    ``f ~ U(-1, 1)^K`` independently; ``x = W2 tanh(W1 f + b1) + noise * eps``, with
    weights drawn once from ``seed``.  Good for fast tests and demos: the factors are
    independent by construction, so a disentangling model can find a code with low
    total correlation.

    Returns
    -------
    x : Tensor [num_samples, x_dim] (float32)
    factors : Tensor [num_samples, num_factors] (float32, in [-1, 1])
    """
    g = torch.Generator().manual_seed(seed)
    f = torch.rand(num_samples, num_factors, generator=g) * 2 - 1
    w1 = torch.randn(num_factors, hidden, generator=g) * 1.5
    b1 = torch.randn(hidden, generator=g) * 0.5
    w2 = torch.randn(hidden, x_dim, generator=g) / hidden ** 0.5
    x = torch.tanh(f @ w1 + b1) @ w2
    x = (x - x.mean(0)) / x.std(0)
    x = x + noise * torch.randn(x.shape, generator=g)
    return x, f
