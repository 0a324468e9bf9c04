"""The import graph of ppfcos: every module imports, no module or package import circle,
and the layering of the architecture (which package may use which) holds.

The graph is read from each module's source (every ``import`` statement, function-local
ones included, so an import hidden inside a function to dodge a circle counts too); an
edge goes to the module an import names: ``from .errors import WeightsError`` to
``ppfcos.checkpoint.errors``, ``from . import download`` to ``ppfcos.checkpoint.download``,
``from ..data import create_reader`` to ``ppfcos.data`` (its ``__init__``).
"""
import ast
import os
import subprocess
import sys

import pytest

from conftest import REPO

PACKAGE_DIRS = {"ppfcos": os.path.join(REPO, "ppfcos"),
                "ppfcos_runtime": os.path.join(REPO, "ppfcos_runtime"),
                "ppfcos_tools": os.path.join(REPO, "tools")}
LIBRARY_PACKAGES = ("ppfcos", "ppfcos_runtime")

# ppfcos's packages (ppfcos.<name>) and the ppfcos packages each must not import, from the
# architecture's layering (docs/design.md): core knows no model or trainer; the network
# knows nothing of training or data files; weights I/O, evaluation and process setup know
# no training loop.
FORBIDDEN = {
    "core": {"modeling", "data", "engine", "checkpoint", "evaluation", "export", "api",
             "analysis", "utils"},
    "modeling": {"engine", "data", "checkpoint", "evaluation", "export", "api", "analysis"},
    "data": {"modeling", "engine", "checkpoint", "evaluation", "export", "api"},
    "checkpoint": {"engine", "evaluation", "export", "api", "analysis", "data"},
    "evaluation": {"engine", "checkpoint", "export", "api", "analysis", "modeling"},
    "utils": {"engine", "checkpoint", "evaluation", "export", "api", "analysis", "modeling",
              "data"},
    "analysis": {"engine", "checkpoint", "export", "api", "modeling"},
    "export": {"engine", "api", "analysis"},
}


def module_files(top):
    """{module name: source path} of every module of package ``top``."""
    root = PACKAGE_DIRS[top]
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            parts = os.path.relpath(os.path.join(folder, name), root)[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([top] + parts)] = os.path.join(folder, name)
    return found


def is_package(path):
    return os.path.basename(path) == "__init__.py"


def imported_modules(module, path, known):
    """The modules ``module`` (source at ``path``) imports anywhere in its code: absolute
    names as written, relative ones resolved; ``from P import n`` names ``P.n`` when that
    is a module of ``known``, else ``P``."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if is_package(path) else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                child = f"{source}.{alias.name}"
                names.add(child if child in known else source)
    return names


def import_graph(tops=("ppfcos", "ppfcos_runtime", "ppfcos_tools")):
    """{module: set of modules it imports}, over the given top-level packages' modules,
    keeping every imported name (inside or outside them)."""
    files = {m: p for top in tops for m, p in module_files(top).items()}
    return {m: imported_modules(m, p, files) for m, p in files.items()}


def cycles(graph):
    """The strongly connected components of more than one node (Tarjan), as sorted lists."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in graph:
                continue
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module):
    """``ppfcos.checkpoint.conversion.mmdet`` -> ``checkpoint``; ``ppfcos`` itself and its
    top-level modules (``ppfcos.compat``) -> their own names."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_graph(graph):
    """ppfcos's package-level graph: {package: packages its modules import}."""
    packages = {}
    for module, imports in graph.items():
        if not module.startswith("ppfcos."):
            continue
        edges = packages.setdefault(package_of(module), set())
        edges.update(package_of(name) for name in imports
                     if name.startswith("ppfcos.") or name == "ppfcos")
        edges.discard(package_of(module))
    return packages


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_every_module_imports_in_a_fresh_process():
    modules = sorted(m for top in LIBRARY_PACKAGES for m in module_files(top))
    code = ("import importlib, sys, traceback\n"
            "failed = []\n"
            f"for name in {modules!r}:\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except Exception:\n"
            "        failed.append(name + ': ' + traceback.format_exc().splitlines()[-1])\n"
            "print('\\n'.join(failed))\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", f"modules that fail to import:\n{run.stdout}"
    assert len(modules) > 100


def test_no_module_import_circle(graph):
    assert cycles(graph) == []


def test_no_package_import_circle(graph):
    assert cycles(package_graph(graph)) == []


def test_packages_import_only_the_layers_below_them(graph):
    packages = package_graph(graph)
    breaches = {package: sorted(packages.get(package, set()) & forbidden)
                for package, forbidden in FORBIDDEN.items()}
    assert {p: b for p, b in breaches.items() if b} == {}


def test_the_library_never_imports_its_entry_points_and_the_runtime_imports_no_ppfcos(graph):
    """ppfcos_runtime (exported models, the server) runs without the training code."""
    library = {m: imports for m, imports in graph.items()
               if m.split(".")[0] in LIBRARY_PACKAGES}
    tools = {m: sorted(n for n in imports if n.split(".")[0] in ("ppfcos_tools", "tools"))
             for m, imports in library.items()}
    assert {m: names for m, names in tools.items() if names} == {}
    runtime = {m: sorted(n for n in imports if n.split(".")[0] == "ppfcos")
               for m, imports in library.items() if m.split(".")[0] == "ppfcos_runtime"}
    assert {m: names for m, names in runtime.items() if names} == {}


def test_the_graph_sees_function_local_imports_and_finds_a_circle(tmp_path, monkeypatch):
    """A function-local ``download -> loading`` import beside ``loading -> download``: the
    circle that once joined the two modules is reported."""
    package = tmp_path / "ppfcos" / "checkpoint"
    package.mkdir(parents=True)
    for name in ("__init__.py", os.path.join("..", "__init__.py")):
        (package / name).write_text("")
    (package / "loading.py").write_text("from . import download\n")
    (package / "download.py").write_text("def fetch():\n"
                                         "    from .loading import load_weights\n")
    monkeypatch.setitem(PACKAGE_DIRS, "ppfcos", str(tmp_path / "ppfcos"))
    found = import_graph(("ppfcos",))
    assert found["ppfcos.checkpoint.download"] == {"ppfcos.checkpoint.loading"}
    assert cycles(found) == [["ppfcos.checkpoint.download", "ppfcos.checkpoint.loading"]]
