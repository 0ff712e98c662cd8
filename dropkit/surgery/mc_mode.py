"""``mc_mode``: switch on every stochastic regulariser for MC-dropout inference, leave normalisation alone.

Gal & Ghahramani 2016, "Dropout as a Bayesian Approximation: Representing Model Uncertainty in Deep
Learning", ICML, https://arxiv.org/abs/1506.02142.

Calling ``model.train()`` for MC dropout also puts BatchNorm in training mode (batch statistics, running
statistics overwritten); toggling only ``nn.Dropout`` modules misses dropout that is applied
*functionally* and keyed on the flag of a parent module, e.g. timm's
``F.scaled_dot_product_attention(..., dropout_p=self.attn_drop.p if self.training else 0.)`` or Hugging
Face's ``dropout=0.0 if not self.training else self.dropout.p``. ``mc_mode`` therefore sets
``training = True`` on **every** module except normalisation layers and modules holding running
statistics (see :func:`~dropkit.surgery.stochastic.is_normalization`), and restores every module's exact
flag on exit, mixed flags included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from torch import nn

from dropkit.surgery.stochastic import is_normalization

__all__ = ["mc_mode"]


@contextlib.contextmanager
def mc_mode(
    model: nn.Module,
    *,
    keep_eval: type | tuple[type, ...] | Callable[[str, nn.Module], bool] | None = None,
) -> Iterator[nn.Module]:
    """Context manager: stochastic regularisers on, normalisation layers in eval, flags restored on exit.

    Inside the block every module's ``training`` flag is set individually (``train()`` is not called, so
    overrides of ``train`` do not run): ``False`` for normalisation layers, modules with ``running_*``
    buffers and anything ``keep_eval`` names, ``True`` for all others. Non-stochastic modules ignore the
    flag, except models whose *output format* depends on it (torchvision's ``Inception3``/``GoogLeNet``
    return auxiliary logits in training): name those in ``keep_eval``. Dropout applied with a hard-coded
    ``training=False`` cannot be reached.

    Args:
        model: the model; its flags are changed only inside the block.
        keep_eval: extra modules to keep in eval mode: a class, a tuple of classes, or a predicate
            ``(qualified_name, module) -> bool`` (default: None).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from dropkit.surgery import mc_mode
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5)).eval()
        >>> with mc_mode(net):
        ...     [m.training for m in net]
        [True, False, True]
        >>> [m.training for m in net]
        [False, False, False]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"mc_mode: model must be an nn.Module, got {type(model).__name__}")
    if keep_eval is None:
        keep: Callable[[str, nn.Module], bool] = lambda name, m: False  # noqa: E731
    elif isinstance(keep_eval, type) or (isinstance(keep_eval, tuple) and all(isinstance(t, type) for t in keep_eval)):
        keep = lambda name, m: isinstance(m, keep_eval)  # noqa: E731
    elif callable(keep_eval):
        keep = keep_eval
    else:
        raise TypeError(f"mc_mode: keep_eval must be a class, a tuple of classes or a predicate, got {keep_eval!r}")
    modules = list(model.named_modules(remove_duplicate=False))
    saved = [(m, m.training) for _, m in modules]
    # a module shared under several names stays in eval if any of its names is kept
    kept = {id(m) for name, m in modules if is_normalization(m) or keep(name, m)}
    try:
        for _, m in modules:
            m.training = id(m) not in kept
        yield model
    finally:
        for m, flag in saved:
            m.training = flag
