"""Shared fixtures. Tests run on the CPU; GPU tests carry the ``cuda`` marker and skip without CUDA."""

from __future__ import annotations

import os
import types

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


# --- the real torchvision and timm, imported as a user's code would (no shim) ---
# make installs torch and torchvision as a matched pair; an import that fails any other way than "not installed"
# (e.g. "operator torchvision::nms does not exist" beside a torch it was not built for) is an error, not a skip.


@pytest.fixture(scope="session")
def torchvision() -> types.ModuleType:
    """The real torchvision; skips only when it is not installed."""
    return pytest.importorskip("torchvision", reason="torchvision is not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="session")
def timm(torchvision: types.ModuleType) -> types.ModuleType:
    """The real timm (it imports torchvision, so the torchvision fixture runs first)."""
    return pytest.importorskip("timm", reason="timm is not installed (pip install -e '.[dev]')")
