"""Every docstring example in the package runs (STYLE.md: each method has a runnable example).

``pytest --doctest-modules`` mis-resolves a function named like its own file (``dropout`` in
``dropout.py``), so the modules are walked and handed to :func:`doctest.testmod` directly.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dropkit

# Modules whose examples need a GPU or an optional dependency that CI may lack.
_SKIP_PREFIXES = ("dropkit.kernels.triton_",)
_OPTIONAL = {"ray", "timm", "transformers", "tensorboard", "triton", "lightning"}


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(dropkit.__path__, prefix="dropkit."):
        if not info.name.startswith(_SKIP_PREFIXES):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        if getattr(exc, "name", None) in _OPTIONAL:
            pytest.skip(f"{name} needs the optional package {exc.name!r}")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
