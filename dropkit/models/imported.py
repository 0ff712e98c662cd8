"""Models from import paths: ``"package.module:callable"`` builds any ``nn.Module`` a user has.

``--model torchvision.models:resnet18`` or ``--model mypkg.nets:Net`` with ``--model-args '{...}'``:
the callable (a class or a factory function) is imported and called with the keyword arguments, and
whatever it returns must be an ``nn.Module``. The CLI's ``train``/``compare``/``sweep`` and ``dropkit
audit`` all resolve models through :func:`build_imported_model`, so one spelling works everywhere.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

__all__ = ["is_import_path", "parse_import_path", "load_callable", "parse_model_args", "build_imported_model"]

# "a.b.c:attr" or "a.b.c:Outer.inner": a dotted module path, a colon, a dotted attribute path.
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_import_path(spec: object) -> bool:
    """True when ``spec`` has the shape ``"module.path:callable"`` (no import is attempted)."""
    return isinstance(spec, str) and bool(_IMPORT_PATH.match(spec))


def parse_import_path(spec: str, *, where: str = "model") -> tuple[str, str]:
    """Split ``"pkg.mod:obj.attr"`` into ``("pkg.mod", "obj.attr")``.

    Raises:
        ValueError: naming ``where`` and the given text when it is not of that shape.
    """
    if not is_import_path(spec):
        raise ValueError(
            f"{where}: an import path must look like 'package.module:callable' "
            f"(e.g. 'torchvision.models:resnet18'), got {spec!r}"
        )
    module, _, attr = spec.partition(":")
    return module, attr


def load_callable(spec: str, *, where: str = "model") -> Callable[..., Any]:
    """Import ``"pkg.mod:obj"`` and return ``obj``, which must be callable.

    Example:
        >>> load_callable("torch.nn:Linear")
        <class 'torch.nn.modules.linear.Linear'>
    """
    module_name, attr_path = parse_import_path(spec, where=where)
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise ValueError(
            f"{where}: cannot import module {module_name!r} of {spec!r} "
            f"(no module named {missing!r}; is it installed, or on PYTHONPATH?)"
        ) from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{where}: module {module_name!r} has no attribute {attr_path!r} (from {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{where}: {spec!r} is a {type(obj).__name__}, not a class or function")
    return obj


def parse_model_args(text: str | Mapping[str, Any] | None, *, where: str = "model_args") -> dict[str, Any]:
    """Keyword arguments for an imported model: a JSON object (text) or a mapping; ``None`` is ``{}``."""
    if text is None or text == "":
        return {}
    if isinstance(text, Mapping):
        value: object = dict(text)
    else:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: must be a JSON object such as '{{\"num_classes\": 10}}', got {text!r} ({exc.msg})") from exc
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{where}: must be a JSON object with string keys, got {text!r}")
    return value


def build_imported_model(spec: str, model_args: str | Mapping[str, Any] | None = None, *, where: str = "model") -> nn.Module:
    """Import ``spec`` (``"module:callable"``), call it with ``model_args`` and check it is a module.

    Args:
        spec: ``"package.module:callable"``; the callable is a class or a factory function.
        model_args: keyword arguments, as a mapping or a JSON object's text (default: none).
        where: the name used in error messages (the flag or config key the user wrote).

    Example:
        >>> build_imported_model("torch.nn:Linear", '{"in_features": 4, "out_features": 2}')
        Linear(in_features=4, out_features=2, bias=True)
    """
    factory = load_callable(spec, where=where)
    kwargs = parse_model_args(model_args, where=f"{where}_args" if where == "model" else f"{where} args")
    try:
        model = factory(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{where}: calling {spec!r} with {kwargs!r} failed: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ValueError(f"{where}: {spec!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model
