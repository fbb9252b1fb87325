"""The documentation site builds with warnings as errors (API reference from every
public name's docstring, the README as the guide, the results page, the tutorials)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q",
                          "-b", "html", str(ROOT / "docs" / "site"), str(tmp_path / "html")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    api = (tmp_path / "html" / "api.html").read_text()
    for name in ("TraceTC_ELBO", "TraceFactorVAE_ELBO", "VAE", "mig", "DSprites", "Shapes3D",
                 "run_study", "report", "GroupedOptim"):
        assert 'id="pyro_tcvae.' in api and name in api, name
    assert (tmp_path / "html" / "_generated" / "guide.html").is_file()
    assert any((tmp_path / "html" / "_generated" / "tutorials").glob("*.html"))
