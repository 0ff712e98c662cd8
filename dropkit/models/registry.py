"""Model registry: ``build_model(cfg, input_shape, num_classes)`` picks the builder named by ``cfg.model``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dropkit._validation import check_choice

__all__ = ["register_model", "build_model", "model_names", "ModelBuilder"]

ModelBuilder = Callable[..., nn.Module]
_BUILDERS: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator: register ``fn(cfg, input_shape, num_classes) -> nn.Module`` under ``name``."""

    def deco(fn: ModelBuilder) -> ModelBuilder:
        _BUILDERS[name] = fn
        return fn

    return deco


def model_names() -> list[str]:
    """Names of the built-in model families (``cfg.model`` values), sorted."""
    return sorted(_BUILDERS)


def build_model(cfg: object, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Build the model ``cfg.model`` for inputs of ``input_shape`` (without the batch dim).

    An import path ``module:callable`` builds the user's model with ``cfg.model_args`` and places dropout
    by the config's keys (:mod:`dropkit.models.placement`).
    """
    from dropkit.models.imported import is_import_path

    if is_import_path(getattr(cfg, "model")):
        from dropkit.models.placement import build_config_model

        return build_config_model(cfg, tuple(input_shape), int(num_classes))
    check_choice("build_model", "model", getattr(cfg, "model"), model_names())
    return _BUILDERS[getattr(cfg, "model")](cfg, tuple(input_shape), int(num_classes))
