"""Posteriors of a whole dataset: encoding in batches, indexing, concatenating.

A posterior here is a distribution with batch shape [N, D] (one factorized
posterior per item), e.g. ``Normal(loc [N, D], scale [N, D])``.  Any family whose
parameters are tensors with that leading batch dim works; ``Independent`` wrappers
are stripped.
"""

import torch
from torch.distributions import Independent
from tqdm.auto import tqdm


def strip_independent(d):
    """The distribution beneath any Independent wrappers: batch shape [N, D] for a
    posterior over N items and D dimensions."""
    while isinstance(d, Independent):
        d = d.base_dist
    return d


def _params(d):
    """(class, constructor keyword arguments) of a distribution; logits stand in for
    probs."""
    d = strip_independent(d)
    out = {name: getattr(d, name) for name in d.arg_constraints
           if name not in ("probs", "logits") and hasattr(d, name)}
    if "logits" in d.arg_constraints:
        out["logits"] = d.logits
    if hasattr(d, "temperature"):
        out["temperature"] = d.temperature
    return type(d), out


def _rebuild(cls, kwargs):
    if cls.__name__ == "RelaxedBernoulli":
        temperature = kwargs.pop("temperature")
        return cls(temperature, **kwargs)
    return cls(**kwargs)


def _batched(value, n):
    return torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == n


def index_posterior(posterior, idx):
    """The posteriors of items ``idx``: a distribution with batch shape [len(idx), D]."""
    d = strip_independent(posterior)
    n = d.batch_shape[0]
    cls, kwargs = _params(d)
    return _rebuild(cls, {k: v[idx] if _batched(v, n) else v for k, v in kwargs.items()})


def cat_posteriors(parts, device=None):
    """Concatenate posteriors [n_i, D] along the item dim -> [sum n_i, D] (parameters
    moved to ``device`` when given)."""
    parts = [strip_independent(p) for p in parts]
    cls, first = _params(parts[0])
    kwargs = {}
    move = (lambda t: t.to(device)) if device is not None else (lambda t: t)
    for k, v in first.items():
        if _batched(v, parts[0].batch_shape[0]):
            kwargs[k] = torch.cat([move(_params(p)[1][k]) for p in parts])
        else:
            kwargs[k] = move(v) if torch.is_tensor(v) else v
    return _rebuild(cls, kwargs)


def model_device(model):
    """The device of a model's parameters (CPU when it has none)."""
    params = getattr(model, "parameters", None)
    if params is None:
        return torch.device("cpu")
    p = next(iter(params()), None)
    return torch.device("cpu") if p is None else p.device


def posterior_location(posterior):
    """A point summary per item and dim [N, D]: the loc, else probs, else the mean."""
    d = strip_independent(posterior)
    for attr in ("loc", "probs"):
        if hasattr(d, attr):
            return getattr(d, attr)
    return d.mean


#: Batches of posteriors kept as they come before they are concatenated.  Keeping every
#: batch's output alive held 4.5 GB of freed memory on all of dSprites (the heap cannot
#: reuse the space between them); merging every few batches keeps it near the size of
#: the parameters themselves.
_MERGE_EVERY = 16


def encode_dataset(model, data, indices=None, batch_size=1024, progress=True):
    """Encode items of a ground-truth dataset in batches, without autograd.

    Parameters
    ----------
    model : object with ``encode(x)`` returning a posterior [B, D] (e.g. the VAE), or
        a callable doing the same.
    data : GroundTruthData
    indices : LongTensor [n], optional
        Which items (default: all). Memory stays at one batch of images plus the
        posterior parameters ([n, D] each).

    Returns
    -------
    Distribution with batch shape [n, D], on the CPU (images go to the model's device
    batch by batch).
    """
    encode = getattr(model, "encode", model)
    device = model_device(model)
    if indices is None:
        indices = torch.arange(len(data))
    indices = torch.as_tensor(indices, dtype=torch.long)
    was_training = getattr(model, "training", None)
    if was_training:
        model.eval()
    parts = []
    try:
        with torch.no_grad():
            for start in tqdm(range(0, len(indices), batch_size), desc="encoding",
                              disable=not progress, leave=False):
                idx = indices[start:start + batch_size]
                parts.append(encode(data.images(idx).to(device)))
                if len(parts) == _MERGE_EVERY:  # compact copies: the batches' own output
                    parts = [cat_posteriors(parts, device="cpu")]  # buffers pinned GBs
    finally:
        if was_training:
            model.train()
    return cat_posteriors(parts, device="cpu")
