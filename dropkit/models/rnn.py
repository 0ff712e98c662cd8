"""A recurrent classifier: an LSTM or GRU reads the input as a sequence; a linear head reads the
last hidden state.

Images ``(C, H, W)`` are read row by row (``H`` steps of ``C * W`` features: Fashion-MNIST is 28 steps
of 28), 1-D signals ``(L,)`` as ``L`` steps of one feature (MNIST-1D: 40 steps), ``(C, L)`` as ``L``
steps of ``C`` features. The recurrent regularizers are those of :mod:`dropkit.nn`:

- ``input_p``: locked (variational) dropout on every layer's input (Gal & Ghahramani 2016,
  https://arxiv.org/abs/1512.05287);
- ``recurrent_p``: variational dropout on the hidden state fed back (step loop, slower);
- ``weight_drop``: DropConnect on ``weight_hh`` (AWD-LSTM, https://arxiv.org/abs/1708.02182), fused
  kernel kept;
- ``zoneout``: zoneout on ``h`` and ``c`` (Krueger et al. 2016, https://arxiv.org/abs/1606.01305);
- ``head_p``: ordinary dropout on the last hidden state before the classifier.

Every rate is a probability of **dropping** (zoneout: of keeping the previous value).
"""

from __future__ import annotations


from torch import Tensor, nn

from dropkit._validation import check_choice, check_positive_int, check_probability
from dropkit.models.registry import register_model
from dropkit.nn.dropout import Dropout
from dropkit.nn.variational_rnn import VariationalGRU, VariationalLSTM

__all__ = ["RNNClassifier", "build_rnn", "sequence_layout"]


def sequence_layout(input_shape: tuple[int, ...]) -> tuple[int, int]:
    """``(steps, features)`` for an input of ``input_shape`` (without the batch dim)."""
    if len(input_shape) == 1:
        return input_shape[0], 1
    if len(input_shape) == 2:
        return input_shape[1], input_shape[0]
    if len(input_shape) == 3:
        return input_shape[1], input_shape[0] * input_shape[2]
    raise ValueError(f"rnn: input_shape must be (L,), (C, L) or (C, H, W), got {tuple(input_shape)}")


class RNNClassifier(nn.Module):
    """``sequence -> LSTM/GRU -> last hidden state -> Dropout(head_p) -> Linear -> logits``.

    Args:
        input_shape: shape of one example, ``(L,)``, ``(C, L)`` or ``(C, H, W)``.
        num_classes: number of classes (logits).
        cell: ``"lstm"`` or ``"gru"`` (default: ``"lstm"``).
        hidden_size: hidden units per layer (default: 128).
        num_layers: stacked recurrent layers (default: 1).
        input_p: locked dropout rate on each layer's input (probability of dropping; default: 0.0).
        recurrent_p: variational dropout rate on the fed-back hidden state (default: 0.0).
        weight_drop: weight-drop rate on ``weight_hh`` (default: 0.0).
        zoneout: zoneout rate of ``h`` and ``c`` (default: 0.0).
        head_p: dropout rate on the last hidden state (default: 0.0).

    Shape:
        - Input: ``(N, *input_shape)``.
        - Output: ``(N, num_classes)`` logits.

    Example:
        >>> import torch
        >>> model = RNNClassifier((1, 28, 28), 10, cell="gru", hidden_size=32, input_p=0.1, weight_drop=0.2)
        >>> model(torch.randn(2, 1, 28, 28)).shape
        torch.Size([2, 10])
        >>> RNNClassifier((40,), 10, hidden_size=16)(torch.randn(3, 40)).shape
        torch.Size([3, 10])
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        *,
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        input_p: float = 0.0,
        recurrent_p: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        head_p: float = 0.0,
    ) -> None:
        super().__init__()
        where = "RNNClassifier"
        cell = check_choice(where, "cell", cell, ("lstm", "gru"))
        check_positive_int(where, "num_classes", num_classes)
        self.input_shape = tuple(input_shape)
        self.steps, features = sequence_layout(self.input_shape)
        rnn_cls = VariationalLSTM if cell == "lstm" else VariationalGRU
        self.rnn = rnn_cls(
            features, hidden_size, num_layers, batch_first=True, input_p=input_p, recurrent_p=recurrent_p,
            weight_p=weight_drop, zoneout_p=zoneout,
        )
        self.head_dropout = Dropout(check_probability(where, "head_p", head_p))
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        if len(self.input_shape) == 3:  # (N, C, H, W) -> (N, H, C * W): one row per step
            seq = x.permute(0, 2, 1, 3).reshape(n, self.steps, -1)
        elif len(self.input_shape) == 2:  # (N, C, L) -> (N, L, C)
            seq = x.transpose(1, 2)
        else:  # (N, L) -> (N, L, 1)
            seq = x.reshape(n, self.steps, 1)
        _, state = self.rnn(seq)
        h_n = state[0] if isinstance(state, tuple) else state
        return self.head(self.head_dropout(h_n[-1]))


@register_model("rnn")
def build_rnn(cfg: object, input_shape: tuple[int, ...], num_classes: int) -> RNNClassifier:
    """Build the RNN classifier from a :class:`~dropkit.train.config.Config` (``rnn_*`` keys; ``p``
    is the head dropout)."""
    if getattr(cfg, "input_p", 0.0):
        raise ValueError(
            f"build_rnn: input_p must be 0 for model 'rnn' (use rnn_input_p for locked dropout), got {cfg.input_p!r}"  # type: ignore[attr-defined]
        )
    return RNNClassifier(
        tuple(input_shape),
        num_classes,
        cell=cfg.rnn_cell,  # type: ignore[attr-defined]
        hidden_size=cfg.rnn_hidden,  # type: ignore[attr-defined]
        num_layers=cfg.rnn_layers,  # type: ignore[attr-defined]
        input_p=cfg.rnn_input_p,  # type: ignore[attr-defined]
        recurrent_p=cfg.rnn_recurrent_p,  # type: ignore[attr-defined]
        weight_drop=cfg.weight_drop,  # type: ignore[attr-defined]
        zoneout=cfg.zoneout,  # type: ignore[attr-defined]
        head_p=cfg.p,  # type: ignore[attr-defined]
    )
