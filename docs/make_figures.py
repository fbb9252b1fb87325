"""Make the README's figures.

    python docs/make_figures.py                      # dsprites_factors.png
    python docs/make_figures.py --mig-run runs/ttd   # also time_to_mig.png from a run's
                                                     # mig.jsonl (pyro-tcvae train --mig-every)
"""

import argparse
from pathlib import Path

from pyro_tcvae.data import DSprites
from pyro_tcvae.runs import RunFolder
from pyro_tcvae.viz import plot_factor_sweeps, plot_mig_over_time

HERE = Path(__file__).parent

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--mig-run", type=Path, nargs="+",
                   help="run folders with mig.jsonl: the first with its per-factor gaps, "
                        "the others' MIG as dashed lines")
    args = p.parse_args()
    data = DSprites()
    plot_factor_sweeps(data, base=[0, 2, 5, 0, 16, 16], path=HERE / "dsprites_factors.png",
                       title=f"dSprites ({data.source}): each row sweeps one factor")
    print("wrote", HERE / "dsprites_factors.png")
    if args.mig_run:
        first, *others = args.mig_run
        c = RunFolder(first).read_config()
        title = (f"beta-TCVAE (beta {c.beta:g}) on dSprites: batch {c.batch_size}, lr {c.lr:g}, "
                 f"{c.estimator}, {c.precision}, 2 CPU cores\nMIG of a fixed 50,000-image subset "
                 f"(paper estimator) against training time")
        fig = plot_mig_over_time(RunFolder(first).mig_log.read(), target=0.3, title=title,
                                 label=f"MIG seed {c.seed}")
        ax = fig.axes[0]
        for run in others:
            recs = RunFolder(run).mig_log.read()
            ax.plot([r["time"] / 60 for r in recs], [r["mig"] for r in recs], "k--", marker=".",
                    lw=1.2, label=f"MIG seed {RunFolder(run).read_config().seed}")
        ax.legend(fontsize=7, ncol=2)
        fig.savefig(HERE / "time_to_mig.png", dpi=100)
        print("wrote", HERE / "time_to_mig.png")
