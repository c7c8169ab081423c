"""The layers point one way: workflow -> cosmoflow -> pycola_wrapper. The physics library
imports nothing from above, statically (any import statement in its source) and at run time
(importing every module of it loads no ``cosmoflow`` module)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHYSICS = ROOT / "pycola_wrapper"


def imported_modules(path: Path) -> set[str]:
    """Top-level package names of every import statement in a Python file (relative imports
    excluded: they stay inside the package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_imported_modules_sees_nested_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\ndef g():\n    from cosmoflow.io import atomic_path\nfrom . import x\n")
    assert imported_modules(f) == {"os", "cosmoflow"}


def test_physics_layer_source_imports_nothing_from_above():
    offenders = {str(p.relative_to(ROOT)): sorted(imported_modules(p) & {"cosmoflow", "workflow"})
                 for p in sorted(PHYSICS.glob("*.py"))}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"pycola_wrapper must not import the layers above it: {offenders}"


def test_importing_the_physics_layer_loads_no_cosmoflow_module():
    mods = sorted(p.stem for p in PHYSICS.glob("*.py") if p.stem != "__init__")
    code = ("import importlib, sys\n"
            f"for m in {mods!r}:\n"
            "    importlib.import_module('pycola_wrapper.' + m)\n"
            "bad = sorted(m for m in sys.modules if m == 'cosmoflow' or m.startswith('cosmoflow.'))\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "[]", f"importing pycola_wrapper loaded {out}"


def test_cosmoflow_io_reexports_the_physics_layers_atomic_path():
    from cosmoflow.io import atomic_path
    from pycola_wrapper.atomic import atomic_path as physics_atomic_path

    assert atomic_path is physics_atomic_path
