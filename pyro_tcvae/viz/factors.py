"""Sample images along each factor of a ground-truth dataset."""

import numpy as np
import torch

from .model import image_pixels


def plot_factor_sweeps(data, base=None, max_columns=10, path=None, title=None):
    """A grid of images: one row per factor, that factor swept, the others fixed.

    Parameters
    ----------
    data : GroundTruthData
        A dataset of 2-D images on a full factor grid (e.g. DSprites, SmallSprites).
    base : sequence of int, optional
        The classes of the fixed factors (default: the middle class of each).
    max_columns : int
        At most this many evenly spaced classes per row.
    path : str or Path, optional
        Save the figure there (PNG); the figure is returned either way.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sizes = data.factor_sizes
    base = [s // 2 for s in sizes] if base is None else list(base)
    rows = [k for k, s in enumerate(sizes) if s > 1]
    fig, axes = plt.subplots(len(rows), max_columns, squeeze=False,
                             figsize=(1.1 * max_columns + 1.2, 1.15 * len(rows)))
    for r, k in enumerate(rows):
        classes = np.unique(np.linspace(0, sizes[k] - 1, min(max_columns, sizes[k])).round())
        factors = torch.tensor([base] * len(classes))
        factors[:, k] = torch.as_tensor(classes, dtype=torch.long)
        imgs = data.images_for_factors(factors)
        values = data.factor_values[k][factors[:, k]]
        for c in range(max_columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(imgs):
                ax.imshow(image_pixels(imgs[c]), cmap="gray", vmin=0, vmax=1)
                names = getattr(data, "class_names", {}).get(data.factor_names[k])
                label = names[int(factors[c, k])] if names else f"{float(values[c]):.2f}"
                ax.set_title(label, fontsize=7, pad=2)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(data.factor_names[k], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
