"""Import PyPI's CUDA-built torchvision beside the CPU-only torch wheel, for the tests and the docs build.

Not part of the ``dropkit`` package and never imported by it: ``tests/conftest.py`` and the docs build
(``docs/hooks/api_pages.py``) call :func:`import_torchvision` before anything imports torchvision, timm,
transformers or lightning (the last two import torchvision whenever it is installed).

Why the shim: the PyPI ``torchvision`` wheel (0.28.0) is a CUDA build. Beside the CPU-only ``torch``
2.13.0 wheel its C extension does not load, so no ``torchvision::*`` operator is defined, and
``import torchvision`` stops in ``torchvision/_meta_registrations.py`` with
``RuntimeError: operator torchvision::nms does not exist``: ``torch.library.register_fake`` needs the
operator's schema. timm imports torchvision, so it fails the same way.

What the shim does (only on exactly that error): it defines the schema of each missing operator with
``torch.library`` (``nms`` and ``qnms``, the only two registered unconditionally at import; the others are
guarded by ``torchvision.extension._has_ops()``), drops the half-imported ``torchvision`` modules and
imports again. The operators get a schema but no kernel: calling ``torchvision.ops.nms`` would still
fail, the models and layers the tests use do not call them. Nothing in ``dropkit`` is touched; with a
matching torchvision (the CPU wheel from download.pytorch.org) the first import succeeds and the shim is
never used.
"""

from __future__ import annotations

import importlib
import re
import sys
import types

import torch

__all__ = ["import_torchvision", "apply"]

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


def apply() -> list[str]:
    """Shim torchvision now if it is installed and broken; return the operators defined (``[]`` if none)."""
    try:
        return import_torchvision()[1]
    except ImportError:
        return []
