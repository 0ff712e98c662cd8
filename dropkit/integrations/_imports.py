"""Import an optional training library with an error that says what to install or fix.

With the PyPI ``torchvision`` wheel (a CUDA build) beside the CPU-only ``torch`` wheel, ``import
torchvision`` fails with ``RuntimeError: operator torchvision::nms does not exist``; ``lightning`` (through
``torchmetrics``) and ``transformers`` (its ``Trainer`` and most models) import torchvision whenever it is
installed, so they fail too, ``transformers`` behind a ``ModuleNotFoundError`` that hides the cause. Both
work without torchvision; dropkit itself never imports it.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType

__all__ = ["import_library"]

_TORCHVISION_BROKEN = re.compile(r"operator torchvision::\w+ does not exist")


def _torchvision_error(exc: BaseException) -> BaseException | None:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if _TORCHVISION_BROKEN.search(str(e)):
            return e
        e = e.__cause__ or e.__context__
    return None


def import_library(where: str, module: str, *, package: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` (``name=package``) naming ``pip install dropkit[extra]``,
    or the torchvision mismatch when that is what stopped the import.

    Example:
        >>> import_library("demo", "json", package="json", extra="none").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - re-raised with what to do
        broken = _torchvision_error(exc)
        if broken is not None:
            import torch

            raise ImportError(
                f"{where}: {package} must be importable, got an import error from torchvision ({broken}): the "
                f"installed torchvision does not match torch {torch.__version__}. Install the matching build "
                "(pip install torchvision --index-url https://download.pytorch.org/whl/cpu for a CPU torch) or "
                f"uninstall torchvision; {package} works without it",
                name="torchvision",
            ) from exc
        if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] == package:
            raise ImportError(
                f"{where}: needs the {package!r} package, got it not installed; pip install 'dropkit[{extra}]'",
                name=package,
            ) from exc
        raise
