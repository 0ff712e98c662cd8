"""Which modules are stochastic regularisers, which are normalisation layers, and how to read or set a rate.

MC dropout (Gal & Ghahramani 2016, "Dropout as a Bayesian Approximation", https://arxiv.org/abs/1506.02142)
needs every stochastic regulariser switched on at inference and every layer with running statistics left
alone. This file holds the one place where dropkit decides what counts as which, so that
:func:`~dropkit.surgery.mc_mode`, :func:`~dropkit.uncertainty.mc_predict` and the surgery rules agree.

A module counts as **stochastic** when it is a ``torch.nn`` dropout (``Dropout``, ``Dropout1d/2d/3d``,
``AlphaDropout``, ``FeatureAlphaDropout``), a class registered with :func:`register_stochastic`, or a class
whose name says so (``Dropout``, ``DropPath``, ``DropBlock``, ``StochasticDepth``, ``Zoneout``, ``DropConnect``,
``WeightDrop``, ``GaussianNoise``, ``LayerDrop``: this covers dropkit's, timm's and torchvision's), **and**
its rate is > 0 (or it has no readable rate). Modules that call functional dropout keyed on their own
``training`` flag are stochastic when they hold a float rate > 0 in an attribute such as
``attention_dropout`` (Hugging Face Llama-style attention) or ``dropout`` (``nn.MultiheadAttention``),
and recurrent ``nn.LSTM/GRU/RNN`` with ``dropout > 0`` and more than one layer.

dropkit's own layers declare their rates: :attr:`dropkit.nn.DropoutModule.rate_names` (``("p",)``;
``MultiHeadSelfAttention``: ``attn_p``; ``VariationalLSTM``/``GRU``: ``input_p``, ``recurrent_p``,
``zoneout_p``, ``zoneout_cell_p``; an empty tuple for a layer without a rate to set, such as
``ConcreteDropout``'s learned one), read here by :func:`declared_rate_names` instead of guessing attribute
names. Another class can declare its rates the same way with a class attribute ``stochastic_rate_attributes``.
A module that declares rates is stochastic when any of them is > 0 (always, for an empty declaration).
"""

from __future__ import annotations

import re

from torch import nn

from dropkit.nn._base import DropoutModule

__all__ = [
    "RATE_ATTRIBUTES",
    "rate_attributes",
    "is_dropout",
    "dropout_modules",
    "mean_dropout_rate",
    "declared_rates",
    "declared_rate_names",
    "register_stochastic",
    "is_stochastic",
    "is_regulariser",
    "is_normalization",
    "has_stochastic_layer",
    "stochastic_modules",
    "get_rate",
    "set_rate",
]

#: Attribute names that hold a drop rate, in the order they are looked up.
RATE_ATTRIBUTES: tuple[str, ...] = (
    "p",
    "drop_prob",
    "rate",
    "drop_rate",
    "dropout_p",
    "attention_dropout",
    "attn_dropout",
    "dropout",
)

# Attributes that mark a module that calls functional dropout itself (its rate is a plain float).
_FUNCTIONAL_RATE_ATTRIBUTES = ("attention_dropout", "attn_dropout", "dropout_p", "dropout")

_STOCHASTIC_NAME = re.compile(
    r"Dropout|DropPath|DropBlock|StochasticDepth|Zoneout|DropConnect|WeightDrop|GaussianNoise|LayerDrop",
    re.IGNORECASE,
)
_NORM_NAME = re.compile(r"Norm(?!al)")
_RUNNING_BUFFER = re.compile(r"^(running_|num_batches_tracked$)")

_registered: set[type[nn.Module]] = set()

_TORCH_NORMS: tuple[type[nn.Module], ...] = tuple(
    t
    for t in (
        nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*
        nn.LayerNorm,
        nn.GroupNorm,
        nn.LocalResponseNorm,
        nn.CrossMapLRN2d,
        getattr(nn, "RMSNorm", None),
    )
    if t is not None
)


def register_stochastic(cls: type[nn.Module]) -> type[nn.Module]:
    """Mark ``cls`` as a stochastic regulariser whatever its name; usable as a class decorator.

    Example:
        >>> from torch import nn
        >>> from dropkit.surgery import register_stochastic, is_stochastic
        >>> @register_stochastic
        ... class Jitter(nn.Module):
        ...     def forward(self, x):
        ...         return x
        >>> is_stochastic(Jitter())
        True
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_stochastic: cls must be an nn.Module subclass, got {cls!r}")
    _registered.add(cls)
    return cls


def declared_rate_names(module: nn.Module) -> tuple[str, ...] | None:
    """The attributes holding the rates ``module`` declares, or None when it declares none.

    A dropkit layer's :attr:`~dropkit.nn.DropoutModule.rate_names` (possibly empty: a layer with no rate to
    set), another class's ``stochastic_rate_attributes`` (None when it lists none); None for everything else
    (torch's, timm's, Hugging Face's modules), whose rate is found by :data:`RATE_ATTRIBUTES`.

    Example:
        >>> from torch import nn
        >>> from dropkit.nn import ConcreteDropout, MultiHeadSelfAttention, ZoneoutLSTMCell
        >>> declared_rate_names(ZoneoutLSTMCell(2, 3)), declared_rate_names(MultiHeadSelfAttention(8, 2))
        (('p', 'cell_p'), ('attn_p',))
        >>> declared_rate_names(ConcreteDropout(nn.Linear(2, 2))), declared_rate_names(nn.Dropout())
        ((), None)
    """
    if isinstance(module, DropoutModule):
        return module.rate_names
    return getattr(type(module), "stochastic_rate_attributes", None) or None


def declared_rates(module: nn.Module) -> dict[str, float] | None:
    """The rates a module declares (:func:`declared_rate_names`) by name, or None when it declares none.

    Example:
        >>> from dropkit.nn import VariationalLSTM
        >>> declared_rates(VariationalLSTM(3, 4, input_p=0.2, recurrent_p=0.1))
        {'input_p': 0.2, 'recurrent_p': 0.1, 'zoneout_p': 0.0, 'zoneout_cell_p': 0.0}
    """
    names = declared_rate_names(module)
    if names is None:
        return None
    return {name: float(getattr(module, name)) for name in names}


def get_rate(module: nn.Module) -> float | None:
    """Return the module's drop rate (the probability of **dropping**) or None when it has none.

    For a module that declares its rates (:func:`declared_rate_names`) the largest of them (None for an empty
    declaration); otherwise the first of :data:`RATE_ATTRIBUTES` that holds a plain number.

    Example:
        >>> from torch import nn
        >>> get_rate(nn.Dropout(0.3)), get_rate(nn.Linear(2, 2))
        (0.3, None)
    """
    declared = declared_rates(module)
    if declared is not None:
        return max(declared.values()) if declared else None
    for name in RATE_ATTRIBUTES:
        value = getattr(module, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def set_rate(module: nn.Module, p: float) -> float:
    """Set the module's drop rate in place and return the old one (as :func:`get_rate` reads it).

    A module that declares its rates (:func:`declared_rate_names`) gets ``p`` on each of them that is > 0
    (the randomness it uses now), or on the first one when all are 0.

    Raises:
        TypeError: the module has no rate attribute (see :data:`RATE_ATTRIBUTES`) or declares none.

    Example:
        >>> from torch import nn
        >>> layer = nn.Dropout(0.1)
        >>> set_rate(layer, 0.4), layer.p
        (0.1, 0.4)
    """
    declared = declared_rates(module)
    if declared:
        active = [name for name, value in declared.items() if value > 0] or list(declared)[:1]
        for name in active:
            setattr(module, name, float(p))
        return max(declared.values())
    for name in RATE_ATTRIBUTES if declared is None else ():
        value = getattr(module, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            setattr(module, name, float(p))
            return float(value)
    raise TypeError(
        f"set_rate: module must have a numeric rate attribute (one of {', '.join(RATE_ATTRIBUTES)}), "
        f"got {type(module).__name__}"
    )


def is_stochastic(module: nn.Module) -> bool:
    """True when ``module`` itself (not its children) draws random numbers in training mode.

    Example:
        >>> from torch import nn
        >>> is_stochastic(nn.Dropout(0.1)), is_stochastic(nn.Dropout(0.0)), is_stochastic(nn.ReLU())
        (True, False, False)
        >>> is_stochastic(nn.MultiheadAttention(8, 2, dropout=0.1))
        True
    """
    if isinstance(module, nn.RNNBase):
        return float(module.dropout) > 0 and module.num_layers > 1
    declared = declared_rates(module)
    if declared is not None:
        return any(value > 0 for value in declared.values()) if declared else True
    if not is_regulariser(module):
        return False
    rate = get_rate(module)
    return rate is None or rate > 0


def is_regulariser(module: nn.Module) -> bool:
    """True when ``module`` is a stochastic regulariser **kind**, whatever its current rate (0 included).

    Example:
        >>> from torch import nn
        >>> is_regulariser(nn.Dropout(0.0)), is_stochastic(nn.Dropout(0.0))
        (True, False)
    """
    if isinstance(module, nn.RNNBase):
        return module.num_layers > 1
    if declared_rate_names(module) is not None:
        return True
    if (
        isinstance(module, nn.modules.dropout._DropoutNd)
        or any(isinstance(module, c) for c in _registered)
        or _STOCHASTIC_NAME.search(type(module).__name__)
    ):
        return True
    return any(isinstance(getattr(module, a, None), float) for a in _FUNCTIONAL_RATE_ATTRIBUTES)


def rate_attributes(module: nn.Module) -> tuple[str, ...]:
    """The names of the attributes that hold ``module``'s drop rates as floats, in lookup order.

    The names it declares (:func:`declared_rate_names`: a dropkit layer's ``rate_names``; those holding a
    float), else the first of :data:`RATE_ATTRIBUTES` that holds a float: the attributes :func:`get_rate`
    reads, a :class:`~dropkit.schedules.DropoutScheduler` sets and the trainer logs.

    Example:
        >>> from torch import nn
        >>> from dropkit.nn import MultiHeadSelfAttention
        >>> rate_attributes(nn.Dropout(0.1)), rate_attributes(MultiHeadSelfAttention(8, 2, attn_p=0.1))
        (('p',), ('attn_p',))
    """
    names = declared_rate_names(module)
    if names is not None:
        return tuple(n for n in names if isinstance(getattr(module, n, None), float))
    for name in RATE_ATTRIBUTES:
        if isinstance(getattr(module, name, None), float):
            return (name,)
    return ()


def dropout_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every dropout module in ``model``: the one definition dropkit uses for "the model's dropout".

    A dropout module is a regulariser (:func:`is_regulariser`: torch's ``nn.Dropout*``, dropkit's layers,
    timm's and torchvision's DropPath / StochasticDepth, registered classes, ...) that holds its rate(s)
    as float attributes (:func:`rate_attributes`), whatever the rate's value (0 included, so that a
    schedule can raise it). Containers are never dropout modules.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.0), nn.ReLU(), nn.Dropout(0.3))
        >>> [name for name, _ in dropout_modules(net)]
        ['1', '3']
    """
    return [(name, m) for name, m in model.named_modules() if is_dropout(m)]


def is_dropout(module: nn.Module) -> bool:
    """True when ``module`` is a dropout module (see :func:`dropout_modules`), whatever its current rate.

    Example:
        >>> from torch import nn
        >>> is_dropout(nn.Dropout(0.0)), is_dropout(nn.Linear(2, 2)), is_dropout(nn.Sequential(nn.Dropout()))
        (True, False, False)
    """
    if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        return False
    return is_regulariser(module) and bool(rate_attributes(module))


def mean_dropout_rate(model: nn.Module) -> float:
    """The mean over the rate attributes of ``model``'s dropout modules that are > 0 (0.0 when none).

    This is the ``p`` a run logs, with or without a :class:`~dropkit.schedules.DropoutScheduler` (whose
    ``rate`` is the same mean): layers built without dropout (a first DropPath at depth 0, a rate left at
    0) do not pull it down, and every kind of rate counts (a transformer's ``attn_p`` as its ``p``).

    Example:
        >>> from torch import nn
        >>> mean_dropout_rate(nn.Sequential(nn.Dropout(0.0), nn.Dropout(0.25), nn.Dropout(0.75)))
        0.5
    """
    rates = [float(getattr(m, a)) for _, m in dropout_modules(model) for a in rate_attributes(m)]
    active = [r for r in rates if r > 0]
    return sum(active) / len(active) if active else 0.0


def is_normalization(module: nn.Module) -> bool:
    """True for normalisation layers and any module that keeps running statistics in its own buffers.

    These stay in eval mode inside :func:`~dropkit.surgery.mc_mode`.

    Example:
        >>> from torch import nn
        >>> is_normalization(nn.BatchNorm1d(3)), is_normalization(nn.LayerNorm(3)), is_normalization(nn.Linear(3, 3))
        (True, True, False)
    """
    if isinstance(module, _TORCH_NORMS):
        return True
    name = type(module).__name__
    if _NORM_NAME.search(name) and not _STOCHASTIC_NAME.search(name):
        return True
    return any(_RUNNING_BUFFER.match(b) for b, _ in module.named_buffers(recurse=False))


def stochastic_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All ``(qualified_name, module)`` pairs in ``model`` (itself included) that are stochastic.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2), nn.Linear(4, 2))
        >>> [name for name, _ in stochastic_modules(net)]
        ['1']
    """
    return [(n, m) for n, m in model.named_modules() if is_stochastic(m)]


def has_stochastic_layer(model: nn.Module) -> bool:
    """True when some module in ``model`` is stochastic (see :func:`is_stochastic`)."""
    return any(is_stochastic(m) for m in model.modules())
