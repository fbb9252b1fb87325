"""A ready VAE as a Pyro model and guide, with pluggable parts.

>>> vae = VAE(x_shape=(64, 64), z_dim=10, arch="mlp", prior="laplace",
...           dataset_size=len(data))                    # the paper's dSprites model
>>> svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}),
...           loss=TraceTC_ELBO(beta=6.0))
>>> svi.step(x, idx)                                     # x [B, 64, 64], idx [B]

The local latent ``"z"`` lives in a data plate subsampled from ``dataset_size`` items,
so :class:`~pyro_tcvae.TraceTC_ELBO` reads N from the plate.
"""

from pathlib import Path

import pyro
import torch
import torch.nn as nn
from pyro.infer.util import is_validation_enabled
from pyro.params import param_with_module_name

from ..files import replacing
from .latents import make_latent
from .likelihoods import make_likelihood
from .nets import build_nets
from .priors import make_prior

FORMAT = "pyro_tcvae.VAE/1"
PRECISIONS = ("fp32", "bf16")


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


class VAE(nn.Module):
    """A VAE whose model and guide are Pyro programs.

    Parameters
    ----------
    x_shape : tuple of int
        Shape of one observation, e.g. (64, 64) or (12,).
    z_dim : int
        D, the number of latent dimensions.
    arch : {"mlp", "conv", "small_mlp"}
        Built-in networks: the paper's MLP (4096-1200-1200-2D / D-1200-1200-1200-4096),
        the paper's conv nets (64x64 images), or a small MLP for vector data.
        Ignored when ``encoder`` and ``decoder`` are given.
    encoder, decoder : nn.Module, optional
        Your own networks: encoder x ``[B, *x_shape]`` -> ``[B, latent.num_params * D]``,
        decoder z [B, D] -> [B, prod(x_shape)] raw likelihood parameters.
    latent : str or Latent
        Posterior family: "normal", "laplace", "studentt", "relaxed_bernoulli".
    prior : str, Prior or Distribution
        "normal", "laplace", "flow" (learnable factorial flow), a :class:`Prior`, or a
        Pyro distribution with event shape [D] (factorized or not).
    likelihood : str or Likelihood
        "bernoulli" (binary images, on logits), "continuous_bernoulli" or "gaussian".
    dataset_size : int, optional
        N, the size of the dataset the batches come from.
    name : str
        Name under which the parameters enter Pyro's param store.
    precision : {"fp32", "bf16"}
        "bf16" runs the encoder and decoder under ``torch.autocast`` in bfloat16 (on
        CPU and GPU); their outputs are cast back to float32, so the posterior, the
        likelihood and the TC estimate are computed in float32.  Parameters and
        optimizer state stay float32 (mixed precision).
    """

    def __init__(self, x_shape=(64, 64), z_dim=10, arch="mlp", encoder=None, decoder=None,
                 latent="normal", prior="normal", likelihood="bernoulli", dataset_size=None,
                 name="vae", precision="fp32"):
        super().__init__()
        self.precision = check_precision(precision)
        self.x_shape = tuple(int(s) for s in x_shape)
        self.z_dim = int(z_dim)
        self.latent = make_latent(latent)
        self.prior = make_prior(prior, self.z_dim)
        self.likelihood = make_likelihood(likelihood)
        if (encoder is None) != (decoder is None):
            raise ValueError("pass both encoder= and decoder=, or neither (then arch= is used)")
        if encoder is None:
            encoder, decoder = build_nets(arch, self.x_shape, self.z_dim, self.latent.num_params)
            self.arch = arch
        else:
            self.arch = None
        self.encoder, self.decoder = encoder, decoder
        self.dataset_size = None if dataset_size is None else int(dataset_size)
        self.name = name
        self._params_key = None  # see _register

    # ------------------------------------------------------------------ Pyro programs
    def _register(self, program):
        """Register in Pyro's param store the parameters that ``program`` ("model" or
        "guide") uses, under the names ``pyro.module(self.name, self)`` gives them: the
        guide the encoder's, the model the rest (decoder, prior, likelihood).

        The list is made once (again after ``.to()``, a new name, or a replaced part),
        which spares a walk over every submodule at each call; when it is made, the
        store is checked to hold this VAE's own parameters under its name: a store
        holding another module's (two VAEs of one name in a process, or this VAE before
        it moved to another device) would have SVI step those instead, silently.
        """
        key = (self.name, *(id(m) for m in self._modules.values()))
        if self._params_key != key:
            parts = {"guide": [], "model": []}
            store = dict(pyro.get_param_store().named_parameters())
            for name, param in self.named_parameters():
                if not param.requires_grad:
                    continue
                full = param_with_module_name(self.name, name)
                held = store.get(full)
                if held is not None and held is not param:
                    raise ValueError(
                        f"Pyro's param store holds other parameters under the name "
                        f"{self.name!r} (another VAE of that name, or this one before it was "
                        f"moved to another device): give each VAE its own name= in one "
                        f"process, or call pyro.clear_param_store() before training a new one.")
                parts["guide" if name.startswith("encoder.") else "model"].append((full, param))
            self._params, self._params_key = parts, key
        for full, param in self._params[program]:
            pyro.param(full, param)

    def _apply(self, fn, *args, **kwargs):
        self._params_key = None  # .to() / .cuda() may replace the parameters
        return super()._apply(fn, *args, **kwargs)

    def _plate(self, x, idx):
        B = x.shape[0]
        if idx is None:
            N = self.dataset_size or B
            return pyro.plate("data", size=N, subsample=torch.arange(B, device=x.device))
        if self.dataset_size is None:
            raise ValueError("idx was given but the VAE has no dataset_size: construct it with "
                             "dataset_size=len(data) (or set vae.dataset_size)")
        if idx.shape[0] != B:
            raise ValueError(f"idx has {idx.shape[0]} entries for a batch of {B}")
        return pyro.plate("data", size=self.dataset_size, subsample=idx)

    def _check_x(self, x):
        """The batch's shape, always; its values (finite, in the likelihood's support)
        while Pyro's validation is on (the default; the training loop checks its first
        step and turns validation off for the rest)."""
        if tuple(x.shape[1:]) != self.x_shape:
            raise ValueError(f"x has shape {tuple(x.shape)}; this VAE expects "
                             f"[B, {', '.join(map(str, self.x_shape))}]")
        if is_validation_enabled():
            self.likelihood.check(x)

    def model(self, x, idx=None):
        """p(x, z) = p(z) p(x | z), z inside the subsampled data plate."""
        self._check_x(x)
        plate = self._plate(x, idx)
        self._register("model")
        with plate:
            z = pyro.sample("z", self.prior.distribution(x))
            raw = self._run(self.decoder, z)
            pyro.sample("x", self.likelihood.distribution(raw, self.x_shape), obs=x)

    def guide(self, x, idx=None):
        """q(z | x), amortized by the encoder, inside the same plate.  The data is
        checked here, before the encoder sees it (SVI runs the guide first)."""
        self._check_x(x)
        plate = self._plate(x, idx)
        self._register("guide")
        with plate:
            pyro.sample("z", self.encode(x).to_event(1))

    # ------------------------------------------------------------------ helpers
    def encode(self, x):
        """The posterior q(z | x) with batch shape [B, D] (factorized per dimension)."""
        return self.latent(self._run(self.encoder, x), self.z_dim)

    def _run(self, net, inp):
        """net(inp), under bf16 autocast when ``precision="bf16"``; float32 out."""
        if self.precision == "fp32":
            return net(inp)
        with torch.autocast(inp.device.type, dtype=torch.bfloat16):
            out = net(inp)
        return out.float()

    def posterior_location(self, posterior):
        """A point summary of a posterior [B, D]: its loc, or probs for relaxed ones."""
        for attr in ("loc", "probs"):
            if hasattr(posterior, attr):
                return getattr(posterior, attr)
        return posterior.mean

    def decode(self, z):
        """The likelihood's mean at z [B, D] (pixel probabilities for Bernoulli)."""
        return self.likelihood.mean(self._run(self.decoder, z), self.x_shape)

    def reconstruct(self, x, sample=False):
        """Decode the posterior location (or a sample) of x: ``[B, *x_shape]``."""
        q = self.encode(x)
        return self.decode(q.rsample() if sample else self.posterior_location(q))

    def sample(self, n, like=None):
        """n draws of the model: z from the prior, decoded to the likelihood mean.

        Returns (x_mean ``[n, *x_shape]``, z [n, D]).
        """
        like = next(self.parameters()) if like is None else like
        z = self.prior.distribution(like.detach()).sample((n,))
        return self.decode(z), z

    # ------------------------------------------------------------------ persistence
    def config(self):
        """Constructor arguments, or None for parts that a config cannot rebuild."""
        parts = {"latent": self.latent.config(), "prior": self.prior.config(),
                 "likelihood": self.likelihood.config()}
        if self.arch is None or any(v is None for v in parts.values()):
            return None
        return {"x_shape": list(self.x_shape), "z_dim": self.z_dim, "arch": self.arch,
                "dataset_size": self.dataset_size, "name": self.name,
                "precision": self.precision, **parts}

    def save(self, path):
        """Write the model (config + weights) to ``path`` atomically (through a temporary
        ``.NAME.tmpPID`` sibling, see :mod:`pyro_tcvae.files`).

        Built-in parts are stored as a config and a state dict; a model with custom
        networks or priors is pickled whole (its classes must be importable to load).
        """
        path = Path(path)
        config = self.config()
        payload = {"format": FORMAT, "config": config}
        if config is not None:
            payload["state_dict"] = self.state_dict()
        else:
            payload["module"] = self
            for p in self.parameters():  # Pyro's param store marks each parameter it
                p.__dict__.pop("unconstrained", None)  # serves with a weakref (re-set on use)
        with replacing(path) as tmp:  # a failed write leaves the old file, no temporary
            torch.save(payload, tmp)
        return path

    @classmethod
    def from_config(cls, config):
        return cls(**{k: tuple(v) if k == "x_shape" else v for k, v in config.items()})

    @classmethod
    def load(cls, path, map_location="cpu"):
        """Rebuild a model written by :meth:`save`."""
        try:
            payload = torch.load(path, map_location=map_location, weights_only=False)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise ValueError(f"{path} is not a readable pyro-tcvae model file ({e})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path} is not a pyro-tcvae model file (expected format {FORMAT})")
        if payload.get("config") is None:
            return payload["module"]
        vae = cls.from_config(payload["config"])
        vae.load_state_dict(payload["state_dict"])
        return vae

    def extra_repr(self):
        return (f"x_shape={self.x_shape}, z_dim={self.z_dim}, latent={self.latent.name}, "
                f"prior={self.prior.name or type(self.prior).__name__}, "
                f"likelihood={self.likelihood.name}, dataset_size={self.dataset_size}")
