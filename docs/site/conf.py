"""Sphinx configuration of the pyro-tcvae documentation site.

Build: ``python -m sphinx -W -b html docs/site docs/site/_build/html`` (the ``docs``
extra installs Sphinx and MyST-NB).  The README, the results page and the tutorials are
copied in at build time, so each has one source in the repository.
"""

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

project = "pyro-tcvae"
author = "the pyro-tcvae developers"
copyright = "2026, the pyro-tcvae developers"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax",
              "sphinx.ext.viewcode", "myst_nb"]
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
nb_execution_mode = "off"  # the notebooks are committed with their outputs
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
# links to repository files (examples/, studies/, records) are for readers on the
# repository; the site has no page for them
suppress_warnings = ["myst.header", "myst.xref_missing"]


def _copy_sources():
    """README, results page and tutorials into the source tree (one source each)."""
    gen = HERE / "_generated"
    if gen.exists():
        shutil.rmtree(gen)
    (gen / "tutorials").mkdir(parents=True)
    for nb in sorted((ROOT / "tutorials").glob("*.ipynb")):
        shutil.copy(nb, gen / "tutorials" / nb.name)
    for fig in list((ROOT / "docs").glob("*.png")) + list((ROOT / "docs").glob("*.gif")):
        shutil.copy(fig, gen / fig.name)
    for fig in (ROOT / "docs" / "results").rglob("*.png"):  # the studies' figures
        dest = gen / fig.relative_to(ROOT / "docs")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(fig, dest)
    text = (ROOT / "README.md").read_text().replace("](docs/", "](")
    (gen / "guide.md").write_text(text)
    results = (ROOT / "docs" / "results.md").read_text()
    (gen / "results.md").write_text(results)


_copy_sources()
