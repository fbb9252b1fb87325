"""Pictures of what a model learned: traversals, reconstructions, latents vs factors,
and training curves. Each function returns a matplotlib Figure and saves it when given
a path (PNG)."""

import numpy as np
import torch


def _plt(path):
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def is_image(shape):
    """Whether observations of this shape are pictures: [H, W] or [H, W, 1 or 3]."""
    shape = tuple(shape)
    return len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 3))


def image_pixels(img):
    """A [H, W] or [H, W, 3] tensor as an array imshow draws (grey or RGB, in [0, 1])."""
    img = img.clamp(0, 1)
    return (img[..., 0] if img.dim() == 3 and img.shape[-1] == 1 else img).numpy()


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def latent_kl(vae, x):
    """Per-dimension E_x[KL(q(z_d|x) || p(z_d))] (Monte Carlo, one z per item), [D].

    Uses the prior's per-dimension marginals when it factorizes; otherwise returns the
    variance of the posterior means over x (the usual "activity" of a unit).
    """
    with torch.no_grad():
        q = vae.encode(x)
        z = q.sample()
        prior = vae.prior.distribution(z)
        base = getattr(prior, "base_dist", None)
        if base is not None and tuple(base.event_shape) == ():
            return (q.log_prob(z) - base.log_prob(z)).mean(0)
        return vae.posterior_location(q).var(0)


def traversal_values(vae, x, steps=9, quantile=0.02):
    """Per dimension, ``steps`` values spanning the aggregate posterior of x: [steps, D]."""
    with torch.no_grad():
        z = vae.encode(x).sample()
    lo = torch.quantile(z, quantile, dim=0)
    hi = torch.quantile(z, 1 - quantile, dim=0)
    t = torch.linspace(0, 1, steps)[:, None]
    return lo + (hi - lo) * t


def traversal_images(vae, x_ref, values, order):
    """Decoded traversals around one reference item: [len(order), steps, *x_shape]."""
    with torch.no_grad():
        base = vae.posterior_location(vae.encode(x_ref[None]))[0]
        rows = []
        for d in order:
            z = base.repeat(values.shape[0], 1)
            z[:, d] = values[:, d]
            rows.append(vae.decode(z))
        return torch.stack(rows)


def plot_traversals(vae, x, ref_index=0, steps=9, path=None, gif_path=None, max_latents=None):
    """A grid with one row per latent, ordered by KL (most informative first), each
    row varying that latent over its range around one item's code; optionally an
    animated GIF of all latents moving together."""
    plt = _plt(path or gif_path)
    kl = latent_kl(vae, x)
    order = torch.argsort(kl, descending=True).tolist()[:max_latents]
    values = traversal_values(vae, x, steps)
    imgs = traversal_images(vae, x[ref_index], values, order)
    if not is_image(imgs.shape[2:]):
        raise ValueError("traversals need image data (x_shape [H, W] or [H, W, 3])")
    fig, axes = plt.subplots(len(order), steps, squeeze=False,
                             figsize=(0.9 * steps + 1.2, 0.9 * len(order) + 0.3))
    for r, d in enumerate(order):
        for c in range(steps):
            ax = axes[r, c]
            ax.imshow(image_pixels(imgs[r, c]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(f"z{d}\nKL {float(kl[d]):.2f}", fontsize=7)
    fig.suptitle("latent traversals (rows ordered by KL)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    if gif_path is not None:
        _traversal_gif(plt, imgs, order, kl, gif_path)
    return fig


def _traversal_gif(plt, imgs, order, kl, path):
    from matplotlib.animation import FuncAnimation, PillowWriter

    n, steps = imgs.shape[:2]
    cols = min(n, 5)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, squeeze=False, figsize=(1.6 * cols, 1.7 * rows))
    frames = list(range(steps)) + list(range(steps - 2, 0, -1))
    shown = []
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            shown.append(ax.imshow(image_pixels(imgs[i, 0]), cmap="gray", vmin=0, vmax=1))
            ax.set_title(f"z{order[i]} (KL {float(kl[order[i]]):.2f})", fontsize=7)
        else:
            ax.axis("off")
    fig.tight_layout()

    def update(f):
        for i, im in enumerate(shown):
            im.set_data(image_pixels(imgs[i, f]))
        return shown

    FuncAnimation(fig, update, frames=frames, blit=True).save(path, writer=PillowWriter(fps=6))
    plt.close(fig)


def plot_reconstructions(vae, x, n=10, path=None):
    """Originals (top) and reconstructions from the posterior location (bottom)."""
    plt = _plt(path)
    x = x[:n]
    with torch.no_grad():
        rec = vae.reconstruct(x)
    fig, axes = plt.subplots(2, len(x), squeeze=False, figsize=(0.9 * len(x), 2.0))
    for i in range(len(x)):
        for r, img in enumerate((x[i], rec[i])):
            axes[r, i].imshow(image_pixels(img), cmap="gray", vmin=0, vmax=1)
            axes[r, i].set_xticks([])
            axes[r, i].set_yticks([])
    axes[0, 0].set_ylabel("data", fontsize=8)
    axes[1, 0].set_ylabel("recon.", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_latents_vs_factors(vae, data, indices=None, max_latents=None, path=None,
                            group="shape"):
    """Mean latent (posterior location) against each factor, one line per value of
    ``group`` (dSprites: per shape) — the paper's latent-vs-factor figure in form.

    Rows: latents ordered by KL; columns: the factors with more than one value
    (other than ``group``).
    """
    from ..metrics import encode_dataset, posterior_location

    plt = _plt(path)
    if indices is None:
        g = torch.Generator().manual_seed(0)
        indices = torch.randperm(len(data), generator=g)[:min(len(data), 20000)]
    post = encode_dataset(vae, data, indices, progress=False)
    mean = posterior_location(post)
    kl = latent_kl(vae, data.images(indices[:2000]))
    order = torch.argsort(kl, descending=True).tolist()[:max_latents]
    f = data.factors[indices]
    gk = data.factor_names.index(group) if group in data.factor_names else None
    cols = [k for k, s in enumerate(data.factor_sizes) if s > 1 and k != gk]
    names = getattr(data, "class_names", {}).get(group, None)
    fig, axes = plt.subplots(len(order), len(cols), squeeze=False,
                             figsize=(2.2 * len(cols), 1.3 * len(order) + 0.5))
    groups = [None] if gk is None else list(range(data.factor_sizes[gk]))
    for r, d in enumerate(order):
        for c, k in enumerate(cols):
            ax = axes[r, c]
            values = data.factor_values[k].numpy()
            for gv in groups:
                sel = torch.ones(len(f), dtype=torch.bool) if gv is None else f[:, gk] == gv
                ys = [mean[sel & (f[:, k] == v), d].mean().item() for v in range(len(values))]
                label = None if gv is None else (names[gv] if names else str(gv))
                ax.plot(values, ys, lw=1.2, label=label)
            if r == len(order) - 1:
                ax.set_xlabel(data.factor_names[k], fontsize=8)
            if c == 0:
                ax.set_ylabel(f"z{d}", fontsize=8)
            ax.tick_params(labelsize=6)
    if gk is not None:
        axes[0, -1].legend(fontsize=6, loc="best")
    fig.suptitle("mean latent against each factor", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_training_curves(records, path=None):
    """ELBO, and MI / TC / dwKL per step from a metrics log (list of dicts); FactorVAE's
    discriminator TC beside the minibatch TC when the records have it."""
    plt = _plt(path)
    steps = [r["step"] for r in records]
    # a line through one point draws nothing: few points are drawn as markers too
    mark = {"marker": "o", "ms": 4} if len(records) < 20 else {}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot(steps, [r["elbo"] for r in records], label="ELBO", **mark)
    axes[0].plot(steps, [r["log_likelihood"] for r in records], label="log p(x|z)", alpha=0.7,
                 **mark)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("nats per item")
    axes[0].legend(fontsize=8)
    for k, label in (("mi", "index-code MI"), ("tc", "total correlation"),
                     ("dwkl", "dimension-wise KL"), ("tc_discriminator", "TC (discriminator)")):
        if k in records[0]:  # the discriminator's estimate is FactorVAE's
            axes[1].plot(steps, [r[k] for r in records], label=label, **mark)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("nats per item (minibatch estimate)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
