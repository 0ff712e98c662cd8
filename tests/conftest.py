"""Shared fixtures. Tests run on the CPU; GPU tests carry the ``cuda`` marker and skip without CUDA."""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

import pytest
import torch

# Triton reads TRITON_INTERPRET when a kernel is decorated, so it must be set before any test module
# (or torch.compile) imports triton: without a GPU the kernels run under the interpreter on the CPU.
if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

# Two CPU cores run two pytest workers: one torch thread each avoids oversubscription.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic_torch() -> None:
    torch.manual_seed(0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


# --- the real torchvision and timm, with a test-only shim for a torch / torchvision mismatch ---
# tools/torchvision_compat.py says why and what it does; the docs build applies the same shim.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from torchvision_compat import import_torchvision  # noqa: E402

sys.path.pop(0)


def _shim_at_collection() -> list[str]:
    """Apply the shim when this conftest is loaded, before any test runs: with the broken wheel installed,
    ``transformers`` imports torchvision too (``BertForSequenceClassification`` -> loss utils ->
    ``torchvision.ops``) and fails the same way, in this folder and in ``tests/uncertainty``."""
    try:
        return import_torchvision()[1]
    except ImportError:
        return []


SHIMMED = _shim_at_collection()


@pytest.fixture(scope="session")
def torchvision() -> types.ModuleType:
    """The real torchvision (shimmed where needed); skips when it is not installed at all."""
    try:
        module, shimmed = import_torchvision()
    except ImportError as exc:
        pytest.skip(f"torchvision is not installed: {exc}")
    if shimmed or SHIMMED:
        print(f"conftest: defined missing operator schemas torchvision::{{{', '.join(shimmed or SHIMMED)}}}")
    return module


@pytest.fixture(scope="session")
def timm(torchvision: types.ModuleType) -> types.ModuleType:
    """The real timm (it imports torchvision, so the torchvision fixture runs first)."""
    try:
        return importlib.import_module("timm")
    except ImportError as exc:
        pytest.skip(f"timm is not installed: {exc}")
