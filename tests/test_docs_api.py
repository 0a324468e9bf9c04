"""The API pages build from a fresh clone: each ppfcos module they document is found under
the paths mkdocs.yml gives mkdocstrings, so `mkdocs build --strict` needs no install of
ppfcos (only the docs extra)."""
import glob
import os
import re

import yaml

from conftest import REPO

DIRECTIVE = re.compile(r"^::: (?P<module>[\w.]+)$", re.MULTILINE)


def handler_paths():
    """The python handler's ``paths`` in mkdocs.yml, as absolute folders."""
    with open(os.path.join(REPO, "mkdocs.yml"), encoding="utf-8") as f:
        plugins = yaml.safe_load(f)["plugins"]
    options = next(p["mkdocstrings"] for p in plugins if isinstance(p, dict)
                   and "mkdocstrings" in p)
    return [os.path.join(REPO, path) for path in options["handlers"]["python"]["paths"]]


def documented_modules(prefix):
    """The modules named by ``::: module`` lines of docs/api/*.md that start with ``prefix``."""
    found = set()
    for page in glob.glob(os.path.join(REPO, "docs", "api", "*.md")):
        with open(page, encoding="utf-8") as f:
            found.update(m["module"] for m in DIRECTIVE.finditer(f.read()))
    return sorted(m for m in found if m == prefix or m.startswith(prefix + "."))


def test_every_documented_ppfcos_module_is_found_without_installing():
    modules = documented_modules("ppfcos")
    assert len(modules) > 20
    roots = handler_paths()
    for module in modules:
        parts = module.split(".")
        candidates = [os.path.join(root, *parts) + ".py" for root in roots] + \
                     [os.path.join(root, *parts, "__init__.py") for root in roots]
        assert any(os.path.isfile(c) for c in candidates), \
            f"{module} is on an API page but not under mkdocs.yml's paths {roots}"
