"""Colour and noisy dSprites, as disentanglement_lib defines them, on the dSprites grid.

- :class:`ColorDSprites`: the binary sprite on black, in a colour drawn uniformly in
  [0.5, 1] per RGB channel.
- :class:`NoisyDSprites`: the white sprite on a background of uniform noise in [0, 1]
  per pixel and channel (``min(sprite + noise, 1)``).

Both are 64x64x3 (channels last, as ``3dshapes.h5`` and disentanglement_lib), values in
[0, 1], with the factors of :class:`~pyro_tcvae.data.DSprites` (the colour and the noise
are nuisances, not factors).  The colour or noise is made per batch: beyond the binary
set only the fixed noise variant holds memory, its 16 MiB noise buffer.

``resample=False`` (the default) gives an item the same image every time it is read:
its colour comes from a hash of its index, its noise from a fixed 16 MiB noise buffer at
an offset hashed from its index.  Training, evaluation and resume then see one
dataset, and MIG measures the model rather than the draw.  ``resample=True`` redraws
the colour or noise at every read from torch's global random state (seeded and
checkpointed like everything else), as disentanglement_lib does; the same item then
differs between epochs, which acts like data augmentation.  The noise is quantized to
256 levels (as an 8-bit image would be).
"""

import numpy as np
import torch

from .dsprites import DSprites
from .ground_truth import GroundTruthData

_M32 = 0xFFFFFFFF
NOISE_BYTES = 1 << 24  # the fixed noise buffer of NoisyDSprites(resample=False)
PIXELS = 64 * 64 * 3


def hash32(keys, seed=0):
    """A 32-bit integer hash of int64 keys (any shape), as int64 in [0, 2^32)."""
    x = (keys.to(torch.int64) * 0x9E3779B1 + seed * 0x85EBCA6B + 0x27D4EB2F) & _M32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


class _Variant(GroundTruthData):
    """The binary dSprites of ``base`` seen through a per-item colouring."""

    image_shape = (64, 64, 3)

    def __init__(self, base=None, resample=False, seed=0, **dsprites_kwargs):
        base = DSprites(**dsprites_kwargs) if base is None else base
        if tuple(base.image_shape) != (64, 64):
            raise ValueError(f"the base must be binary 64x64 dSprites, got images of shape "
                             f"{tuple(base.image_shape)}")
        self.base, self.resample, self.seed = base, bool(resample), int(seed)
        self.factor_names, self.factor_sizes = base.factor_names, base.factor_sizes
        self.factor_values, self.factors = base.factor_values, base.factors
        self.class_names = getattr(base, "class_names", {})
        self.mig_exclude = getattr(base, "mig_exclude", ())
        self.source = getattr(base, "source", None)

    def _binary(self, indices):
        return self.base._observations(indices)  # uint8 [n, 64, 64] in {0, 1}


class ColorDSprites(_Variant):
    """dSprites with each sprite in a colour drawn uniformly in [0.5, 1]^3.

    Parameters
    ----------
    base : DSprites, optional
        The binary set (default: ``DSprites(**dsprites_kwargs)``).
    resample : bool
        Redraw the colour at each read (disentanglement_lib) instead of fixing it per
        item (the default; see the module's notes).
    seed : int
        The fixed colours' seed.
    """

    def colours(self, indices):
        """The colours of the items ``indices``, float [n, 3] in [0.5, 1]."""
        n = len(indices)
        if self.resample:
            return 0.5 + 0.5 * torch.rand(n, 3)
        keys = indices.to(torch.int64)[:, None] * 3 + torch.arange(3)
        return 0.5 + 0.5 * hash32(keys, self.seed).to(torch.float32) / 2.0 ** 32

    def _observations(self, indices):
        binary = self._binary(indices).to(torch.float32)
        return binary[..., None] * self.colours(indices)[:, None, None, :]


class NoisyDSprites(_Variant):
    """dSprites with the white sprite on uniform noise in [0, 1] per pixel and channel.

    Parameters as :class:`ColorDSprites`; ``seed`` fixes the noise buffer.
    """

    def __init__(self, base=None, resample=False, seed=0, **dsprites_kwargs):
        super().__init__(base, resample, seed, **dsprites_kwargs)
        self._buffer = None

    def _noise_buffer(self):
        """The fixed noise, uint8 [NOISE_BYTES], made from ``seed`` on first use."""
        if self._buffer is None:
            rng = np.random.Generator(np.random.PCG64(self.seed))
            self._buffer = rng.integers(0, 256, NOISE_BYTES, dtype=np.uint8)
        return self._buffer

    def noise(self, indices):
        """The noise of the items ``indices``, uint8 [n, 64, 64, 3] (levels of 1/255)."""
        n = len(indices)
        if self.resample:
            return torch.randint(0, 256, (n, 64, 64, 3), dtype=torch.uint8)
        buffer = self._noise_buffer()
        offsets = (hash32(indices, self.seed) % (NOISE_BYTES - PIXELS + 1)).tolist()
        out = np.empty((n, PIXELS), dtype=np.uint8)
        for row, start in enumerate(offsets):  # one 12 KB copy per item
            out[row] = buffer[start:start + PIXELS]
        return torch.from_numpy(out).reshape(n, 64, 64, 3)

    def _observations(self, indices):
        sprite = self._binary(indices).to(torch.float32)[..., None]
        noise = self.noise(indices).to(torch.float32).mul_(1.0 / 255.0)
        return torch.clamp_(noise + sprite, max=1.0)
