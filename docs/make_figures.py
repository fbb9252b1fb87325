"""Make the README's figures: python docs/make_figures.py"""

from pathlib import Path

from pyro_tcvae.data import DSprites
from pyro_tcvae.viz import plot_factor_sweeps

HERE = Path(__file__).parent

if __name__ == "__main__":
    data = DSprites()
    plot_factor_sweeps(data, base=[0, 2, 5, 0, 16, 16], path=HERE / "dsprites_factors.png",
                       title=f"dSprites ({data.source}): each row sweeps one factor")
    print("wrote", HERE / "dsprites_factors.png")
