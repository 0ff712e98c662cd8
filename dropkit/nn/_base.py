"""``DropoutModule``: the base of every ``dropkit.nn`` dropout layer (issue 21, item 3).

One place decides, for all layers, how a rate is validated, which attributes hold the rates, and how the
layer prints them; :mod:`dropkit.surgery`, :mod:`dropkit.schedules` and :mod:`dropkit.audit` read the
declaration instead of guessing attribute names for dropkit's own layers (they keep their name-based rules
for torch's, timm's and Hugging Face's modules).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from torch import nn
from torch.nn.utils import parametrize

from dropkit._validation import check_probability, closest_name_hint

__all__ = ["DropoutModule"]

_Init = TypeVar("_Init", bound=Callable[..., None])
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _keyword_only(*names: str) -> Callable[[_Init], _Init]:
    """Make the trailing constructor arguments ``names`` keyword-only, as in the functionals, while still
    taking them positionally (in that order, after the positional ones) with a ``FutureWarning``.

    ``inspect.signature`` of the class shows them keyword-only (the wrapper carries ``__wrapped__``).
    """

    def decorate(init: _Init) -> _Init:
        params = list(inspect.signature(init).parameters.values())
        positional = sum(p.kind in _POSITIONAL for p in params) - 1  # without self
        if any(p.name in names and p.kind is not inspect.Parameter.KEYWORD_ONLY for p in params):
            raise TypeError(f"_keyword_only: {names} must be keyword-only in {init.__qualname__}")

        @functools.wraps(init)
        def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> None:
            extra = args[positional:]
            if extra:
                where = type(self).__name__
                if len(extra) > len(names):
                    raise TypeError(f"{where}: takes at most {positional + len(names)} positional arguments, "
                                    f"got {len(args)}")
                given = names[: len(extra)]
                for name in given:
                    if name in kwargs:
                        raise TypeError(f"{where}: got multiple values for argument {name!r}")
                warnings.warn(f"{where}: pass {', '.join(f'{n}=' for n in given)} by keyword; taking "
                              f"{'it' if len(given) == 1 else 'them'} positionally is deprecated and will be removed",
                              FutureWarning, stacklevel=2)
                kwargs.update(zip(given, extra))
                args = args[:positional]
            init(self, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


class DropoutModule(nn.Module):
    """Base class of dropkit's dropout layers: rate validation, the declared rates and ``extra_repr``.

    The conventions it holds for every layer (``tests/nn/test_conventions.py`` checks them all):

    - a rate is the probability of **dropping** (zoning out, masking); a layer with one rate calls it ``p``,
      a layer with several names each ``<what>_p`` (``input_p``, ``recurrent_p``, ``weight_p``, ``attn_p``),
      and its functional twin takes the same name with the same default;
    - :attr:`rate_names` lists the attributes holding the rates the layer applies **itself**, in constructor
      order (a rate held by a child module, such as ``MultiHeadSelfAttention``'s ``proj_drop`` or the
      ``WeightDrop`` parametrizations of an RNN, is that child's): what ``dropkit.surgery.get_rate`` /
      ``set_rate`` read and set, what a ``DropoutScheduler`` schedules and what ``dropkit audit`` reports;
      an empty tuple means the layer has no rate to set (a learned one, a noise scale);
    - ``repr`` names the class as it is exported and prints ``<what the torch parent prints>,
      <rate>=<value>, <options that differ from their defaults>``, rates as ``p=0.3`` (``:g``).

    Subclasses validate rates with :meth:`_check_rate` (errors name the class and the argument) and add
    their other fields to ``repr`` through :meth:`_repr_options`. The base holds no state: it adds no
    parameter, buffer or attribute, so ``state_dict`` keys and pickles are those of the layer alone.

    A class that is not a ``DropoutModule`` can still declare its rates to dropkit with a class attribute
    ``stochastic_rate_attributes`` (the protocol :mod:`dropkit.surgery` reads for other code); every
    ``DropoutModule`` subclass gets that attribute set to its :attr:`rate_names`.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropoutModule
        >>> class Flip(DropoutModule):
        ...     '''Negate each element with probability ``p``.'''
        ...     def __init__(self, p: float = 0.1, *, loud: bool = False) -> None:
        ...         super().__init__()
        ...         self.p = self._check_rate("p", p)
        ...         self.loud = loud
        ...     def forward(self, x):
        ...         if not self.training:
        ...             return x
        ...         return torch.where(torch.rand_like(x) < self.p, -x, x)
        ...     def _repr_options(self):
        ...         return ["loud=True"] if self.loud else []
        >>> Flip(0.25, loud=True)
        Flip(p=0.25, loud=True)
        >>> Flip(0.25).rates()
        {'p': 0.25}
        >>> Flip(1.5)
        Traceback (most recent call last):
            ...
        dropkit.errors.DropkitInputError: Flip: p must be in [0, 1], got 1.5
    """

    #: The attributes that hold the rates this layer applies itself (see the class docstring).
    rate_names: ClassVar[tuple[str, ...]] = ("p",)
    #: The rates that must stay below 1 (``[0, 1)``: a noise variance ``p / (1 - p)`` or a kept-token count
    #: that must stay finite or positive); the others may be 1 (drop everything).
    rates_below_one: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not (isinstance(cls.rate_names, tuple) and all(isinstance(n, str) for n in cls.rate_names)):
            raise TypeError(f"{cls.__name__}: rate_names must be a tuple of attribute names, got {cls.rate_names!r}")
        # The declaration under the name that code written for any module reads (dropkit.integrations included).
        cls.stochastic_rate_attributes = cls.rate_names

    def _check_rate(self, name: str, value: object) -> float:
        """``value`` as a float after checking it is a probability; the error names this class and ``name``.

        Args:
            name: the argument's name, as the constructor spells it; in ``[0, 1)`` when it is listed in
                :attr:`rates_below_one`, else in ``[0, 1]``.
            value: the value given.
        """
        return check_probability(self._get_name(), name, value, allow_one=name not in self.rates_below_one)

    def _get_name(self) -> str:
        """The class name as exported, also once ``torch.nn.utils.parametrize`` has swapped the class for its
        ``Parametrized<Name>`` subclass (weight drop does): what ``repr`` and error messages print."""
        cls = type(self)
        if parametrize.is_parametrized(self) and cls.__name__ == f"Parametrized{cls.__bases__[0].__name__}":
            return cls.__bases__[0].__name__
        return cls.__name__

    def rates(self) -> dict[str, float]:
        """The current value of each rate in :attr:`rate_names`, by name.

        Example:
            >>> from dropkit.nn import VariationalLSTM
            >>> VariationalLSTM(3, 4, input_p=0.2).rates()
            {'input_p': 0.2, 'recurrent_p': 0.0, 'zoneout_p': 0.0, 'zoneout_cell_p': 0.0}
        """
        return {name: float(getattr(self, name)) for name in self.rate_names}

    def set_rates(self, **rates: float) -> None:
        """Set rates by name after checking each value (a scheduler sets the attributes directly, unchecked).

        Raises:
            TypeError: a name that is not in :attr:`rate_names`.
            ValueError: a value outside ``[0, 1]``.

        Example:
            >>> from dropkit.nn import LockedDropout
            >>> layer = LockedDropout(0.5)
            >>> layer.set_rates(p=0.2)
            >>> layer
            LockedDropout(p=0.2, batch_first=False)
        """
        where = f"{self._get_name()}.set_rates"
        for name in rates:
            if name not in self.rate_names:
                allowed = ", ".join(self.rate_names) or "none"
                raise TypeError(f"{where}: rate names must be among {allowed}, got {name!r}"
                                f"{closest_name_hint(name, self.rate_names)}")
        checked = {name: check_probability(where, name, value, allow_one=name not in self.rates_below_one)
                   for name, value in rates.items()}
        for name, value in checked.items():
            setattr(self, name, value)

    def extra_repr(self) -> str:
        """``<the parent's fields>, <rates>, <options>``: see the class docstring."""
        parts = [*self._repr_prefix(), *self._repr_rates(), *self._repr_options()]
        return ", ".join(part for part in parts if part)

    def _repr_prefix(self) -> list[str]:
        """What the torch parent prints (``nn.Linear``'s sizes, ``nn.LSTM``'s ...); nothing for ``nn.Module``."""
        return [super().extra_repr()]

    def _repr_rates(self) -> list[str]:
        """Each rate of :attr:`rate_names` as ``name=value``."""
        return [f"{name}={float(getattr(self, name)):g}" for name in self.rate_names]

    def _repr_options(self) -> list[str]:
        """The layer's other fields, each ``name=value``; the options left at their defaults are usually omitted."""
        return []
