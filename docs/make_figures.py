"""Make the README's figures.

    python docs/make_figures.py                      # dsprites_factors.png
    python docs/make_figures.py --mig-run runs/ttd   # also time_to_mig.png from a run's
                                                     # mig.jsonl (pyro-tcvae train --mig-every)
"""

import argparse
from pathlib import Path

from pyro_tcvae.data import DSprites
from pyro_tcvae.runs import MetricsLog, read_config
from pyro_tcvae.viz import plot_factor_sweeps, plot_mig_over_time

HERE = Path(__file__).parent

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--mig-run", type=Path, help="a run folder with mig.jsonl")
    args = p.parse_args()
    data = DSprites()
    plot_factor_sweeps(data, base=[0, 2, 5, 0, 16, 16], path=HERE / "dsprites_factors.png",
                       title=f"dSprites ({data.source}): each row sweeps one factor")
    print("wrote", HERE / "dsprites_factors.png")
    if args.mig_run:
        c = read_config(args.mig_run)
        title = (f"beta-TCVAE (beta {c.beta:g}) on dSprites, batch {c.batch_size}, lr {c.lr:g}, "
                 f"{c.estimator}, {c.precision}, 2 CPU cores, seed {c.seed}")
        plot_mig_over_time(MetricsLog(args.mig_run, "mig.jsonl").read(),
                           path=HERE / "time_to_mig.png", target=0.3, title=title)
        print("wrote", HERE / "time_to_mig.png")
