"""Encoder and decoder networks: the paper's MLP and conv nets, and a small MLP.

Encoders map x [B, *x_shape] to raw posterior parameters [B, out]; decoders map
z [B, D] to raw likelihood parameters [B, prod(x_shape)].  The latent family and the
likelihood turn those raw numbers into distributions (positive scales and all).
"""

import math

import torch
import torch.nn as nn

from ..ops.sparse_linear import is_sparse_enough, sparse_input_linear


class SparseInputLinear(nn.Linear):
    """An ``nn.Linear`` (same parameters, same state dict) that computes from the
    nonzeros of its input when at most 10% of them are nonzero (binary images such as
    dSprites: 4.3%), in float32, and as ``nn.Linear`` otherwise; see
    :mod:`pyro_tcvae.ops.sparse_linear`.  x [B, in_features] -> [B, out_features]."""

    def forward(self, x):
        if x.dim() == 2 and is_sparse_enough(x):
            return sparse_input_linear(x, self.weight, self.bias)
        return super().forward(x)


class Float32Linear(nn.Linear):
    """An ``nn.Linear`` that runs in float32 under autocast (same parameters and state
    dict).  The built-in networks use it at the latent end: the encoder's output layer
    (the posterior's loc and scale) and the decoder's input layer (which reads z).
    Under bf16 autocast those were rounded to 8 significant bits: on a trained dSprites
    model the posterior locations moved by 0.06 posterior standard deviations (median;
    0.33 at the 99th percentile) and the log-scales by 0.6%; with these two layers in
    float32, 0.022 (0.11) and 0.13%, for 0.2% of the model's multiply-adds.
    x [B, in_features] -> float32 [B, out_features]."""

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


def _mlp(sizes, act, first=nn.Linear, last=nn.Linear):
    layers = []
    n = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        kind = first if i == 0 else last if i == n - 1 else nn.Linear
        layers.append(kind(a, b))
        if i < n - 1:
            layers.append(act())
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """An MLP on flattened inputs: in_dim - hidden... - out, activation between layers;
    ``first`` and ``last``: the classes of the first and last linear layers (e.g.
    :class:`SparseInputLinear`, :class:`Float32Linear`)."""

    def __init__(self, in_dim, out, hidden=(64, 64), act=nn.ReLU, first=nn.Linear,
                 last=nn.Linear):
        super().__init__()
        self.net = _mlp([in_dim, *hidden, out], act, first, last)

    def forward(self, x):
        return self.net(x.reshape(x.shape[0], -1))


class MLPEncoder(MLP):
    """The paper's dSprites encoder: x_dim-1200-1200-out, ReLU (Chen et al. 2018).

    Its first layer is a :class:`SparseInputLinear`: binary images are mostly zeros,
    and that layer's two products (forward and weight gradient) are then computed from
    the nonzeros only (the same numbers to float32 rounding, about 1.4x faster training
    on dSprites on a 2-core CPU).  Its output layer is a :class:`Float32Linear`."""

    def __init__(self, x_dim, out, hidden=(1200, 1200)):
        super().__init__(x_dim, out, hidden, nn.ReLU, first=SparseInputLinear,
                         last=Float32Linear)


class MLPDecoder(MLP):
    """The paper's dSprites decoder: z_dim-1200-1200-1200-out, tanh; its input layer is
    a :class:`Float32Linear`."""

    def __init__(self, z_dim, out, hidden=(1200, 1200, 1200)):
        super().__init__(z_dim, out, hidden, nn.Tanh, first=Float32Linear)


#: A small ReLU MLP for vector data (as an encoder or a decoder).
SmallMLP = MLP


class ConvEncoder(nn.Module):
    """The paper's conv encoder for 64x64 images, x [B, 64, 64] or [B, 64, 64, C]
    (channels last, as the datasets hold them).

    4x4 stride-2 convolutions with 32, 32, 64, 64 channels (64 -> 4 pixels), a 4x4
    convolution to 512 features, ReLU throughout, and a linear map to ``out``.
    (The reference code adds batch normalization; it is left out here because it
    makes one datapoint's posterior depend on the rest of its batch.)
    """

    def __init__(self, out, channels=1):
        super().__init__()
        chans = [channels, 32, 32, 64, 64]
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1), nn.ReLU()]
        layers += [nn.Conv2d(64, 512, 4), nn.ReLU(), nn.Flatten(), Float32Linear(512, out)]
        self.net = nn.Sequential(*layers)
        self.channels = channels

    def forward(self, x):
        x = x.reshape(x.shape[0], 64, 64, self.channels).permute(0, 3, 1, 2)
        return self.net(x)


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: z -> 512 -> 4x4x64 -> ... -> 64x64xC, flattened
    channels last: [B, 64 * 64 * C]."""

    def __init__(self, z_dim, channels=1):
        super().__init__()
        chans = [64, 64, 32, 32]
        layers = [Float32Linear(z_dim, 512), nn.ReLU(), nn.Unflatten(1, (512, 1, 1)),
                  nn.ConvTranspose2d(512, 64, 4), nn.ReLU()]
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.ReLU()]
        layers += [nn.ConvTranspose2d(32, channels, 4, 2, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z).permute(0, 2, 3, 1).reshape(z.shape[0], -1)


#: The built-in architectures of :func:`build_nets`.
ARCHS = ("mlp", "conv", "small_mlp")


def build_nets(arch, x_shape, z_dim, num_params):
    """(encoder, decoder) of a named architecture: "mlp", "conv" or "small_mlp"."""
    x_dim = math.prod(x_shape)
    if arch == "mlp":
        return MLPEncoder(x_dim, num_params * z_dim), MLPDecoder(z_dim, x_dim)
    if arch == "conv":
        shape = tuple(x_shape)
        if shape[:2] != (64, 64) or len(shape) not in (2, 3):
            raise ValueError(f"arch='conv' is for 64x64 images ([64, 64] or [64, 64, C]), got "
                             f"x_shape={shape}; use arch='mlp' or 'small_mlp'")
        channels = shape[2] if len(shape) == 3 else 1
        return (ConvEncoder(num_params * z_dim, channels=channels),
                ConvDecoder(z_dim, channels=channels))
    if arch == "small_mlp":
        return (SmallMLP(x_dim, num_params * z_dim, last=Float32Linear),
                SmallMLP(z_dim, x_dim, first=Float32Linear))
    raise ValueError(f"unknown arch {arch!r}: use 'mlp', 'conv' or 'small_mlp', or pass "
                     f"encoder= and decoder= modules")
