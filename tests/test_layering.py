"""The dependency rules of the design: only readers touch h5py, only the renderer and
the output owner touch rich, only the CLI package touches click; the core is numpy."""

import ast
import subprocess
import sys

from conftest import ROOT

PACKAGE = ROOT / "lstm_inspect"
ALLOWED = {"h5py": "reading/", "rich": ("reports/render.py", "reports/terminal.py"), "click": "cli/"}


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

