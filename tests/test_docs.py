"""The documentation site builds with warnings as errors (API reference from every
public name's docstring, the README as the front page, the guide's pages, the results
page, the tutorials); the study-file page documents every key a study file takes, and
its example is a valid study; every relative link of the README and the guide resolves."""

import dataclasses
import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "site"
GUIDE = ("command_line", "study_files", "objective", "baselines", "models", "metrics", "data",
         "speed", "findings", "layout")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    out = tmp_path_factory.mktemp("site") / "html"
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q",
                          "-b", "html", str(SITE), str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def _text(page):
    """A built page's text, without tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_the_docs_build_without_warnings(site):
    api = (site / "api.html").read_text()
    for name in ("TraceTC_ELBO", "TraceFactorVAE_ELBO", "VAE", "mig", "DSprites", "Shapes3D",
                 "run_study", "report", "GroupedOptim"):
        assert 'id="pyro_tcvae.' in api and name in api, name
    assert (site / "_generated" / "guide.html").is_file()
    assert any((site / "_generated" / "tutorials").glob("*.html"))
    for page in GUIDE:
        assert (site / f"{page}.html").is_file(), page
    # the guide's links to the repository's files point at the site's copies
    assert 'href="_generated/results.html#the-fast-recipe-across-seeds"' in \
        (site / "command_line.html").read_text()
    assert 'src="_images/mig_over_time.png"' in (site / "speed.html").read_text()
    assert 'href="../speed.html#time-to-disentanglement"' in \
        (site / "_generated" / "guide.html").read_text()


def test_the_study_file_page_names_every_key_with_its_default(site):
    from pyro_tcvae.metrics.suite import SUITE
    from pyro_tcvae.runs import TrainConfig
    from pyro_tcvae.study.plan import EVALUATE_KEYS, STUDY_KEYS

    text = _text(site / "study_files.html")
    rows = {line.split("\n")[0]: line for line in text.split("\n\n")}
    for key in STUDY_KEYS:
        assert key in rows or f"[{key}]" in rows or f"[[{key}]]" in rows, key
    for key, default in EVALUATE_KEYS.items():
        shown = str(default).lower()
        assert key in rows and f"\n{shown}" in rows[key], (key, rows.get(key))
    assert all(name in rows["metrics"] for name in SUITE), rows["metrics"]
    for f in dataclasses.fields(TrainConfig):
        if f.name == "seed":  # the study's seeds give it, and the page says so
            assert "except seed" in text
            continue
        assert f.name in rows, f.name
        row = rows[f.name]
        assert f"{f.name} = " in row, f"{f.name}: no example"  # the example column
        if f.default is not None and not isinstance(f.default, bool):
            assert f"\n{f.default!r}".replace("'", '"') in row or \
                f"\n{f.default}" in row, (f.name, row)


def test_the_study_file_example_is_a_valid_study(tmp_path):
    from pyro_tcvae.study import load_study

    page = (SITE / "study_files.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", page, flags=re.S)
    example = next(b for b in blocks if b.startswith("name = "))
    (tmp_path / "example.toml").write_text(example)
    study = load_study(tmp_path / "example.toml")
    names = [name for name, _ in study.runs]
    assert len(names) == 14  # as the page says
    for name in ("tcvae_beta2_seed0", "beta-vae_beta10_seed1", "factorvae_gamma35_seed1"):
        assert name in names and name in page
    assert study.evaluate == {"items": 100000, "num_samples": 10000, "uniform": False,
                              "metrics": ["dci", "sap"]}
    grid = next(b for b in blocks if b.startswith("[[runs]]"))
    (tmp_path / "grid.toml").write_text('name = "grid"\nseeds = [0, 1, 2]\n'
                                        '[train]\ndataset = "dsprites"\n' + grid)
    names = [name for name, _ in load_study(tmp_path / "grid.toml").runs]
    assert len(names) == (8 + 3) * 3
    for name in ("tcvae_beta6_latentlaplace_seed2",
                 "beta-vae_beta6_correlateposX-posY-10_seed1"):
        assert name in names and name in page


def _slug(heading):
    heading = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def _anchors(path):
    found, code = set(), False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            code = not code
        m = re.match(r"(#{1,6}) (.*)", line)
        if m and not code:
            found.add(_slug(m.group(2)))
    return found


def test_every_relative_link_of_the_readme_and_the_guide_resolves():
    """Files and heading anchors, as a reader of the repository follows them (the site's
    build points them at its copies): nothing links to a section the README no longer
    has."""
    pages = [ROOT / "README.md", ROOT / "docs" / "results.md", *sorted(SITE.glob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_train_commands_of_the_readme_and_the_guide_are_valid():
    """Every `pyro-tcvae train` line of a bash block parses, and (unless it resumes a run)
    its configuration validates: an option renamed or respelt shows here."""
    import shlex

    from pyro_tcvae.cli import build_parser, given_options
    from pyro_tcvae.runs import TrainConfig

    parser = build_parser()
    commands = []
    for page in [ROOT / "README.md", *sorted(SITE.glob("*.md"))]:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split("#")[0].strip()
                if line.startswith("pyro-tcvae train"):
                    commands.append((page.name, line))
    assert len(commands) >= 5, commands
    for page, line in commands:
        args = parser.parse_args(shlex.split(line)[1:])
        if not args.resume:
            TrainConfig(**given_options(args)).validate()
