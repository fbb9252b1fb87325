"""Reading traces: the data plate, the local latent sites, and per-datapoint views.

A *local* latent site is a sample site of the guide, not observed, inside the data
plate.  Its value has the layout ``[*left, B, *right]``: ``left`` are dims outside
the data plate (vectorized particles, outer plates), ``B`` is the data plate's dim and
``right`` are the latent dimensions (inner plates and event dims).  The views here
reshape a site to ``[R, B, D]`` with ``R = prod(left)`` replicates and ``D =
prod(right)`` dimensions, and evaluate every sample under every datapoint's posterior
per dimension by the broadcast trick: move the value's data axis to the front, leave a
singleton in its place, and let the base distribution's ``log_prob`` broadcast.
"""

import math
import warnings

import torch
import pyro.distributions as dist
from torch.distributions import Independent, TransformedDistribution
from pyro.distributions.torch_distribution import ExpandedDistribution

PARTICLE_PLATE = "num_particles_vectorized"


def _elementwise(transforms):
    return all(t.domain.event_dim == 0 and t.codomain.event_dim == 0 for t in transforms)


def _base_distribution(fn):
    """The per-dimension distribution underneath a site's distribution.

    Strips Independent and ExpandedDistribution wrappers (their log_prob is a sum or a
    broadcast of the base's), also beneath elementwise transforms: a
    ``TransformedDistribution(Normal(...).to_event(1), [ExpTransform()])`` becomes the
    elementwise ``TransformedDistribution(Normal(...), [ExpTransform()])``.
    """
    while True:
        if isinstance(fn, (Independent, ExpandedDistribution)):
            fn = fn.base_dist
        elif (
            isinstance(fn, TransformedDistribution)
            and fn.base_dist.event_shape != ()
            and _elementwise(fn.transforms)
        ):
            return dist.TransformedDistribution(_base_distribution(fn.base_dist), fn.transforms)
        else:
            return fn


def is_subsampled(frame):
    """True when the plate's batch is a subsample of a larger dataset."""
    return frame.full_size is not None and frame.full_size != frame.size


def in_plate(site, frame):
    """True when the trace site lies inside the plate ``frame`` (a CondIndepStackFrame)."""
    return any(f.name == frame.name for f in site["cond_indep_stack"])


def latent_guide_sites(guide_trace):
    """Names of the guide's latent sample sites, in order."""
    return [
        name
        for name, site in guide_trace.nodes.items()
        if site["type"] == "sample" and not site["is_observed"]
    ]


def find_data_plate(guide_trace, data_plate=None):
    """The frame of the data plate: the plate around the guide's local latents.

    Raises a clear error when there is none, or several and none is singled out by
    being the only subsampled one; ``data_plate=`` names it explicitly.
    """
    frames = {}
    for name in latent_guide_sites(guide_trace):
        for f in guide_trace.nodes[name]["cond_indep_stack"]:
            if f.name != PARTICLE_PLATE:
                frames.setdefault(f.name, f)
    if data_plate is not None:
        if data_plate not in frames:
            raise ValueError(
                f"data_plate={data_plate!r}: no latent site of the guide is inside a plate "
                f"of that name (plates found: {sorted(frames) or 'none'}). Put the local "
                f"latents inside pyro.plate({data_plate!r}, size=N, subsample=idx) in the "
                f"model and the guide, or pass the right name."
            )
        frame = frames[data_plate]
        if not frame.vectorized:
            raise ValueError(
                f"The data plate {data_plate!r} is a sequential plate (used as an iterator); "
                f"TraceTC_ELBO needs a vectorized one: `with pyro.plate({data_plate!r}, ...):`."
            )
        return frame
    candidates = [f for f in frames.values() if f.vectorized]
    if not candidates:
        raise ValueError(
            "No data plate: TraceTC_ELBO needs the local latent variables inside a "
            "vectorized plate over datapoints, in the model and the guide, e.g.\n"
            "    with pyro.plate('data', size=len(dataset), subsample=idx):\n"
            "        z = pyro.sample('z', dist.Normal(loc, scale).to_event(1))\n"
            "If the latent has no plate because it is global, TraceTC_ELBO has nothing to "
            "decompose; use Trace_ELBO."
        )
    if len(candidates) == 1:
        return candidates[0]
    subsampled = [f for f in candidates if is_subsampled(f)]
    if len(subsampled) == 1:
        return subsampled[0]
    names = sorted(f.name for f in candidates)
    raise ValueError(
        f"Ambiguous data plate: the guide's latents are inside the plates {names}. Pass "
        f"data_plate='<name>' to TraceTC_ELBO to say which one runs over datapoints."
    )


def check_local_site(name, site):
    """Clear errors for latent sites that the TC decomposition cannot handle."""
    fn = site["fn"]
    base = _base_distribution(fn)
    if isinstance(base, dist.Delta):
        raise ValueError(
            f"Latent site {name!r} is a Delta (a point estimate, as AutoDelta/AutoNormal "
            f"produce): it has no density, so q(z) and the total correlation are undefined. "
            f"Write an amortized guide that samples {name!r} from a distribution with a "
            f"density, e.g. dist.Normal(loc, scale).to_event(1)."
        )
    if site["infer"].get("enumerate"):
        raise ValueError(
            f"Site {name!r} is enumerated (infer={{'enumerate': ...}}): TraceTC_ELBO does not "
            f"support enumeration. Remove the enumerate annotation or use a relaxed "
            f"distribution (e.g. RelaxedBernoulliStraightThrough)."
        )
    if not fn.has_rsample:
        raise ValueError(
            f"Latent site {name!r} ({type(base).__name__}) is not reparameterizable: the TC "
            f"terms need gradients through the sample. Use a reparameterized family "
            f"(Normal, Laplace, StudentT, RelaxedBernoulli, ...)."
        )
    if base.event_shape != ():
        raise ValueError(
            f"Latent site {name!r} ({type(base).__name__}, event shape "
            f"{tuple(base.event_shape)}) has no per-dimension marginal: the TC terms need a "
            f"posterior that factorizes over dimensions. Use a factorized family, e.g. "
            f"dist.Normal(loc, scale).to_event(1), or an elementwise transform of one."
        )


class SiteView:
    """A local latent site seen as ``[R, B, D]``.

    Parameters
    ----------
    name : str
    guide_site, model_site : dict
        The site in the guide trace and in the model trace.
    frame : CondIndepStackFrame
        The data plate.
    left : torch.Size
        The broadcast ``left`` shape common to all local sites of the trace.
    """

    def __init__(self, name, guide_site, model_site, frame, left=None):
        self.name = name
        self.guide_site = guide_site
        self.model_site = model_site
        fn = guide_site["fn"]
        value = guide_site["value"]
        self.base = _base_distribution(fn)
        self.pos = value.dim() - len(fn.event_shape) + frame.dim  # axis of the data plate
        if self.pos < 0:
            raise ValueError(f"Site {name!r}: its value has no dim for the data plate.")
        self.site_left = value.shape[: self.pos]
        self.B = value.shape[self.pos]
        self.right = value.shape[self.pos + 1:]
        self.D = math.prod(self.right)
        self.left = self.site_left if left is None else left
        self.R = math.prod(self.left)

    def set_left(self, left):
        self.left = left
        self.R = math.prod(left)

    def _canonical(self, t):
        """[*site_left, B, *right] -> [R, B, D] (expanding left)."""
        return t.expand(*self.left, self.B, *self.right).reshape(self.R, self.B, self.D)

    def value(self):
        """The sampled latent, [R, B, D]."""
        return self._canonical(self.guide_site["value"])

    def normal_params(self):
        """(loc, scale), each [R, B, D], when the posterior is a Normal, else None."""
        # a Normal, or a subclass that keeps the Normal's density (e.g. another sampler)
        if not isinstance(self.base, torch.distributions.Normal) or \
                type(self.base).log_prob is not torch.distributions.Normal.log_prob:
            return None
        shape = self.guide_site["value"].shape
        return (
            self._canonical(self.base.loc.expand(shape)),
            self._canonical(self.base.scale.expand(shape)),
        )

    def moment(self, which, purpose):
        """The posterior's ``"mean"`` or ``"variance"`` per datapoint and dimension,
        [R, B, D]; a ValueError naming ``purpose`` when the family has no finite one."""
        try:
            value = getattr(self.base, which)
        except NotImplementedError:
            value = None
        if value is None or not bool(torch.isfinite(value).all()):
            raise ValueError(
                f"{purpose} needs the {which} of q(z|x) at site {self.name!r}, and "
                f"{type(self.base).__name__} has no finite {which}: use a Normal or Laplace "
                f"posterior" + (" (or DIP-VAE-I, which needs only the mean)."
                                if which == "variance" else "."))
        return self._canonical(value.expand(self.guide_site["value"].shape))

    def pairwise(self, i0, i1, base=None):
        """log q(z_id | x_j) for samples i in i0:i1 and every datapoint j, [R, c, B, D]
        (``base``: components other than this site's own, e.g. gathered from every
        process: [R, c, M, D] for its M components)."""
        value = self.guide_site["value"]
        # a gathered base has the value's full shape, the plate at self.pos
        M = self.B if base is None else base.batch_shape[self.pos]
        base = self.base if base is None else base
        c = i1 - i0
        v = value.narrow(self.pos, i0, c).movedim(self.pos, 0).unsqueeze(self.pos + 1)
        lp = base.log_prob(v)  # [c, *left', M', *right] (broadcast)
        lp = lp.expand(c, *self.site_left, M, *self.right).movedim(0, self.pos)
        lp = lp.expand(*self.left, c, M, *self.right)
        return lp.reshape(self.R, c, M, self.D)

    def per_datapoint(self, t, event_dims=0):
        """Sum a tensor with the site's batch layout over latent dims: [R, B].

        ``t`` has shape ``[*left', B, *right_batch]`` (a log_prob or a scale); size-1
        or missing leading dims broadcast.
        """
        if not torch.is_tensor(t):
            t = torch.as_tensor(t, dtype=self.guide_site["value"].dtype)
        nright = len(self.right) - event_dims
        shape = (*self.left, self.B, *self.right[: max(nright, 0)])
        t = t.expand(shape) if t.dim() <= len(shape) else t
        return t.reshape(self.R, self.B, -1).sum(-1)

    def row_weight(self):
        """Per-datapoint scale and mask of the guide site, each [R, B].

        They must be the same for all latent dimensions of a datapoint.
        """
        site = self.guide_site
        value = site["value"]
        batch_right = self.right[: len(self.right) - len(site["fn"].event_shape)]
        shape = (*self.left, self.B, *batch_right)

        def rows(t, what):
            t = torch.as_tensor(t, device=value.device).expand(shape).reshape(self.R, self.B, -1)
            if t.shape[-1] > 1 and not bool((t == t[..., :1]).all()):
                raise ValueError(
                    f"Site {self.name!r}: its {what} differs between latent dimensions of one "
                    f"datapoint, which leaves the TC decomposition undefined. Apply "
                    f"poutine.scale / poutine.mask to whole datapoints only."
                )
            return t[..., 0]

        scale = rows(torch.as_tensor(site["scale"], dtype=value.dtype), "scale")
        mask = site["mask"]
        mask = None if mask is None or mask is True else rows(mask, "mask").bool()
        return scale, mask


def masked_mean(x, mask):
    """Mean of x [R, B] over the entries that the mask [R, B] keeps (all if mask is None),
    e.g. of a per-datapoint term with :meth:`SiteView.row_weight`'s mask."""
    if mask is None:
        return x.mean()
    return (x * mask).sum() / mask.sum().clamp(min=1)


def warn_once(owner, key, message):
    """Warn once per owner object and key."""
    seen = owner.__dict__.setdefault("_warned", set())
    if key not in seen:
        seen.add(key)
        warnings.warn(message, stacklevel=4)
