"""Weight drop on RNN hidden-to-hidden weights through ``torch.nn.utils.parametrize``.

Merity, Keskar & Socher, "Regularizing and Optimizing LSTM Language Models" (AWD-LSTM),
https://arxiv.org/abs/1708.02182; DropConnect by Wan et al. 2013. The Module twin of
:func:`dropkit.functional.weight_drop`.

awd-lstm's ``WeightDrop`` deletes ``weight_hh_l0`` from the RNN and re-assigns a dropped copy
before each call, which broke whenever PyTorch changed how RNNs hold their flat weights
(pytorch#32346, awd-lstm-lm#86). Here the weight stays a registered parameter and is *parametrized*:
``rnn.weight_hh_l0`` evaluates to ``weight_drop(original)`` in training and to ``original`` itself in
eval, and ``nn.LSTM.forward`` runs unchanged, still calling the fused kernel (``torch._VF.lstm``:
oneDNN/native on CPU, cuDNN on GPU). Each forward call evaluates the parametrization once (a
``parametrize.cached()`` scope around the call), so one mask serves every time step and every
direction of that call, and a new mask is drawn for the next call.

What it costs: one Bernoulli draw and one multiply of each ``(G*H, H)`` weight per call. On CUDA the
freshly dropped weights are not in cuDNN's flat buffer, so the RNN copies them into one each call,
as awd-lstm and fastai do.

State dicts use the plain RNN's keys (``weight_hh_l0``, not ``parametrizations.weight_hh_l0.original``)
and accept either form, so checkpoints move freely between a weight-dropped RNN and a plain
``nn.LSTM`` / ``nn.GRU``. Parametrized modules cannot be pickled whole (``torch.save(module)``):
save their ``state_dict`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from dropkit._validation import check_probability
from dropkit.functional.weight_drop import weight_drop
from dropkit.nn._base import DropoutModule, _keyword_only

__all__ = ["WeightDrop", "apply_weight_drop", "remove_weight_drop", "weight_drop_names", "WeightDropLSTM", "WeightDropGRU"]

_HOOKS_ATTR = "_dropkit_weight_drop_hooks"
_CACHE_ATTR = "_dropkit_weight_drop_cache"


class WeightDrop(DropoutModule):
    """A parametrization: DropConnect on the weight in training, the identity in eval.

    ``p`` is the probability of **dropping** a weight entry. Register it with
    :func:`apply_weight_drop` rather than by hand: that also installs the per-call cache and the
    state-dict key mapping.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        broadcast_dims: weight dims sharing one mask value; ``(1,)`` drops whole rows (default: ``()``).
        generator: optional random generator for every mask (default: None, the global one).

    Shape:
        - Input: the original weight ``(*)``; Output: the same shape.

    Example:
        >>> import torch
        >>> wd = WeightDrop(0.5)
        >>> w = torch.ones(4, 4)
        >>> sorted(set(wd(w).flatten().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
        >>> wd.eval()(w) is w
        True
    """

    @_keyword_only("broadcast_dims", "generator")
    def __init__(self, p: float = 0.5, *, broadcast_dims: int | Sequence[int] = (),
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = self._check_rate("p", p)
        self.broadcast_dims = (broadcast_dims,) if isinstance(broadcast_dims, int) else tuple(broadcast_dims)
        self.generator = generator

    def forward(self, weight: Tensor) -> Tensor:
        return weight_drop(weight, self.p, training=self.training, broadcast_dims=self.broadcast_dims, generator=self.generator)

    def right_inverse(self, weight: Tensor) -> Tensor:
        """Assigning ``rnn.weight_hh_l0 = w`` stores ``w`` as the undropped weight."""
        return weight

    def _repr_options(self) -> list[str]:
        return [f"broadcast_dims={self.broadcast_dims}" if self.broadcast_dims else ""]


def weight_drop_names(module: nn.Module) -> list[str]:
    """Names of ``module``'s weights that carry a :class:`WeightDrop` parametrization."""
    if not parametrize.is_parametrized(module):
        return []
    return [name for name, plist in module.parametrizations.items() if any(isinstance(q, WeightDrop) for q in plist)]


def _enter_cache(module: nn.Module, args: Any) -> None:
    cm = parametrize.cached()
    cm.__enter__()
    module.__dict__.setdefault(_CACHE_ATTR, []).append(cm)


def _exit_cache(module: nn.Module, args: Any, output: Any) -> None:
    stack = module.__dict__.get(_CACHE_ATTR)
    if stack:
        stack.pop().__exit__(None, None, None)
    if isinstance(module, nn.RNNBase):
        # Drop the RNN's reference to this call's dropped (non-leaf) weights so that deepcopy works
        # between calls; the next forward sees a changed weight and rebuilds the list itself.
        for name in weight_drop_names(module):
            idx = module._flat_weights_names.index(name)
            module._flat_weights[idx] = module.parametrizations[name].original


def _state_dict_plain_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    for name in weight_drop_names(module):
        key = f"{prefix}parametrizations.{name}.original"
        if key in state_dict:
            state_dict[f"{prefix}{name}"] = state_dict.pop(key)


def _load_plain_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    for name in weight_drop_names(module):
        if f"{prefix}{name}" in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original"] = state_dict.pop(f"{prefix}{name}")


def _default_names(where: str, module: nn.Module) -> list[str]:
    if not isinstance(module, nn.RNNBase):
        raise ValueError(f"{where}: names must be given for a module that is not an nn.RNN/LSTM/GRU, got names=None for {type(module).__name__}")
    return [n for n in module._flat_weights_names if n.startswith("weight_hh")]


def apply_weight_drop(
    module: nn.Module,
    p: float = 0.5,
    names: str | Sequence[str] | None = None,
    *,
    broadcast_dims: int | Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Add weight drop to ``module`` in place (and return it), keeping its fused forward.

    Args:
        module: an ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (or any module when ``names`` is given).
        p: probability of **dropping** a weight entry, in ``[0, 1]`` (default: 0.5).
        names: the weights to drop; every ``weight_hh_l*`` (and ``*_reverse``) of an RNN when None
            (default: None).
        broadcast_dims: weight dims sharing one mask value; ``(1,)`` drops whole rows of
            ``weight_hh``, awd-lstm's ``variational=True`` (default: ``()``).
        generator: optional random generator for every mask (default: None, the global one).

    Shape:
        - Input and output: those of ``module``, unchanged.

    Example:
        >>> import torch
        >>> from dropkit.nn import apply_weight_drop
        >>> lstm = apply_weight_drop(torch.nn.LSTM(3, 5), p=0.3)
        >>> out, (h, c) = lstm(torch.randn(7, 2, 3))
        >>> sorted(lstm.state_dict()) == sorted(torch.nn.LSTM(3, 5).state_dict())
        True
    """
    where = "apply_weight_drop"
    if not isinstance(module, nn.Module):
        raise TypeError(f"{where}: module must be an nn.Module, got {type(module).__name__}")
    p = check_probability(where, "p", p)
    if names is None:
        names = _default_names(where, module)
    elif isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError(f"{where}: names must name at least one weight, got {names!r}")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{where}: names must be strings, got {type(name).__name__} {name!r}")
        if parametrize.is_parametrized(module, name):
            raise ValueError(f"{where}: names must be weights without a parametrization, got {name!r} (already parametrized)")
        if not isinstance(module._parameters.get(name), nn.Parameter):
            params = ", ".join(n for n, _ in module.named_parameters(recurse=False))
            raise ValueError(f"{where}: names must be parameters of the module ({params}), got {name!r}")
    for name in names:
        # unsafe=True skips the trial evaluation (a wasted random draw); weight_drop keeps shape and dtype.
        parametrize.register_parametrization(module, name, WeightDrop(p, broadcast_dims=broadcast_dims, generator=generator), unsafe=True)
    if not module.__dict__.get(_HOOKS_ATTR):
        # Module-level functions (no handles kept) so that deepcopy and remove_weight_drop stay simple.
        module.register_forward_pre_hook(_enter_cache)
        module.register_forward_hook(_exit_cache, always_call=True)
        module.register_state_dict_post_hook(_state_dict_plain_keys)
        module.register_load_state_dict_pre_hook(_load_plain_keys)
        module.__dict__[_HOOKS_ATTR] = True
    return module


_OUR_HOOKS = (_enter_cache, _exit_cache, _state_dict_plain_keys, _load_plain_keys)


def _remove_our_hooks(module: nn.Module) -> None:
    for attr in ("_forward_pre_hooks", "_forward_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks"):
        hooks = getattr(module, attr)
        for key in [k for k, h in hooks.items() if getattr(h, "hook", h) in _OUR_HOOKS]:
            del hooks[key]
            module._forward_hooks_always_called.pop(key, None)
    module.__dict__.pop(_HOOKS_ATTR, None)


def remove_weight_drop(module: nn.Module) -> nn.Module:
    """Undo :func:`apply_weight_drop`: the undropped weights become plain parameters again."""
    for name in weight_drop_names(module):
        parametrize.remove_parametrizations(module, name, leave_parametrized=False)
    _remove_our_hooks(module)
    if isinstance(module, nn.RNNBase):
        module._init_flat_weights()
    return module


class _WeightDropRNN(DropoutModule):
    """What ``WeightDropLSTM`` and ``WeightDropGRU`` share: ``weight_p`` read from and written to their
    ``WeightDrop`` parametrizations, and a ``repr`` that shows it.

    The rate the RNN applies itself is torch's ``dropout`` between layers (:attr:`rate_names`); the weight
    drop rate belongs to the :class:`WeightDrop` children, which surgery and schedules find on their own.
    """

    rate_names = ("dropout",)

    @property
    def weight_p(self) -> float:
        """Probability of **dropping** a hidden-to-hidden weight entry; setting it sets every ``WeightDrop``."""
        names = weight_drop_names(self)
        return self.parametrizations[names[0]][0].p if names else 0.0  # 0 after remove_weight_drop

    @weight_p.setter
    def weight_p(self, value: float) -> None:
        value = self._check_rate("weight_p", value)
        if value and not weight_drop_names(self):
            raise ValueError(f"{self._get_name()}: weight_p can only be set while weight drop is applied (it was "
                             f"removed with remove_weight_drop), got {value:g}")
        for name in weight_drop_names(self):
            for q in self.parametrizations[name]:
                if isinstance(q, WeightDrop):
                    q.p = value

    def _repr_rates(self) -> list[str]:
        return [f"weight_p={self.weight_p:g}"]  # torch's part prints dropout= when it is not 0


class WeightDropLSTM(_WeightDropRNN, nn.LSTM):
    """``nn.LSTM`` with weight drop on every ``weight_hh_l*``; ``weight_p`` is the **drop** rate.

    Same arguments, parameters, forward and fused kernel as :class:`torch.nn.LSTM`; state dicts are
    interchangeable with a plain ``nn.LSTM`` of the same sizes.

    Args:
        *args: positional arguments of :class:`torch.nn.LSTM` (``input_size``, ``hidden_size``, ...).
        weight_p: probability of **dropping** a hidden-to-hidden weight entry, one mask per
            forward call (default: 0.5).
        generator: optional random generator for the weight masks (default: None).
        **kwargs: keyword arguments of :class:`torch.nn.LSTM` (``num_layers``, ``batch_first``, ...).

    Shape:
        - As :class:`torch.nn.LSTM`.

    Example:
        >>> import torch
        >>> from dropkit.nn import WeightDropLSTM
        >>> lstm = WeightDropLSTM(4, 8, num_layers=2, batch_first=True, weight_p=0.5)
        >>> out, (h, c) = lstm(torch.randn(3, 10, 4))
        >>> out.shape, h.shape
        (torch.Size([3, 10, 8]), torch.Size([2, 3, 8]))
        >>> torch.nn.LSTM(4, 8, num_layers=2).load_state_dict(lstm.state_dict())
        <All keys matched successfully>
    """

    def __init__(self, *args: Any, weight_p: float = 0.5, generator: torch.Generator | None = None, **kwargs: Any) -> None:
        weight_p = self._check_rate("weight_p", weight_p)
        super().__init__(*args, **kwargs)
        apply_weight_drop(self, weight_p, generator=generator)


class WeightDropGRU(_WeightDropRNN, nn.GRU):
    """``nn.GRU`` with weight drop on every ``weight_hh_l*``; ``weight_p`` is the **drop** rate.

    Args:
        *args: positional arguments of :class:`torch.nn.GRU`.
        weight_p: probability of **dropping** a hidden-to-hidden weight entry, one mask per
            forward call (default: 0.5).
        generator: optional random generator for the weight masks (default: None).
        **kwargs: keyword arguments of :class:`torch.nn.GRU`.

    Shape:
        - As :class:`torch.nn.GRU`.

    Example:
        >>> import torch
        >>> from dropkit.nn import WeightDropGRU
        >>> gru = WeightDropGRU(4, 8, weight_p=0.25)
        >>> out, h = gru(torch.randn(6, 2, 4))
        >>> out.shape
        torch.Size([6, 2, 8])
    """

    def __init__(self, *args: Any, weight_p: float = 0.5, generator: torch.Generator | None = None, **kwargs: Any) -> None:
        weight_p = self._check_rate("weight_p", weight_p)
        super().__init__(*args, **kwargs)
        apply_weight_drop(self, weight_p, generator=generator)
