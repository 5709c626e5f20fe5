"""The dependency rules of the design: only readers touch h5py, only the renderer and
the output owner touch rich, only the CLI package touches click; the core is numpy."""

import ast
import subprocess
import sys

from conftest import ROOT

PACKAGE = ROOT / "lstm_inspect"
ALLOWED = {
    "h5py": "reading/",
    "rich": ("reports/render.py", "reports/render_compare.py", "reports/heatmap.py", "reports/terminal.py"),
    "click": "cli/",
}


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_third_party_imports_stay_in_their_layer():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        for module in _imports(path):
            if module in ALLOWED:
                assert rel.startswith(ALLOWED[module]), f"{rel} imports {module}"


def test_importing_the_library_loads_no_h5py_rich_or_click():
    code = "import sys, lstm_inspect; print(sorted(m for m in ('h5py', 'rich', 'click') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"



# The pipeline, left to right: a module may import from its own group and from groups
# to its left, never to its right, and never from a sibling of the same rank.
#   core (errors, model, gates, versions, limits) -> kinds -> reading | forward -> reports | export
#   -> api (lstm_inspect/__init__.py, api.py) -> cli (cli/, __main__.py)
RANKS = {"core": 0, "kinds": 1, "reading": 2, "forward": 2, "reports": 3, "export": 3, "api": 4, "cli": 5}


def _group(module: str) -> str:
    head = module.split(".")[0]
    if head in ("kinds", "reading", "forward", "reports", "export", "cli"):
        return head
    if head == "__main__":
        return "cli"
    if head in ("api", "__init__", ""):
        return "api"
    return "core"


def _package_imports(path):
    """(importing module, imported module) for every relative import, as dotted names
    relative to the package."""
    rel = path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
    package = rel.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                yield rel, ".".join(base + [node.module])
            else:
                yield from ((rel, ".".join(base + [a.name])) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lstm_inspect."):
            yield rel, node.module[len("lstm_inspect."):]


def test_imports_follow_the_pipeline():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        for importer, imported in _package_imports(path):
            a, b = _group(importer), _group(imported)
            if a != b and RANKS[b] >= RANKS[a]:
                wrong.append(f"{importer} ({a}) imports {imported} ({b})")
    assert not wrong, "\n".join(wrong)


def test_the_groups_are_the_package_layout():
    """Every subpackage is one of the groups above, so a new one must be placed."""
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages == {"kinds", "reading", "forward", "reports", "export", "cli"}
