"""Dropout placed on an imported model by config keys, through :mod:`dropkit.surgery`.

The keys, applied in this order when ``model`` is an import path (``module:callable``):

1. ``swap_rnn``: ``"input_p=0.2,recurrent_p=0.2,weight_p=0,zoneout_p=0"`` -> :func:`~dropkit.surgery.swap_rnn`
   (every ``nn.LSTM`` / ``nn.GRU`` becomes a variational one; Gal & Ghahramani 2016,
   https://arxiv.org/abs/1512.05287).
2. ``swap_dropout``: ``true`` -> :func:`~dropkit.surgery.swap_dropout` (torch.nn dropout -> dropkit's, same rates).
3. ``insert_dropout``: ``"after=Linear"``, ``"after=Conv2d,p=0.1,type=Dropout2d"``, several joined by
   ``;`` -> :func:`~dropkit.surgery.insert_dropout`. Fields: ``after`` (a ``torch.nn`` class name, a
   ``dropkit.nn`` one, or ``module:Class``), ``p`` (default: the config's ``p``), ``type`` (a
   ``dropkit.nn`` class taking the rate first, default ``Dropout``), ``name`` (a glob on the qualified
   name), ``positions`` (``2``, ``-1`` or a slice ``0:-1``). Without ``name``/``positions``, the model's
   output layer (the last module holding parameters) is left out: dropping logits is never meant.
4. ``drop_path``: the rate of the last stochastic-depth module (timm ``DropPath``, torchvision
   ``StochasticDepth``), linear from 0 over their order as timm's ``drop_path_rate`` does; models
   without such modules are left as they are (timm builds them when given ``drop_path_rate`` in
   ``model_args``).
5. ``set_rate``: every dropout-like module's rate -> :func:`~dropkit.surgery.set_dropout_rate` (last,
   so it also sets the inserted ones; ``compare``'s baseline uses ``set_rate: 0``).

All of it is recorded in the run's ``config.yaml``, so ``--resume``, sweeps and reports rebuild the same model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dropkit._validation import check_probability

__all__ = ["InsertRule", "parse_insert_dropout", "parse_swap_rnn", "apply_placement", "build_config_model"]

log = logging.getLogger(__name__)

_INSERT_FIELDS = ("after", "p", "type", "name", "positions")
_RNN_FIELDS = ("input_p", "recurrent_p", "weight_p", "zoneout_p")


@dataclass(frozen=True)
class InsertRule:
    """One ``insert_dropout`` entry.

    Args:
        after: the layer class to put dropout after (a name, resolved when applied).
        p: probability of **dropping**, or ``None`` for the config's ``p``.
        type: the ``dropkit.nn`` class of the new dropout (default ``"Dropout"``).
        name: a glob on qualified names, or ``None``.
        positions: an int or a slice of the matches, or ``None``.
    """

    after: str
    p: float | None = None
    type: str = "Dropout"
    name: str | None = None
    positions: int | slice | None = None


def _fields(text: str, where: str, allowed: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (s.strip() for s in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not value.strip():
            raise ValueError(f"{where}: each field must be key=value, got {part!r} in {text!r}")
        if key not in allowed:
            raise ValueError(f"{where}: unknown field {key!r} in {text!r}; fields are {', '.join(allowed)}")
        out[key] = value.strip()
    return out


def _positions(text: str, where: str) -> int | slice:
    try:
        if ":" in text:
            a, _, b = text.partition(":")
            return slice(int(a) if a.strip() else None, int(b) if b.strip() else None)
        return int(text)
    except ValueError:
        raise ValueError(f"{where}: positions must be an int or a slice such as 0:-1, got {text!r}") from None


def parse_insert_dropout(text: str | None, *, where: str = "insert_dropout") -> list[InsertRule]:
    """Parse ``"after=Linear,p=0.3;after=Conv2d,type=Dropout2d"`` into rules (no class is resolved).

    Example:
        >>> parse_insert_dropout("after=Linear,p=0.3")
        [InsertRule(after='Linear', p=0.3, type='Dropout', name=None, positions=None)]
    """
    if text is None or not str(text).strip():
        return []
    rules = []
    for entry in (e for e in str(text).split(";") if e.strip()):
        f = _fields(entry, where, _INSERT_FIELDS)
        if "after" not in f:
            raise ValueError(f"{where}: each entry needs after=<layer class>, got {entry.strip()!r}")
        p = None
        if "p" in f:
            try:
                p = check_probability(where, "p", float(f["p"]))
            except ValueError as exc:
                raise ValueError(f"{where}: p must be a number in [0, 1], got {f['p']!r}") from exc
        rules.append(InsertRule(after=f["after"], p=p, type=f.get("type", "Dropout"), name=f.get("name"),
                                positions=_positions(f["positions"], where) if "positions" in f else None))
    return rules


def parse_swap_rnn(text: str | None, *, where: str = "swap_rnn") -> dict[str, float] | None:
    """Parse ``"input_p=0.2,recurrent_p=0.2"`` into :func:`~dropkit.surgery.swap_rnn`'s rates (``None``: no swap).

    Example:
        >>> parse_swap_rnn("input_p=0.2,recurrent_p=0.1")
        {'input_p': 0.2, 'recurrent_p': 0.1, 'weight_p': 0.0, 'zoneout_p': 0.0}
    """
    if text is None or not str(text).strip():
        return None
    f = _fields(str(text), where, _RNN_FIELDS)
    rates = {}
    for key in _RNN_FIELDS:
        try:
            rates[key] = check_probability(where, key, float(f.get(key, 0.0)))
        except ValueError as exc:
            raise ValueError(f"{where}: {key} must be a number in [0, 1], got {f.get(key)!r}") from exc
    return rates


def _resolve_class(name: str, where: str, *, dropkit_first: bool = False) -> type:
    from dropkit.models.imported import is_import_path, load_callable
    import dropkit.nn as dnn

    if is_import_path(name):
        obj = load_callable(name, where=where)
    else:
        places = (dnn, nn) if dropkit_first else (nn, dnn)
        obj = next((getattr(m, name) for m in places if isinstance(getattr(m, name, None), type)), None)
        if obj is None:
            raise ValueError(f"{where}: {name!r} is neither a torch.nn nor a dropkit.nn class; "
                             "give a class name such as Linear, Conv2d, LSTM or an import path module:Class")
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"{where}: {name!r} must name an nn.Module class, got {obj!r}")
    return obj


def _output_layer(model: nn.Module) -> str | None:
    """The qualified name of the last module (in ``named_modules`` order) holding parameters of its own."""
    last = None
    for name, m in model.named_modules():
        if name and any(True for _ in m.parameters(recurse=False)):
            last = name
    return last


def _stochastic_depth_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    import re

    from dropkit.surgery.stochastic import get_rate

    pat = re.compile(r"DropPath|StochasticDepth", re.IGNORECASE)
    return [(n, m) for n, m in model.named_modules() if n and pat.search(type(m).__name__) and get_rate(m) is not None]


def _rnn_aware(model: nn.Module, layer_cls: type) -> tuple[tuple[type, ...], list[str]]:
    """``after=LSTM`` / ``after=GRU`` also selects the variational RNNs ``swap_rnn`` made, never the
    per-layer ``nn.LSTM`` inside them; returns the types to select and the variational RNNs' names."""
    from dropkit.nn.variational_rnn import VariationalGRU, VariationalLSTM

    variational = {nn.LSTM: VariationalLSTM, nn.GRU: VariationalGRU}
    inside = [n for n, m in model.named_modules() if isinstance(m, (VariationalLSTM, VariationalGRU))]
    if layer_cls in variational:
        return (layer_cls, variational[layer_cls]), inside
    return (layer_cls,), inside


def apply_placement(model: nn.Module, cfg: Any) -> list[str]:
    """Apply ``cfg``'s placement keys to ``model`` in place (see the module docstring); return one line per change.

    Example:
        >>> from torch import nn
        >>> from types import SimpleNamespace
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> cfg = SimpleNamespace(swap_rnn=None, swap_dropout=False, insert_dropout="after=Linear", p=0.3,
        ...                       drop_path=0.0, set_rate=None)
        >>> apply_placement(net, cfg)
        ['insert_dropout: Dropout(p=0.3) after 0']
    """
    from dropkit.surgery import Select, insert_dropout, set_dropout_rate, set_rate, swap_dropout, swap_rnn

    done: list[str] = []
    rnn = parse_swap_rnn(getattr(cfg, "swap_rnn", None))
    if rnn is not None:
        swapped = swap_rnn(model, **rnn)
        if not swapped:
            raise ValueError("swap_rnn: the model has no nn.LSTM or nn.GRU to swap")
        done.append(f"swap_rnn: {', '.join(swapped)} ({', '.join(f'{k}={v:g}' for k, v in rnn.items())})")
    if getattr(cfg, "swap_dropout", False):
        swapped = swap_dropout(model)
        done.append(f"swap_dropout: {', '.join(swapped) or 'no torch.nn dropout modules'}")
    output = _output_layer(model)
    for rule in parse_insert_dropout(getattr(cfg, "insert_dropout", None)):
        where = "insert_dropout"
        layer_cls = _resolve_class(rule.after, where)
        drop_cls = _resolve_class(rule.type, where, dropkit_first=True)
        p = float(cfg.p) if rule.p is None else rule.p
        explicit = rule.name is not None or rule.positions is not None
        types, inside = _rnn_aware(model, layer_cls)
        sel = Select(types=types, name=rule.name, positions=rule.positions,
                     where=lambda n, m: not any(n.startswith(v + ".") for v in inside) and (explicit or n != output))
        hits = sel(model)
        if not hits:
            raise ValueError(f"insert_dropout: no {rule.after} layer in the model matches {rule!r}"
                             + ("" if explicit else f" (the output layer {output!r} is left out)"))
        names = insert_dropout(model, sel, p=p, factory=lambda rate, cls=drop_cls: cls(rate))
        done.append(f"insert_dropout: {drop_cls.__name__}(p={p:g}) after {', '.join(names)}")
    rate = float(getattr(cfg, "drop_path", 0.0) or 0.0)
    depth = _stochastic_depth_modules(model)
    if depth:
        n = len(depth)
        for i, (_, m) in enumerate(depth):
            set_rate(m, rate * i / (n - 1) if n > 1 else rate)
        done.append(f"drop_path: {n} stochastic-depth modules, 0 -> {rate:g} over depth")
    elif rate > 0:
        done.append(f"drop_path: {rate:g} not applied: the model has no DropPath/StochasticDepth modules "
                    "(timm builds them from drop_path_rate in --model-args)")
    if getattr(cfg, "set_rate", None) is not None:
        changed = set_dropout_rate(model, float(cfg.set_rate))
        done.append(f"set_rate: {len(changed)} modules -> {float(cfg.set_rate):g}")
    return done


def build_config_model(cfg: Any, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Build ``cfg.model`` (an import path) with ``cfg.model_args``, place dropout, check the output shape.

    Raises:
        ValueError: the import or call fails (see :func:`~dropkit.models.imported.build_imported_model`),
            a placement key does not fit the model, or its output is not ``(batch, num_classes)`` logits.
    """
    from dropkit.models.imported import build_imported_model

    try:
        model = build_imported_model(cfg.model, getattr(cfg, "model_args", None))
    except (ValueError, TypeError):
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a package that fails at import (a torchvision built for another torch)
        raise ValueError(f"model: importing or calling {cfg.model!r} failed: {type(exc).__name__}: {exc}") from exc
    changes = apply_placement(model, cfg)
    for line in changes:
        log.info("model %s: %s", cfg.model, line)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, *input_shape))
    except Exception as exc:  # noqa: BLE001 - any failure of a user's forward gets the same explanation
        raise ValueError(
            f"model: {cfg.model!r} cannot take inputs of shape (batch, {', '.join(map(str, input_shape))}) "
            f"from the dataset: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"model: {cfg.model!r} must return logits of shape (batch, {num_classes}) for the dataset's "
            f"{num_classes} classes, got {shape} for a batch of 2; pass the number of classes in --model-args "
            f"(e.g. '{{\"num_classes\": {num_classes}}}')"
        )
    return model
