"""The aggregate posterior over the global batch of a torch.distributed job.

Under data parallelism each process (rank) holds a slice of the global batch.  The
minibatch estimate of log q(z) improves with the batch (MSS is exact at B = N), so each
rank scores its own samples z_i against the posterior components of the *global*
batch: the components' parameters are all-gathered, and the backward pass returns to
each rank the gradient, summed over all ranks, with respect to the components it owns.

The gathered components are put in "local first" order (this rank's components, then
the others'), so that sample i's own component keeps index i; the estimators' weights
only tell a sample's own component from the rest, so the order of the rest does not
matter.
"""

import inspect

import torch
import torch.distributed as dist
from torch.distributions import TransformedDistribution

AGGREGATES = ("auto", "global", "local")


def world_size():
    """The number of processes of the default process group (1 without one)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def check_aggregate(aggregate):
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}: 'global' "
                         f"mixes over the whole batch of a torch.distributed job, 'local' "
                         f"over each process's slice, 'auto' is global under an initialized "
                         f"process group of more than one process")
    if aggregate == "global" and not (dist.is_available() and dist.is_initialized()):
        raise ValueError("aggregate='global' needs an initialized torch.distributed process "
                         "group (torch.distributed.init_process_group, e.g. under torchrun); "
                         "use aggregate='auto' to fall back to the local batch without one")
    return aggregate


def is_global(aggregate):
    """Whether the mixture runs over the global batch."""
    return aggregate != "local" and world_size() > 1


def check_equal_batches(batch_size, device):
    """Refuse ranks whose batches differ in size (all_gather needs equal slices)."""
    t = torch.tensor([batch_size, -batch_size], dtype=torch.long, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if int(t[0]) != -int(t[1]):
        raise ValueError(
            f"the ranks' batches differ in size ({-int(t[1])} to {int(t[0])} datapoints): the "
            f"global TC estimate gathers equal slices. Give every rank the same batch size "
            f"(drop the last incomplete batch), or use aggregate='local'.")


class _Gather(torch.autograd.Function):
    """All-gather along a dim in rank order; the backward pass sums every rank's
    gradient and returns each rank the part of its own slice (an all-reduce, which
    every backend has; torch.distributed.nn's all_gather backward uses all_to_all on
    gloo, which gave wrong gradients for the non-contiguous slices that torch.cat's
    backward makes)."""

    @staticmethod
    def forward(ctx, t, dim):
        t = t.contiguous()
        parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, t)
        ctx.dim, ctx.size, ctx.rank = dim, t.shape[dim], dist.get_rank()
        return torch.cat(parts, dim)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad.narrow(ctx.dim, ctx.rank * ctx.size, ctx.size), None


def gather_local_first(t, dim):
    """All-gather ``t`` along ``dim`` from every rank, this rank's slice first; gradients
    flow back to the rank that owns each slice.  [.., B, ..] -> [.., W * B, ..]."""
    dim = dim % t.dim()
    parts = list(_Gather.apply(t, dim).split(t.shape[dim], dim))
    rank = dist.get_rank()
    return torch.cat([parts[rank]] + parts[:rank] + parts[rank + 1:], dim)


def _constructor_args(d):
    """The arguments that rebuild distribution ``d``: its constructor's parameters read
    from the instance (one of probs / logits)."""
    names = [p for p in inspect.signature(type(d).__init__).parameters
             if p not in ("self", "validate_args")]
    args = {}
    for name in names:
        if name == "probs" and "logits" in names and "logits" in d.__dict__:
            continue
        if name == "logits" and "logits" not in d.__dict__ and "probs" in d.__dict__:
            continue
        if not hasattr(d, name):
            raise ValueError(f"cannot gather a {type(d).__name__} posterior across processes "
                             f"(no attribute {name!r} to rebuild it from); use a Normal, "
                             f"Laplace or StudentT posterior, or aggregate='local'")
        args[name] = getattr(d, name)
    return args


def gather_distribution(base, shape, dim):
    """A distribution of the same family whose batch holds the components of every rank
    (local first) along ``dim`` of the value ``shape``.

    Parameters
    ----------
    base : torch.distributions.Distribution
        The elementwise posterior (see :func:`~.sites._base_distribution`).
    shape : torch.Size
        The site's value shape, ``[*left, B, *right]``.
    dim : int
        The data plate's position in ``shape``.
    """
    if isinstance(base, TransformedDistribution):
        return TransformedDistribution(gather_distribution(base.base_dist, shape, dim),
                                       base.transforms)
    args = {}
    for name, value in _constructor_args(base).items():
        if torch.is_tensor(value) and value.dim() > 0:
            value = gather_local_first(value.expand(shape), dim)
        args[name] = value
    return type(base)(**args, validate_args=False)


def mean_over_ranks(terms):
    """A dict of floats averaged over the ranks (equal batches: the global means)."""
    keys = sorted(terms)
    t = torch.tensor([float(terms[k]) for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    t = t.cpu() / world_size()
    return dict(zip(keys, t.tolist()))
