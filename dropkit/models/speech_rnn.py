"""A deep bidirectional LSTM/GRU that classifies spoken words from log-mel frames.

The "deep recurrent network" of speech recognition: Graves, Mohamed & Hinton, "Speech Recognition
with Deep Recurrent Neural Networks", ICASSP 2013, https://arxiv.org/abs/1303.5778 — stacked
bidirectional layers, each reading the concatenated forward and backward outputs of the layer below.
Here the utterance is classified (one word), so the last layer's outputs are averaged over time and a
linear head reads the mean, instead of Graves et al.'s CTC / transducer output per frame.

Every layer's two directions are :class:`~dropkit.nn.VariationalLSTM` / :class:`~dropkit.nn.VariationalGRU`
(the backward one reads the time-reversed sequence), so the dropout is that of :mod:`dropkit.nn`:

- ``input_p``: locked (variational) dropout on the features fed to the first layer, one mask per
  utterance shared by every frame (Gal & Ghahramani 2016, https://arxiv.org/abs/1512.05287);
- ``hidden_p``: locked dropout between layers, on each layer's input from the layer below;
- ``recurrent_p``: variational dropout on the hidden state fed back (step loop, slower);
- ``weight_drop``: DropConnect on every ``weight_hh`` (AWD-LSTM, https://arxiv.org/abs/1708.02182), the
  fused kernel kept;
- ``head_p``: dropout on the pooled features before the classifier;
- ``spec_augment``: optional SpecAugment time / frequency masking of the normalised input
  (:class:`~dropkit.nn.SpecAugment`, Park et al. 2019), training only.

Each utterance is normalised first (per mel band: the mean over time subtracted; then divided by the
utterance's standard deviation), so that loudness and channel offsets do not matter and the masks'
value 0 is the mean. Every rate is a probability of **dropping**.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dropkit._validation import check_choice, check_positive_int, check_probability
from dropkit.models.registry import register_model
from dropkit.nn.dropout import Dropout
from dropkit.nn.spec_augment import SpecAugment
from dropkit.nn.variational_rnn import VariationalGRU, VariationalLSTM

__all__ = ["SpeechRNN", "build_speech_rnn", "normalize_utterances"]


def normalize_utterances(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Per utterance: subtract each band's mean over time, divide by the utterance's standard deviation.

    Shape:
        - Input: :math:`(N, T, F)`; Output: the same.

    Example:
        >>> y = normalize_utterances(torch.randn(2, 30, 8) * 5 + 3)
        >>> bool(y.mean(dim=1).abs().max() < 1e-5), round(float(y[0].std()), 2)
        (True, 1.0)
    """
    centred = x - x.mean(dim=1, keepdim=True)
    return centred / (centred.flatten(1).std(dim=1)[:, None, None] + eps)


class SpeechRNN(nn.Module):
    """``log-mel (N, T, F) -> normalise -> [SpecAugment] -> L x bidirectional RNN -> mean over T -> Dropout -> Linear``.

    Args:
        input_shape: one utterance's features, ``(frames, n_mels)``.
        num_classes: number of words (logits).
        cell: ``"lstm"`` or ``"gru"`` (default: ``"lstm"``).
        hidden_size: units per direction and layer (default: 64).
        num_layers: stacked bidirectional layers (default: 3).
        input_p: locked dropout rate on the first layer's input (default: 0.0).
        hidden_p: locked dropout rate on each higher layer's input (default: 0.0).
        recurrent_p: variational dropout rate on the fed-back hidden state (default: 0.0).
        weight_drop: weight-drop rate on ``weight_hh`` (default: 0.0).
        head_p: dropout rate on the pooled features (default: 0.0).
        spec_augment: a :class:`~dropkit.nn.SpecAugment` applied in training, or None (default: None).

    Shape:
        - Input: :math:`(N, T, F)`.
        - Output: :math:`(N, \\text{num\\_classes})` logits.

    Example:
        >>> model = SpeechRNN((41, 40), 10, hidden_size=16, num_layers=3, hidden_p=0.3, weight_drop=0.3,
        ...                   spec_augment=SpecAugment(time_masks=1, freq_masks=1))
        >>> model(torch.randn(4, 41, 40)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        *,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 3,
        input_p: float = 0.0,
        hidden_p: float = 0.0,
        recurrent_p: float = 0.0,
        weight_drop: float = 0.0,
        head_p: float = 0.0,
        spec_augment: SpecAugment | None = None,
    ) -> None:
        super().__init__()
        where = "SpeechRNN"
        if len(tuple(input_shape)) != 2:
            raise ValueError(f"{where}: input_shape must be (frames, features), got {tuple(input_shape)}")
        cell = check_choice(where, "cell", cell, ("lstm", "gru"))
        check_positive_int(where, "num_classes", num_classes)
        check_positive_int(where, "hidden_size", hidden_size)
        check_positive_int(where, "num_layers", num_layers)
        for name, value in (("input_p", input_p), ("hidden_p", hidden_p), ("recurrent_p", recurrent_p),
                            ("weight_drop", weight_drop), ("head_p", head_p)):
            check_probability(where, name, value)
        if spec_augment is not None and not isinstance(spec_augment, SpecAugment):
            raise TypeError(f"{where}: spec_augment must be a SpecAugment or None, got {type(spec_augment).__name__}")
        self.input_shape = tuple(int(d) for d in input_shape)
        self.spec_augment = spec_augment
        rnn_cls = VariationalLSTM if cell == "lstm" else VariationalGRU

        def direction(k: int) -> nn.Module:
            return rnn_cls(self.input_shape[1] if k == 0 else 2 * hidden_size, hidden_size, 1, batch_first=True,
                           input_p=input_p if k == 0 else hidden_p, recurrent_p=recurrent_p, weight_p=weight_drop)

        self.forward_layers = nn.ModuleList(direction(k) for k in range(num_layers))
        self.backward_layers = nn.ModuleList(direction(k) for k in range(num_layers))
        self.head_dropout = Dropout(head_p)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = normalize_utterances(x)
        if self.spec_augment is not None:
            h = self.spec_augment(h)
        for fwd, bwd in zip(self.forward_layers, self.backward_layers):
            h = torch.cat([fwd(h)[0], bwd(h.flip(1))[0].flip(1)], dim=2)
        return self.head(self.head_dropout(h.mean(dim=1)))


@register_model("speech-rnn")
def build_speech_rnn(cfg: object, input_shape: tuple[int, ...], num_classes: int) -> SpeechRNN:
    """Build the speech classifier from a :class:`~dropkit.train.config.Config`: the ``rnn_*`` keys
    (``rnn_input_p`` on the first layer's input), ``speech_hidden_p`` between layers, ``weight_drop``,
    ``p`` before the head, and the ``spec_*`` keys (SpecAugment when a mask count is > 0)."""
    if getattr(cfg, "input_p", 0.0):
        raise ValueError(
            f"build_speech_rnn: input_p must be 0 for model 'speech-rnn' (use rnn_input_p for locked dropout), got {cfg.input_p!r}"  # type: ignore[attr-defined]
        )
    if getattr(cfg, "zoneout", 0.0):
        raise ValueError(f"build_speech_rnn: zoneout must be 0 for model 'speech-rnn' (not supported), got {cfg.zoneout!r}")  # type: ignore[attr-defined]
    aug = None
    if cfg.spec_time_masks or cfg.spec_freq_masks:  # type: ignore[attr-defined]
        aug = SpecAugment(cfg.spec_time_masks, cfg.spec_time_width, cfg.spec_freq_masks, cfg.spec_freq_width)  # type: ignore[attr-defined]
    return SpeechRNN(
        tuple(input_shape),
        num_classes,
        cell=cfg.rnn_cell,  # type: ignore[attr-defined]
        hidden_size=cfg.rnn_hidden,  # type: ignore[attr-defined]
        num_layers=cfg.rnn_layers,  # type: ignore[attr-defined]
        input_p=cfg.rnn_input_p,  # type: ignore[attr-defined]
        hidden_p=cfg.speech_hidden_p,  # type: ignore[attr-defined]
        recurrent_p=cfg.rnn_recurrent_p,  # type: ignore[attr-defined]
        weight_drop=cfg.weight_drop,  # type: ignore[attr-defined]
        head_p=cfg.p,  # type: ignore[attr-defined]
        spec_augment=aug,
    )
