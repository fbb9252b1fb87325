"""The import graph is layered: nothing imports upward, and there are no cycles."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "pyro_tcvae"

#: Each part of the package and its layer; a part imports only parts of lower layers.
LAYERS = {"ops": 0, "optim": 0, "files": 0, "data": 1, "models": 1, "infer": 2, "metrics": 2,
          "viz": 3, "runs": 4, "study": 5, "cli": 6}


def _modules():
    """{module name: path} of every module of the package."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("pyro_tcvae",) + path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name, path, modules):
    """The package modules that module ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                       for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _part(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_part_of_the_package_imports_a_part_above_or_beside_it():
    modules = _modules()
    assert {_part(m) for m in modules} - {None} == set(LAYERS), "a part without a layer"
    bad = []
    for name, path in modules.items():
        src = _part(name)
        if src is None:
            continue  # the package's own __init__ re-exports the public API
        for target in _imports(name, path, modules):
            dst = _part(target)
            if dst != src and (dst is None or LAYERS[dst] >= LAYERS[src]):
                bad.append(f"{name} -> {target}")
    assert not bad, bad


def test_the_module_graph_has_no_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                raise AssertionError(" -> ".join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])


def test_no_module_imports_another_modules_private_names():
    modules = _modules()
    found = set()
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                found.update((name, a.name) for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__"))
    assert not found, sorted(found)


def test_runs_loads_without_the_study_layer_and_forwards_the_names_that_moved():
    """``pyro_tcvae.runs`` still answers the study names it used to export, by looking
    them up in :mod:`pyro_tcvae.study` when asked, so importing one run's package never
    imports the layer above it."""
    import subprocess
    import sys

    code = ("import sys, pyro_tcvae.runs as r; assert 'pyro_tcvae.study' not in sys.modules; "
            "import pyro_tcvae.study as s; "
            "assert all(getattr(r, n) is getattr(s, n) for n in r.MOVED_TO_STUDY)")
    subprocess.run([sys.executable, "-c", code], check=True)
    import pyro_tcvae.runs as runs

    assert not set(runs.MOVED_TO_STUDY) & set(runs.__all__)
    try:
        runs.no_such_name
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("an unknown name was answered")
