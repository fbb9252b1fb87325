"""All figures of a run folder."""

import torch

from ..viz import (is_image, plot_latents_vs_factors, plot_mig_over_time, plot_reconstructions,
                   plot_training_curves, plot_traversals)
from .build import load_model, make_dataset
from .folder import RunFolder


def plot_run(run_dir, data=None, model=None, progress=True):
    """Write ``figures/`` of a run: traversals (PNG grid and GIF), reconstructions,
    latents vs factors, training curves and (when the MIG monitor ran) MIG over
    training time.  ``data`` and ``model`` are used as given instead of being built
    again.  Returns the list of files written."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    folder = RunFolder(run_dir)
    if model is None:
        vae, config = load_model(folder.path)
    else:
        vae, config = model, folder.read_config()
    vae = vae.to("cpu").eval()  # the figures are drawn on the CPU
    data = make_dataset(config, progress) if data is None else data
    out = folder.figures
    out.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data), generator=g)[:2000]
    x = data.images(idx)
    written = []
    if is_image(data.image_shape):
        plot_traversals(vae, x, path=out / "traversals.png", gif_path=out / "traversals.gif")
        plot_reconstructions(vae, x, path=out / "reconstructions.png")
        written += [out / "traversals.png", out / "traversals.gif", out / "reconstructions.png"]
        plt.close("all")
    if data.num_factors:
        plot_latents_vs_factors(vae, data, max_latents=min(vae.z_dim, 6),
                                path=out / "latents_vs_factors.png")
        written.append(out / "latents_vs_factors.png")
    records = folder.metrics.read()
    if records:
        plot_training_curves(records, path=out / "training_curves.png")
        written.append(out / "training_curves.png")
    migs = folder.mig_log.read()
    if migs:
        plot_mig_over_time(migs, path=out / "mig_over_time.png")
        written.append(out / "mig_over_time.png")
    plt.close("all")
    return written
