"""Shared fixtures. Tests run on the CPU; GPU tests carry the ``cuda`` marker and skip without CUDA."""

from __future__ import annotations

import importlib
import os
import re
import sys
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


# --- the real torchvision and timm, with a test-only shim for a torch / torchvision mismatch ---
# Why the shim: the PyPI ``torchvision`` wheel (0.28.0) is a CUDA build. Beside the CPU-only ``torch``
# 2.13.0 wheel its C extension does not load, so no ``torchvision::*`` operator is defined, and
# ``import torchvision`` stops in ``torchvision/_meta_registrations.py`` with
# ``RuntimeError: operator torchvision::nms does not exist``: ``torch.library.register_fake`` needs the
# operator's schema. timm imports torchvision, so it fails the same way.
#
# What the shim does (only on exactly that error): it defines the schema of each missing operator with
# ``torch.library`` (``nms`` and ``qnms``, the only two registered unconditionally at import; the others are
# guarded by ``torchvision.extension._has_ops()``), drops the half-imported ``torchvision`` modules and
# imports again. The operators get a schema but no kernel: calling ``torchvision.ops.nms`` would still
# fail, the models and layers the tests use do not call them. Nothing in ``dropkit`` is touched; with a
# matching torchvision (the CPU wheel from download.pytorch.org) the first import succeeds and the shim is
# never used.

# Schemas copied from torchvision/csrc/ops/nms.cpp (``TORCH_LIBRARY_FRAGMENT(torchvision, m)``).
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_MISSING = re.compile(r"operator torchvision::(\w+) does not exist")
# The Library object must stay alive: its definitions are removed when it is garbage-collected.
_SHIM_LIBRARY: list[torch.library.Library] = []


def _forget_torchvision() -> None:
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]


def import_torchvision() -> tuple[types.ModuleType, list[str]]:
    """Import torchvision; on the "operator torchvision::X does not exist" error define X's schema and retry.

    Returns ``(torchvision, shimmed)``, ``shimmed`` naming the operators defined here (empty when the
    import worked as is). Any other error, or a missing operator whose schema is not known here, is raised.
    """
    shimmed: list[str] = []
    for _ in range(len(_SCHEMAS) + 1):
        try:
            return importlib.import_module("torchvision"), shimmed
        except RuntimeError as exc:
            match = _MISSING.search(str(exc))
            if match is None or match.group(1) not in _SCHEMAS or match.group(1) in shimmed:
                raise
            _forget_torchvision()
            if not _SHIM_LIBRARY:
                _SHIM_LIBRARY.append(torch.library.Library("torchvision", "FRAGMENT"))
            # define every known schema at once: the import may stop at the next one otherwise
            for op, schema in _SCHEMAS.items():
                if op not in shimmed and not hasattr(torch.ops.torchvision, op):
                    _SHIM_LIBRARY[0].define(schema)
                    shimmed.append(op)
    raise AssertionError("import_torchvision: retries exhausted")  # each retry shims a new op or raises


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
