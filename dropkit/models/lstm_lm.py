"""An LSTM language model with the AWD-LSTM regularisers.

Merity, Keskar & Socher, "Regularizing and Optimizing LSTM Language Models", ICLR 2018,
https://arxiv.org/abs/1708.02182 (code: salesforce/awd-lstm-lm). ``ids -> embedding -> LSTM layers
-> linear -> logits``, with every regulariser of the paper, each rate a probability of **dropping**:

- ``emb_p``: embedding dropout, whole rows of the embedding matrix (a character dropped everywhere in
  the batch; Gal & Ghahramani 2016), :class:`~dropkit.nn.EmbeddingDropout` (awd ``dropoute``);
- ``input_p``: locked (variational) dropout on the embeddings fed to the first LSTM, one mask per
  sequence over all time steps, :class:`~dropkit.nn.LockedDropout` (``dropouti``);
- ``hidden_p``: locked dropout on the output of every LSTM layer but the last (``dropouth``);
- ``output_p``: locked dropout on the last LSTM layer's output (``dropout``);
- ``weight_drop``: DropConnect on each layer's ``weight_hh`` (one mask per forward), fused LSTM kept,
  :class:`~dropkit.nn.WeightDropLSTM` (``wdrop``);
- tied weights: the output layer reuses the embedding matrix (the last LSTM layer then has
  ``emb_dim`` units, as in awd-lstm);
- AR / TAR: ``ar_alpha * mean(m * h_T^2)`` on the dropped last-layer output and
  ``tar_beta * mean((h_t - h_{t-1})^2)`` on the undropped one, added to the training loss through the
  trainer's ``regularization()`` hook (:class:`ActivationRegularizer`).

What differs from the paper: no NT-ASGD or variable-length BPTT (the trainer's optimisers and fixed
``block_size`` windows, each started from a zero state), and character-level rather than word-level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dropkit._validation import check_non_negative, check_positive_int, check_probability
from dropkit.models.registry import register_model
from dropkit.nn.embedding_dropout import EmbeddingDropout
from dropkit.nn.locked_dropout import LockedDropout
from dropkit.nn.weight_drop import WeightDropLSTM

__all__ = ["LSTMLM", "ActivationRegularizer", "build_lstm_lm"]


class ActivationRegularizer(nn.Module):
    """AWD-LSTM's AR and TAR, computed from the last training forward of the model that owns it.

    ``regularization()`` returns ``alpha * mean(dropped^2) + beta * mean((raw_t - raw_{t-1})^2)`` for the
    tensors passed to :meth:`observe` in the last training forward, then forgets them; zero when
    nothing was observed (evaluation forwards are not observed).

    Args:
        alpha: AR weight (default: 0.0).
        beta: TAR weight (default: 0.0).

    Example:
        >>> import torch
        >>> reg = ActivationRegularizer(alpha=2.0, beta=1.0)
        >>> h = torch.tensor([[[1.0], [3.0]]])          # (N=1, T=2, H=1)
        >>> reg.observe(h, h)
        >>> float(reg.regularization())                 # 2 * mean(1, 9) + 1 * (3 - 1)^2
        14.0
    """

    def __init__(self, alpha: float = 0.0, beta: float = 0.0) -> None:
        super().__init__()
        self.alpha = check_non_negative("ActivationRegularizer", "alpha", alpha)
        self.beta = check_non_negative("ActivationRegularizer", "beta", beta)
        self._seen: tuple[Tensor, Tensor] | None = None

    def observe(self, dropped: Tensor, raw: Tensor) -> None:
        """Keep the last layer's ``(N, T, H)`` outputs, with and without output dropout."""
        self._seen = (dropped, raw)

    def regularization(self) -> Tensor:
        seen, self._seen = self._seen, None
        if seen is None:
            return torch.zeros(())
        dropped, raw = seen
        out = self.alpha * dropped.pow(2).mean()
        if raw.shape[1] > 1:
            out = out + self.beta * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
        return out

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, beta={self.beta:g}"


class LSTMLM(nn.Module):
    """``ids (N, T) -> logits (N, T, vocab_size)`` with AWD-LSTM's regularisers (see the module docstring).

    Args:
        vocab_size: number of tokens (characters).
        emb_dim: embedding size (default: 128).
        hidden_size: units of every LSTM layer but the last when weights are tied (default: 512).
        num_layers: LSTM layers (default: 3, as awd-lstm).
        emb_p: embedding (row) dropout rate (default: 0.0).
        input_p: locked dropout rate on the first layer's input (default: 0.0).
        hidden_p: locked dropout rate between layers (default: 0.0).
        output_p: locked dropout rate on the last layer's output (default: 0.0).
        weight_drop: weight-drop rate on every ``weight_hh`` (default: 0.0).
        tie_weights: decode with the embedding matrix; the last layer has ``emb_dim`` units (default: True).
        ar_alpha: AR weight (default: 0.0).
        tar_beta: TAR weight (default: 0.0).

    Shape:
        - Input: ``(N, T)`` int64 ids. Output: ``(N, T, vocab_size)`` logits (position ``t`` predicts ``t + 1``).

    Example:
        >>> import torch
        >>> model = LSTMLM(65, emb_dim=16, hidden_size=32, num_layers=2, emb_p=0.1, input_p=0.2,
        ...                hidden_p=0.2, output_p=0.2, weight_drop=0.3, ar_alpha=2.0, tar_beta=1.0)
        >>> model(torch.randint(0, 65, (3, 10))).shape
        torch.Size([3, 10, 65])
        >>> float(model.regularization()) > 0          # AR / TAR of that training forward
        True
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        emb_dim: int = 128,
        hidden_size: int = 512,
        num_layers: int = 3,
        emb_p: float = 0.0,
        input_p: float = 0.0,
        hidden_p: float = 0.0,
        output_p: float = 0.0,
        weight_drop: float = 0.0,
        tie_weights: bool = True,
        ar_alpha: float = 0.0,
        tar_beta: float = 0.0,
    ) -> None:
        super().__init__()
        where = "LSTMLM"
        self.vocab_size = check_positive_int(where, "vocab_size", vocab_size)
        check_positive_int(where, "emb_dim", emb_dim)
        check_positive_int(where, "hidden_size", hidden_size)
        check_positive_int(where, "num_layers", num_layers)
        for name, value in (("input_p", input_p), ("hidden_p", hidden_p), ("output_p", output_p), ("weight_drop", weight_drop)):
            check_probability(where, name, value)
        self.tie_weights = bool(tie_weights)
        self.encoder = EmbeddingDropout(vocab_size, emb_dim, p=check_probability(where, "emb_p", emb_p))
        self.input_drop = LockedDropout(input_p, batch_first=True)
        sizes = [emb_dim] + [hidden_size] * (num_layers - 1) + [emb_dim if self.tie_weights else hidden_size]
        self.rnns = nn.ModuleList(
            WeightDropLSTM(sizes[i], sizes[i + 1], batch_first=True, weight_p=weight_drop) if weight_drop > 0
            else nn.LSTM(sizes[i], sizes[i + 1], batch_first=True)
            for i in range(num_layers)
        )
        self.hidden_drops = nn.ModuleList(LockedDropout(hidden_p, batch_first=True) for _ in range(num_layers - 1))
        self.output_drop = LockedDropout(output_p, batch_first=True)
        self.decoder = nn.Linear(sizes[-1], vocab_size, bias=True)
        if self.tie_weights:  # the bias stays; the weight is the embedding's (one tensor in the state_dict)
            del self.decoder.weight
            self.decoder.register_parameter("weight", None)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)  # awd-lstm's init_weights
        nn.init.zeros_(self.decoder.bias)
        self.activation_reg = ActivationRegularizer(ar_alpha, tar_beta) if (ar_alpha or tar_beta) else None

    def forward(self, ids: Tensor) -> Tensor:
        if ids.dim() != 2:
            raise ValueError(f"LSTMLM: expected (N, T) token ids, got shape {tuple(ids.shape)}")
        x = self.input_drop(self.encoder(ids))
        raw = x
        for i, rnn in enumerate(self.rnns):
            raw, _ = rnn(x)
            x = self.hidden_drops[i](raw) if i < len(self.hidden_drops) else raw
        out = self.output_drop(raw)
        if self.activation_reg is not None and self.training:
            self.activation_reg.observe(out, raw)
        weight = self.encoder.weight if self.tie_weights else self.decoder.weight
        return F.linear(out, weight, self.decoder.bias)

    def regularization(self) -> Tensor:
        """AR + TAR of the last training forward (zero without them); the trainer adds the sum of its
        submodules' ``regularization()`` to the loss, so this method is for direct use."""
        if self.activation_reg is None:
            return self.encoder.weight.new_zeros(())
        return self.activation_reg.regularization()


@register_model("lstm-lm")
def build_lstm_lm(cfg: object, input_shape: tuple[int, ...], num_classes: int) -> LSTMLM:
    """Build the AWD-LSTM language model from a :class:`~dropkit.train.config.Config` (``emb_dim``,
    ``rnn_hidden``, ``rnn_layers``, ``emb_p``, ``lm_input_p``, ``lm_hidden_p``, ``lm_output_p``,
    ``weight_drop``, ``tie_weights``, ``ar_alpha``, ``tar_beta``)."""
    if len(input_shape) != 1:
        raise ValueError(f"build_lstm_lm: model 'lstm-lm' reads token ids of a text dataset, got input_shape {tuple(input_shape)}")
    return LSTMLM(
        num_classes,
        emb_dim=cfg.emb_dim,  # type: ignore[attr-defined]
        hidden_size=cfg.rnn_hidden,  # type: ignore[attr-defined]
        num_layers=cfg.rnn_layers,  # type: ignore[attr-defined]
        emb_p=cfg.emb_p,  # type: ignore[attr-defined]
        input_p=cfg.lm_input_p,  # type: ignore[attr-defined]
        hidden_p=cfg.lm_hidden_p,  # type: ignore[attr-defined]
        output_p=cfg.lm_output_p,  # type: ignore[attr-defined]
        weight_drop=cfg.weight_drop,  # type: ignore[attr-defined]
        tie_weights=cfg.tie_weights,  # type: ignore[attr-defined]
        ar_alpha=cfg.ar_alpha,  # type: ignore[attr-defined]
        tar_beta=cfg.tar_beta,  # type: ignore[attr-defined]
    )
