"""Sphinx configuration of the pyro-tcvae documentation site.

Build: ``python -m sphinx -W -b html docs/site docs/site/_build/html`` (the ``docs``
extra installs Sphinx and MyST-NB).  The README (the front page), the results page and
the tutorials are copied in at build time, so each has one source in the repository;
the guide's pages are the Markdown files here.  Every page links as a reader of the
repository would (``../results.md``, ``../traversals.png``, ``docs/site/data.md``); the
links are pointed at the copies when the site is built.  The table of run options on the
study-file page is generated from the schema (``TrainConfig``), so it cannot drift.
"""

import dataclasses
import json
import re
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
    text = (ROOT / "README.md").read_text()
    for repo, site in (("](docs/site)", "](../index.md)"), ("](docs/site/", "](../"),
                       ("](docs/", "]("), ("](tutorials)", "](../tutorials.md)")):
        text = text.replace(repo, site)
    (gen / "guide.md").write_text(text)
    results = (ROOT / "docs" / "results.md").read_text().replace("](site/", "](../")
    (gen / "results.md").write_text(results)
    (gen / "train_options.md").write_text(_train_options())


#: Examples of the run options in the table of the study-file page (an option missing
#: here takes its value from a shipped study file, else its default).
EXAMPLES = {"dataset": "dsprites", "dsprites_path": "data/dsprites.npz",
            "data_path": "data/3dshapes.h5", "correlate": "posX,posY,10",
            "objective": "beta-vae", "beta": 6, "gamma": 35, "capacity": 25,
            "capacity_steps": 10000, "lambda_od": 10, "lambda_d": 100, "estimator": "mws",
            "memory": 3072, "arch": "conv", "z_dim": 10, "latent": "laplace",
            "prior": "flow", "likelihood": "continuous_bernoulli", "steps": 1200,
            "epochs": 2.5, "batch_size": 1024, "lr": 1e-3, "warmup": 1000,
            "beta_start": 1.0, "log_every": 100, "checkpoint_every": 300,
            "precision": "bf16", "fused": False, "mig_every": "2m", "mig_at": "2,5,10",
            "mig_items": 50000, "restarts": 4,
            "restart_steps": 500, "restart_items": 50000, "device": "cuda", "threads": 1}


def _toml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _train_options():
    """The table of TrainConfig's options (all but ``seed``) for the study-file page:
    type, default (as ``pyro-tcvae train --help`` states it), help, example."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    from pyro_tcvae.cli import default_text
    from pyro_tcvae.runs import CHOICES, TrainConfig
    from pyro_tcvae.runs.config import field_type

    shipped = {}
    for path in sorted((ROOT / "studies").glob("*.toml")):
        raw = tomllib.loads(path.read_text())
        for table in [raw.get("train", {})] + raw.get("runs", []):
            for k, v in table.items():
                shipped.setdefault(k, v[0] if isinstance(v, list) and v else v)
    rows = ["| option | type | default | what it does | example |", "|---|---|---|---|---|"]
    for f in dataclasses.fields(TrainConfig):
        if f.name == "seed":
            continue
        default = default_text(f)
        for prefix in ("default per dataset: ", "default per objective: ", "default: "):
            if default.startswith(prefix):
                default = ("per dataset: " if "dataset" in prefix else
                           "per objective: " if "objective" in prefix else "") + \
                          default[len(prefix):]
        default = default.replace("see --steps", "see `steps`")
        if f.default is None and not default:
            default = "none (leave it out)"
        elif not (f.metadata["dataset_default"] or f.metadata["objective_default"]):
            default = f"`{_toml(f.default)}`"
        text = re.sub(r"(?<![\w`-])(--[a-z][a-z0-9-]*)", r"`\1`", f.metadata["help"])
        if f.name in CHOICES:
            text += "; one of " + ", ".join(f"`{c}`" for c in CHOICES[f.name])
        if not f.metadata["cli"]:
            text += " (no flag: the API and study files only)"
        example = EXAMPLES.get(f.name, shipped.get(f.name, f.default))
        example = "" if example is None else f"`{f.name} = {_toml(example)}`"
        cells = [f"`{f.name}`", field_type(f).__name__, default, text, example]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


_copy_sources()


def _site_links(app, docname, source):
    """The guide's pages link to the repository's files (``../results.md``,
    ``../traversals.png``); on the site those are the copies in ``_generated/``."""
    if "/" in docname:
        return

    def to_copy(m):
        path = m.group(1).partition("#")[0]
        if (HERE / "_generated" / path).exists():
            return f"](_generated/{m.group(1)})"
        return m.group(0)

    source[0] = re.sub(r"\]\(\.\./([^)\s]+)\)", to_copy, source[0])


def setup(app):
    app.connect("source-read", _site_links)
