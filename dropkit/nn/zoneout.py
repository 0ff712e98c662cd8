"""Zoneout cells and layers: the Module twins of :func:`dropkit.functional.zoneout`.

Krueger et al., "Zoneout: Regularizing RNNs by Randomly Preserving Hidden Activations", ICLR 2017,
https://arxiv.org/abs/1606.01305.

``ZoneoutLSTMCell`` / ``ZoneoutGRUCell`` subclass ``nn.LSTMCell`` / ``nn.GRUCell`` (same parameters,
same state dict, the fused cell kernel) and mix the new state with the previous one.
``ZoneoutLSTM`` / ``ZoneoutGRU`` run zoneout over whole (padded or packed) sequences; they are
:class:`~dropkit.nn.VariationalLSTM` / :class:`~dropkit.nn.VariationalGRU` with ``zoneout_p`` set,
so they run a Python step loop (see that module for the cost).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dropkit.functional.zoneout import zoneout
from dropkit.nn._base import DropoutModule, _keyword_only
from dropkit.nn.variational_rnn import VariationalGRU, VariationalLSTM

__all__ = ["ZoneoutLSTMCell", "ZoneoutGRUCell", "ZoneoutLSTM", "ZoneoutGRU"]


class ZoneoutLSTMCell(DropoutModule, nn.LSTMCell):
    """``nn.LSTMCell`` with zoneout on ``h`` (rate ``p``) and ``c`` (rate ``cell_p``).

    ``p`` is the probability of **dropping the update** of a hidden unit: it keeps its previous
    value. In eval the state is the expectation ``p * h_prev + (1 - p) * h_new``.

    Args:
        input_size: input features.
        hidden_size: hidden features.
        p: zoneout rate of the hidden state ``h`` in ``[0, 1]`` (default: 0.1).
        cell_p: zoneout rate of the cell state ``c``; None uses ``p`` (default: None). The paper's
            best character-level setting is ``cell_p=0.5, p=0.05``.
        bias: use biases (default: True).
        generator: optional random generator for every mask (default: None).
        **kwargs: ``device`` / ``dtype`` for :class:`torch.nn.LSTMCell`.

    Shape:
        - Input: ``(B, input_size)`` or ``(input_size,)``; hx: ``(h, c)`` each ``(B, hidden_size)``
          or None (zeros).
        - Output: ``(h', c')``, each ``(B, hidden_size)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import ZoneoutLSTMCell
        >>> cell = ZoneoutLSTMCell(3, 5, p=0.1, cell_p=0.5)
        >>> h, c = cell(torch.randn(2, 3))
        >>> h.shape, c.shape
        (torch.Size([2, 5]), torch.Size([2, 5]))
        >>> torch.nn.LSTMCell(3, 5).load_state_dict(cell.state_dict())
        <All keys matched successfully>
    """

    rate_names = ("p", "cell_p")

    @_keyword_only("generator")
    def __init__(
        self, input_size: int, hidden_size: int, p: float = 0.1, cell_p: float | None = None, bias: bool = True,
        *, generator: torch.Generator | None = None, **kwargs: Any,
    ) -> None:
        p = self._check_rate("p", p)
        cell_p = p if cell_p is None else self._check_rate("cell_p", cell_p)
        super().__init__(input_size, hidden_size, bias, **kwargs)
        self.p, self.cell_p, self.generator = p, cell_p, generator

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is None:
            shape = (input.shape[0], self.hidden_size) if input.dim() == 2 else (self.hidden_size,)
            zeros = input.new_zeros(shape)
            hx = (zeros, zeros)
        h_new, c_new = super().forward(input, hx)
        h = zoneout(hx[0], h_new, self.p, training=self.training, generator=self.generator)
        c = zoneout(hx[1], c_new, self.cell_p, training=self.training, generator=self.generator)
        return h, c


class ZoneoutGRUCell(DropoutModule, nn.GRUCell):
    """``nn.GRUCell`` with zoneout on ``h``; ``p`` is the probability of **dropping the update**.

    Args:
        input_size: input features.
        hidden_size: hidden features.
        p: zoneout rate in ``[0, 1]`` (default: 0.1).
        bias: use biases (default: True).
        generator: optional random generator for every mask (default: None).
        **kwargs: ``device`` / ``dtype`` for :class:`torch.nn.GRUCell`.

    Shape:
        - Input: ``(B, input_size)`` or ``(input_size,)``; hx ``(B, hidden_size)`` or None (zeros).
        - Output: ``(B, hidden_size)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import ZoneoutGRUCell
        >>> cell = ZoneoutGRUCell(3, 5, p=0.2)
        >>> cell(torch.randn(2, 3)).shape
        torch.Size([2, 5])
    """

    @_keyword_only("generator")
    def __init__(
        self, input_size: int, hidden_size: int, p: float = 0.1, bias: bool = True,
        *, generator: torch.Generator | None = None, **kwargs: Any,
    ) -> None:
        p = self._check_rate("p", p)
        super().__init__(input_size, hidden_size, bias, **kwargs)
        self.p, self.generator = p, generator

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        if hx is None:
            hx = input.new_zeros((input.shape[0], self.hidden_size) if input.dim() == 2 else (self.hidden_size,))
        return zoneout(hx, super().forward(input, hx), self.p, training=self.training, generator=self.generator)


class ZoneoutLSTM(VariationalLSTM):
    """A multi-layer LSTM with zoneout over whole sequences; ``p`` is the **keep-previous** rate of ``h``.

    Same as ``VariationalLSTM(..., zoneout_p=p, zoneout_cell_p=cell_p)``; other keyword arguments
    (``batch_first``, ``input_p``, ``recurrent_p``, ``weight_p``, ...) pass through.

    Args:
        input_size: input features.
        hidden_size: hidden features.
        num_layers: stacked layers (default: 1).
        p: zoneout rate of ``h`` (probability of **dropping the update**; default: 0.1).
        cell_p: zoneout rate of ``c``; None uses ``p`` (default: None).
        **kwargs: keyword arguments of :class:`~dropkit.nn.VariationalLSTM`.

    Shape:
        - As :class:`~dropkit.nn.VariationalLSTM`.

    Example:
        >>> import torch
        >>> from dropkit.nn import ZoneoutLSTM
        >>> out, (h, c) = ZoneoutLSTM(3, 6, p=0.05, cell_p=0.5)(torch.randn(8, 2, 3))
        >>> out.shape
        torch.Size([8, 2, 6])
    """

    # The constructor's names for the rates, as on ZoneoutLSTMCell: ``p`` is ``zoneout_p`` (the state the layer
    # reads), ``cell_p`` is ``zoneout_cell_p``; surgery, schedules and repr use these names.
    rate_names = ("input_p", "recurrent_p", "p", "cell_p")
    _zoneout_names = ("p", "cell_p")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, p: float = 0.1, cell_p: float | None = None, **kwargs: Any) -> None:
        p = self._check_rate("p", p)  # errors name this class's arguments, not VariationalLSTM's
        cell_p = None if cell_p is None else self._check_rate("cell_p", cell_p)
        super().__init__(input_size, hidden_size, num_layers, zoneout_p=p, zoneout_cell_p=cell_p, **kwargs)

    p = property(lambda self: self.zoneout_p, lambda self, v: setattr(self, "zoneout_p", v), doc="zoneout rate of h")
    cell_p = property(lambda self: self.zoneout_cell_p, lambda self, v: setattr(self, "zoneout_cell_p", v),
                      doc="zoneout rate of c")


class ZoneoutGRU(VariationalGRU):
    """A multi-layer GRU with zoneout over whole sequences; ``p`` is the **keep-previous** rate of ``h``.

    Args:
        input_size: input features.
        hidden_size: hidden features.
        num_layers: stacked layers (default: 1).
        p: zoneout rate (probability of **dropping the update**; default: 0.1).
        **kwargs: keyword arguments of :class:`~dropkit.nn.VariationalGRU`.

    Shape:
        - As :class:`~dropkit.nn.VariationalGRU`.

    Example:
        >>> import torch
        >>> from dropkit.nn import ZoneoutGRU
        >>> out, h = ZoneoutGRU(3, 6, p=0.1, batch_first=True)(torch.randn(2, 8, 3))
        >>> h.shape
        torch.Size([1, 2, 6])
    """

    rate_names = ("input_p", "recurrent_p", "p")  # a GRU has no cell state, so no cell_p
    _zoneout_names = ("p", "cell_p")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, p: float = 0.1, **kwargs: Any) -> None:
        p = self._check_rate("p", p)
        super().__init__(input_size, hidden_size, num_layers, zoneout_p=p, **kwargs)

    p = property(lambda self: self.zoneout_p, lambda self, v: setattr(self, "zoneout_p", v), doc="zoneout rate of h")
