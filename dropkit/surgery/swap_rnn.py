"""Swap a model's ``nn.LSTM`` / ``nn.GRU`` for dropkit's variational versions, keeping weights and keys.

Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural Networks",
NeurIPS 2016, https://arxiv.org/abs/1512.05287 (input and recurrent masks shared over time); weight
drop from AWD-LSTM, https://arxiv.org/abs/1708.02182.

:class:`~dropkit.nn.VariationalLSTM` and :class:`~dropkit.nn.VariationalGRU` have the ``state_dict`` keys of
``nn.LSTM`` / ``nn.GRU``, so a swapped model loads the checkpoints of the original with ``strict=True``
and saves ones the original loads.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from dropkit._validation import check_probability
from dropkit.nn.variational_rnn import VariationalGRU, VariationalLSTM
from dropkit.surgery.replace import replace_modules
from dropkit.surgery.select import Select

__all__ = ["swap_rnn"]


def swap_rnn(
    model: nn.Module,
    rule: Select | None = None,
    *,
    input_p: float = 0.0,
    recurrent_p: float = 0.0,
    weight_p: float = 0.0,
    zoneout_p: float = 0.0,
    generator: torch.Generator | None = None,
) -> dict[str, tuple[nn.Module, nn.Module]]:
    """Replace every selected ``nn.LSTM`` / ``nn.GRU`` by a variational one with the given rates, in place.

    Only exact ``nn.LSTM`` / ``nn.GRU`` instances are swapped. Bidirectional ones and LSTMs with
    ``proj_size`` have no variational counterpart yet: they are left as they are, with a warning naming
    them. The original's ``dropout`` between layers is replaced by the rates given here.

    Args:
        model: the model, changed in place.
        rule: restrict the swap to these modules (default: None, every ``nn.LSTM`` / ``nn.GRU``).
        input_p: locked dropout on each layer's input, one mask per sequence (default: 0.0).
        recurrent_p: dropout on the hidden state fed back, one mask per sequence (default: 0.0).
        weight_p: weight drop on ``weight_hh`` (default: 0.0).
        zoneout_p: zoneout on the hidden (and cell) state (default: 0.0).
        generator: random generator for every mask (default: None, the global one).

    Returns:
        ``{qualified_name: (old, new)}`` for each swapped module.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from dropkit.surgery import swap_rnn
        >>> class Tagger(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.rnn = nn.LSTM(3, 8, num_layers=2, batch_first=True)
        ...         self.head = nn.Linear(8, 2)
        ...     def forward(self, x):
        ...         return self.head(self.rnn(x)[0])
        >>> model = Tagger()
        >>> keys = list(model.state_dict())
        >>> done = swap_rnn(model, input_p=0.2, recurrent_p=0.2)
        >>> type(model.rnn).__name__, list(model.state_dict()) == keys
        ('VariationalLSTM', True)
        >>> model(torch.randn(4, 5, 3)).shape
        torch.Size([4, 5, 2])
    """
    where = "swap_rnn"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: model must be an nn.Module, got {type(model).__name__}")
    rates = {name: check_probability(where, name, value) for name, value in
             (("input_p", input_p), ("recurrent_p", recurrent_p), ("weight_p", weight_p), ("zoneout_p", zoneout_p))}
    table = {nn.LSTM: VariationalLSTM, nn.GRU: VariationalGRU}
    base = rule if rule is not None else Select()
    selected = Select(
        types=base.types,
        name=base.name,
        regex=base.regex,
        positions=base.positions,
        where=lambda n, m: type(m) in table and (base.where is None or bool(base.where(n, m))),
    )
    skipped: list[str] = []

    def build(name: str, old: nn.Module) -> nn.Module | None:
        if old.bidirectional or getattr(old, "proj_size", 0):
            skipped.append(f"{name} ({'bidirectional' if old.bidirectional else f'proj_size={old.proj_size}'})")
            return None
        return table[type(old)].from_rnn(old, generator=generator, **rates)

    keys = list(model.state_dict().keys())
    done = replace_modules(model, selected, build)
    if list(model.state_dict().keys()) != keys:  # cannot happen with dropkit's classes; guard subclasses
        for name, (old, _new) in done.items():
            model.set_submodule(name, old)
        raise RuntimeError(f"{where}: the swap changed the model's state_dict keys; the model was restored")
    if skipped:
        warnings.warn(f"{where}: left {', '.join(skipped)} as they are: no variational version of such RNNs yet",
                      stacklevel=2)
    return done
