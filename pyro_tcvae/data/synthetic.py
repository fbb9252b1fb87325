"""Small synthetic ground-truth sets, generated in milliseconds."""

import math

import numpy as np
import torch

from .ground_truth import GroundTruthData, grid_factors
from .sprites import SHAPES, render


def _random_map(num_factors, x_dim, hidden, g):
    """A fixed random map [n, K] -> [n, x_dim], weights drawn from generator g."""
    w1 = torch.randn(num_factors, hidden, generator=g) * 1.5
    b1 = torch.randn(hidden, generator=g) * 0.5
    w2 = torch.randn(hidden, x_dim, generator=g) / hidden ** 0.5
    return lambda f: torch.tanh(f @ w1 + b1) @ w2


def nonlinear_factors(num_samples=2000, num_factors=3, x_dim=12, hidden=32, noise=0.05,
                      seed=0):
    """Independent uniform factors pushed through a fixed random nonlinear map.

    ``f ~ U(-1, 1)^K`` independently; ``x = W2 tanh(W1 f + b1)`` standardized, plus
    ``noise * eps``; weights drawn once from ``seed``.  For a discrete factor grid (to
    compute MIG) use :class:`NonlinearFactors`.

    Returns
    -------
    x : Tensor [num_samples, x_dim] (float32)
    factors : Tensor [num_samples, num_factors] (float32, in [-1, 1])
    """
    g = torch.Generator().manual_seed(seed)
    f = torch.rand(num_samples, num_factors, generator=g) * 2 - 1
    x = _random_map(num_factors, x_dim, hidden, g)(f)
    x = (x - x.mean(0)) / x.std(0)
    return x + noise * torch.randn(x.shape, generator=g), f


class NonlinearFactors(GroundTruthData):
    """A vector dataset on a full grid of independent factors.

    Factor k takes ``sizes[k]`` equally spaced values in [-1, 1]; every combination
    appears once; ``x = map(values) + noise`` with a fixed random two-layer map
    (standardized per coordinate).

    Parameters
    ----------
    sizes : tuple of int
        Values per factor (default 10 x 10 x 10 = 1000 items).
    x_dim, hidden : int
        Observation size and hidden width of the map.
    noise : float
        Standard deviation of the Gaussian noise added to x (fixed by ``seed``).
    seed : int
    """

    image_shape = None

    def __init__(self, sizes=(10, 10, 10), x_dim=12, hidden=32, noise=0.05, seed=0):
        self.factor_sizes = tuple(int(s) for s in sizes)
        self.factor_names = tuple(f"f{k}" for k in range(len(sizes)))
        self.factor_values = [torch.linspace(-1.0, 1.0, s) if s > 1 else torch.zeros(1)
                              for s in self.factor_sizes]
        self.factors = grid_factors(self.factor_sizes)
        self.image_shape = (x_dim,)
        g = torch.Generator().manual_seed(seed)
        x = _random_map(len(sizes), x_dim, hidden, g)(self.values())
        x = (x - x.mean(0)) / x.std(0).clamp(min=1e-6)
        self.x = x + noise * torch.randn(x.shape, generator=g)

    def _observations(self, indices):
        return self.x[indices]


class SmallSprites(GroundTruthData):
    """A low-resolution dSprites: the same renderer on a coarse factor grid.

    Factors shape (square, ellipse, heart), scale (``num_scales`` in 0.5..1),
    orientation (``num_orientations`` in [0, 2 pi), end excluded so no two classes
    look alike), posX and posY (``num_positions`` in 0..1), rendered at ``size`` x
    ``size``.  The default, 3 x 3 x 8 x 8 x 8 = 4608 images of 32 x 32, renders in
    well under a second.
    """

    factor_names = ("shape", "scale", "orientation", "posX", "posY")
    class_names = {"shape": list(SHAPES)}

    def __init__(self, size=32, num_scales=3, num_orientations=8, num_positions=8):
        if size % 4 or size < 16:
            raise ValueError(f"size must be a multiple of 4 and >= 16, got {size}")
        self.factor_sizes = (3, num_scales, num_orientations, num_positions, num_positions)
        self.factor_values = [
            torch.arange(3.0) + 1,
            torch.linspace(0.5, 1.0, num_scales),
            torch.arange(num_orientations) * (2 * math.pi / num_orientations),
            torch.linspace(0.0, 1.0, num_positions),
            torch.linspace(0.0, 1.0, num_positions),
        ]
        self.image_shape = (size, size)
        self.factors = grid_factors(self.factor_sizes)
        vals = self.values().double()
        imgs = torch.empty(len(self.factors), size, size, dtype=torch.bool)
        for s in range(3):
            rows = self.factors[:, 0] == s
            v = vals[rows]
            imgs[rows] = render(SHAPES[s], v[:, 1], v[:, 2], v[:, 3], v[:, 4], size=size)
        self.imgs = torch.from_numpy(np.packbits(imgs.reshape(len(imgs), -1).numpy(), axis=1))

    def _observations(self, indices):
        rows = self.imgs[indices].numpy()
        side = self.image_shape[0]
        return torch.from_numpy(np.unpackbits(rows, axis=1).reshape(-1, side, side))
