"""The package's layers import downwards only: ``rng`` < ``kernels`` < ``functional`` < ``nn``.

``dropkit.functional`` and ``dropkit.kernels`` used to import each other (``functional.dropout`` the fused
ops, ``kernels.fused`` and ``kernels.portable`` the native mask in ``functional.native_mask``), so neither
could be read or loaded without the other. Every ``import`` statement counts here, the lazy ones inside
functions included; docstring examples do not (they are strings).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dropkit"

# Each layer may import only the layers listed before it (and dropkit's private helpers, _*.py).
LAYERS = ["rng", "kernels", "functional", "nn"]


def _imported(path: Path) -> set[str]:
    """Every ``dropkit.<name>`` a module imports (the first component after ``dropkit.``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names if node.module == "dropkit"]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "dropkit" and len(parts) > 1:
                names.add(parts[1])
    return names


def _files(layer: str) -> list[Path]:
    folder = PACKAGE / layer
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{layer}.py"]


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    above = set(LAYERS[LAYERS.index(layer) + 1 :])
    for path in _files(layer):
        up = _imported(path) & above
        assert not up, f"{path.relative_to(ROOT)} imports the higher layer(s) {sorted(up)}"


def test_no_import_cycle_between_functional_and_kernels() -> None:
    graph = {layer: set().union(*(_imported(p) for p in _files(layer))) - {layer} for layer in ("functional", "kernels")}
    assert "kernels" in graph["functional"]  # functional builds on the kernels ...
    assert "functional" not in graph["kernels"]  # ... and nothing points back up


def test_importing_dropkit_does_not_import_triton() -> None:
    # The kernels load triton on the first call that runs the "triton" backend, never at import.
    code = "import sys, dropkit, dropkit.kernels, dropkit.nn; print(sorted(m for m in sys.modules if m.startswith('triton')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""}).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize(("library", "forbidden"), [
    ("uncertainty", {"data", "train", "sweep", "report", "cli", "evaluation"}),  # mc_predict + metrics only
    ("schedules", {"train", "cli", "models", "sweep"}),  # the scheduler does not read the train config
])
def test_libraries_do_not_read_their_pipelines(library: str, forbidden: set[str]) -> None:
    for path in _files(library):
        up = _imported(path) & forbidden
        assert not up, f"{path.relative_to(ROOT)} imports {sorted(up)}"
