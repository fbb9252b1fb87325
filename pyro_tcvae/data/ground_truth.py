"""The ground-truth dataset interface that every metric and tool relies on.

A ground-truth dataset is a list of N items, each an observation (an image, or a
vector) with K known factors of variation.  Factor k takes ``factor_sizes[k]``
values, indexed by integer *classes* ``0 .. factor_sizes[k] - 1``; ``factor_values[k]``
gives the value of each class.  Subclasses implement :meth:`_observations`; views
(subsets, resampled sets) are ground-truth datasets too, so a training run and the
metrics can use the very same items.
"""

import math

import numpy as np
import torch


class GroundTruthData:
    """Base class. Subclasses set the attributes below and implement ``_observations``.

    Attributes
    ----------
    factor_names : tuple of str, length K
    factor_sizes : tuple of int, length K
    factor_values : list of K float Tensors, ``factor_values[k]`` of shape [factor_sizes[k]]
    factors : LongTensor [N, K]
        Factor classes of every item.
    image_shape : tuple of int
        Shape of one observation, e.g. (64, 64) or (12,).
    mig_exclude : tuple of str
        Factors that :func:`pyro_tcvae.metrics.mig` leaves out by default.
    """

    factor_names = ()
    factor_sizes = ()
    factor_values = []
    image_shape = ()
    mig_exclude = ()  # factors that MIG leaves out by default

    def __len__(self):
        return int(self.factors.shape[0])

    @property
    def num_factors(self):
        return len(self.factor_sizes)

    def _observations(self, indices):
        """Observations of the items ``indices`` (a LongTensor [n]) as a Tensor
        ``[n, *image_shape]``, any dtype (uint8 or bool images, float vectors)."""
        raise NotImplementedError

    def _check_indices(self, indices):
        indices = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        n = len(self)
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= n):
            raise IndexError(f"item indices must be in [0, {n}), got "
                             f"[{int(indices.min())}, {int(indices.max())}]")
        return indices

    def images(self, indices=None, dtype=torch.float32):
        """Observations of the items ``indices`` (all when None), ``[n, *image_shape]``.

        Binary images come as 0./1. floats; convert per batch, never the whole set.
        ``dtype=torch.uint8``: binary images as 0/1, grey or colour levels in [0, 1] as
        0..255 (rounded); observations outside [0, 1] are refused.
        """
        if indices is None:
            size = len(self) * math.prod(self.image_shape) * torch.empty((), dtype=dtype).element_size()
            if size > 2**31:
                raise ValueError(
                    f"images() of all {len(self)} items would take {size / 2**30:.1f} GiB as "
                    f"{dtype}; pass indices, or iterate with Batches(data, batch_size)."
                )
            indices = torch.arange(len(self))
        obs = self._observations(self._check_indices(indices))
        if dtype == torch.uint8 and obs.is_floating_point():
            return _as_bytes(obs)
        return obs.to(dtype)

    def values(self, factors=None):
        """Factor values of the given classes (default: every item), float [n, K]."""
        factors = self.factors if factors is None else torch.as_tensor(factors)
        return torch.stack(
            [self.factor_values[k].to(torch.float32)[factors[:, k]] for k in range(self.num_factors)],
            dim=1,
        )

    def factor_index(self, name):
        """Position k of a factor given its name (or k itself)."""
        if isinstance(name, int):
            return name
        try:
            return self.factor_names.index(name)
        except ValueError:
            raise ValueError(f"unknown factor {name!r}; factors are {self.factor_names}") from None

    def sample_indices(self, n, generator=None):
        """n item indices drawn uniformly (with replacement)."""
        return torch.randint(0, len(self), (n,), generator=generator)

    def sample_factors(self, n, generator=None):
        """Factor classes of n items drawn from the dataset's distribution, [n, K]."""
        return self.factors[self.sample_indices(n, generator)]

    def index_of(self, factors):
        """Item indices with the given factor classes [n, K] (the first match of each).

        Raises KeyError for a combination that no item has.
        """
        factors = torch.as_tensor(factors, dtype=torch.long).reshape(-1, self.num_factors)
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            keys = _combined_key(self.factors, self.factor_sizes)
            order = torch.argsort(keys, stable=True)
            lookup = self._lookup = (keys[order], order)
        sorted_keys, order = lookup
        want = _combined_key(factors, self.factor_sizes)
        pos = torch.searchsorted(sorted_keys, want).clamp(max=len(sorted_keys) - 1)
        found = sorted_keys[pos] == want
        if not bool(found.all()):
            missing = factors[~found][0].tolist()
            raise KeyError(f"no item has the factor classes {missing} "
                           f"({dict(zip(self.factor_names, missing))})")
        return order[pos]

    def images_for_factors(self, factors, dtype=torch.float32):
        """Observations of items with the given factor classes [n, K]."""
        return self.images(self.index_of(factors), dtype=dtype)

    # views -------------------------------------------------------------------------
    def subset(self, **conditions):
        """The items whose factors satisfy every condition, as a new dataset.

        Each condition names a factor and gives the allowed classes: an int, a list of
        ints, or names where the factor has them (e.g. ``shape="heart"``).

        >>> hearts = DSprites().subset(shape="heart", scale=[4, 5])
        """
        keep = torch.ones(len(self), dtype=torch.bool)
        for name, allowed in conditions.items():
            k = self.factor_index(name)
            classes = self._classes(k, allowed)
            keep &= torch.isin(self.factors[:, k], classes)
        if not bool(keep.any()):
            raise ValueError(f"no item satisfies {conditions}")
        return View(self, torch.nonzero(keep).squeeze(1))

    def _classes(self, k, allowed):
        names = getattr(self, "class_names", {}).get(self.factor_names[k])
        items = allowed if isinstance(allowed, (list, tuple, range, np.ndarray, torch.Tensor)) \
            else [allowed]
        out = []
        for a in items:
            if isinstance(a, str):
                if not names or a not in names:
                    raise ValueError(f"factor {self.factor_names[k]!r} has no class named {a!r}"
                                     + (f"; names are {names}" if names else ""))
                a = names.index(a)
            a = int(a)
            if not 0 <= a < self.factor_sizes[k]:
                raise ValueError(f"class {a} out of range for factor {self.factor_names[k]!r} "
                                 f"(0..{self.factor_sizes[k] - 1})")
            out.append(a)
        return torch.tensor(out, dtype=torch.long)

    def resampled(self, weights, size=None, seed=0):
        """A dataset of ``size`` items drawn with replacement with probability
        proportional to ``weights`` [N] (non-negative); the same items every time for a
        seed, so training and metrics see one distribution."""
        weights = torch.as_tensor(weights, dtype=torch.float64).reshape(-1)
        if weights.shape[0] != len(self) or bool((weights < 0).any()) or not weights.sum() > 0:
            raise ValueError(f"weights must be {len(self)} non-negative numbers, not all 0")
        g = torch.Generator().manual_seed(seed)
        idx = torch.multinomial(weights, size or len(self), replacement=True, generator=g)
        return View(self, torch.sort(idx).values)

    def correlated(self, factor_a, factor_b, strength, size=None, seed=0):
        """Sampling bias: items whose two factors are close are more likely.

        Each item gets weight ``exp(-strength * (u_a - u_b)^2)`` where ``u`` is the
        factor's class position scaled to [0, 1]; ``strength = 0`` is the uniform
        distribution, larger values tie the two factors more tightly (e.g.
        ``correlated("posX", "posY", 10)`` puts sprites near the diagonal).
        """
        if strength < 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        ka, kb = self.factor_index(factor_a), self.factor_index(factor_b)
        u = [self.factors[:, k].double() / max(1, self.factor_sizes[k] - 1) for k in (ka, kb)]
        return self.resampled(torch.exp(-strength * (u[0] - u[1]) ** 2), size=size, seed=seed)

    def torch_dataset(self, target="index"):
        """A ``torch.utils.data.Dataset`` of (observation, index) or (observation, factors)."""
        return TorchView(self, target)

    def describe(self):
        return ", ".join(f"{n} ({s})" for n, s in zip(self.factor_names, self.factor_sizes))


def _as_bytes(obs):
    """Float observations in [0, 1] as uint8 0..255 (a plain cast would truncate every
    grey level to 0); other values have no byte form."""
    if obs.numel() and not bool(((obs >= 0) & (obs <= 1)).all()):
        raise ValueError(f"images(dtype=torch.uint8) maps [0, 1] to 0..255, but these "
                         f"observations have values in [{float(obs.min()):g}, "
                         f"{float(obs.max()):g}]; ask for a float dtype")
    return obs.mul(255).round_().to(torch.uint8)


def _combined_key(factors, sizes):
    key = torch.zeros(factors.shape[0], dtype=torch.long)
    for k, s in enumerate(sizes):
        key = key * s + factors[:, k]
    return key


def grid_factors(sizes):
    """Factor classes of a full factorial grid in row-major order, LongTensor [prod, K]."""
    grids = torch.meshgrid(*[torch.arange(s) for s in sizes], indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], dim=1)


class View(GroundTruthData):
    """Items ``indices`` of a parent dataset (a subset, or a resampled multiset)."""

    def __init__(self, parent, indices):
        self.parent = parent
        self.parent_indices = torch.as_tensor(indices, dtype=torch.long)
        self.factor_names = parent.factor_names
        self.factor_sizes = parent.factor_sizes
        self.factor_values = parent.factor_values
        self.image_shape = parent.image_shape
        self.class_names = getattr(parent, "class_names", {})
        self.mig_exclude = getattr(parent, "mig_exclude", ())
        self.factors = parent.factors[self.parent_indices]

    def _observations(self, indices):
        return self.parent._observations(self.parent_indices[indices])


class TorchView(torch.utils.data.Dataset):
    """(observation float ``[*image_shape]``, index or factors) pairs for a DataLoader."""

    def __init__(self, data, target="index"):
        if target not in ("index", "factors"):
            raise ValueError(f"target must be 'index' or 'factors', got {target!r}")
        self.data, self.target = data, target

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        x = self.data.images(torch.tensor([i]))[0]
        return x, (i if self.target == "index" else self.data.factors[i])


class Batches:
    """Minibatches ``(x, idx)`` of a ground-truth dataset, converted per batch.

    ``x`` is float32 ``[B, *image_shape]``; ``idx`` the items' indices [B], ready for
    ``pyro.plate("data", size=len(data), subsample=idx)``.  Shuffled epochs use
    ``seed + epoch``, so an epoch can be replayed (resumed) exactly; without
    shuffling, batches are contiguous index ranges.

    Parameters
    ----------
    data : GroundTruthData
    batch_size : int
    shuffle : bool
    seed : int
    drop_last : bool
        Drop the last incomplete batch (useful with the "mss" estimator, which needs
        B >= 2).
    epoch : int
        The epoch that the next ``iter()`` runs.
    part : callable, optional
        ``part(idx)`` picks this process's items of each batch (a slice of a global
        batch, under data parallelism); only those are loaded.
    """

    def __init__(self, data, batch_size, shuffle=True, seed=0, drop_last=False, epoch=0,
                 part=None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.data, self.batch_size, self.shuffle = data, int(batch_size), shuffle
        self.seed, self.drop_last, self.epoch, self.part = seed, drop_last, epoch, part

    def __len__(self):
        n = len(self.data)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def order(self, epoch):
        n = len(self.data)
        if not self.shuffle:
            return torch.arange(n)
        return torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + epoch))

    def epoch_batches(self, epoch, start=0):
        """The batches of one epoch, from batch number ``start`` on (to resume)."""
        order = self.order(epoch)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if self.part is not None:
                idx = self.part(idx)
            yield self.data.images(idx), idx

    def __iter__(self):
        batches = self.epoch_batches(self.epoch)
        self.epoch += 1
        return batches
