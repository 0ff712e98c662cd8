"""The multilayer perceptron of Srivastava et al. (2014) and the seed preset.

Layout per hidden layer: ``Linear -> activation -> Dropout(p_i)``; an optional ``Dropout(input_p)``
on the (flattened) input; the output layer returns logits with **no** dropout on them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from dropkit._validation import check_positive_int, check_probability
from dropkit.models.activations import make_activation
from dropkit.models.registry import register_model
from dropkit.nn.dropout import Dropout

__all__ = ["MLP", "build_mlp"]


class MLP(nn.Module):
    """``in -> [Linear, act, Dropout] x len(hidden) -> Linear -> logits``.

    Args:
        in_features: size of the flattened input.
        hidden: hidden layer sizes, e.g. ``(128, 64)``.
        out_features: number of classes (logits).
        activation: activation name (default: ``"relu"``).
        hidden_p: one dropout rate per hidden layer (probability of dropping); a float applies the
            same rate to every hidden layer (default: 0.5).
        input_p: dropout rate on the input (default: 0.0).

    Shape:
        - Input: ``(N, *)``, flattened to ``(N, in_features)``.
        - Output: ``(N, out_features)`` logits.

    Example:
        >>> import torch
        >>> model = MLP(784, (128, 64), 10, hidden_p=0.5)   # the seed's network
        >>> model(torch.randn(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        activation: str = "relu",
        hidden_p: float | Sequence[float] = 0.5,
        input_p: float = 0.0,
    ) -> None:
        super().__init__()
        where = "MLP"
        check_positive_int(where, "in_features", in_features)
        check_positive_int(where, "out_features", out_features)
        for h in hidden:
            check_positive_int(where, "hidden size", h)
        rates = [hidden_p] * len(hidden) if isinstance(hidden_p, (int, float)) else list(hidden_p)
        if len(rates) != len(hidden):
            raise ValueError(f"{where}: hidden_p must hold {len(hidden)} rates (one per hidden layer), got {len(rates)}")
        rates = [check_probability(where, "hidden_p", r) for r in rates]
        layers: list[nn.Module] = [nn.Flatten()]
        if input_p > 0:
            layers.append(Dropout(check_probability(where, "input_p", input_p)))
        width = in_features
        for size, rate in zip(hidden, rates):
            layers += [nn.Linear(width, size), make_activation(activation), Dropout(rate)]
            width = size
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@register_model("mlp")
def build_mlp(cfg: object, input_shape: tuple[int, ...], num_classes: int) -> MLP:
    """Build the MLP from a :class:`~dropkit.train.config.Config`."""
    rates = cfg.hidden_p if cfg.hidden_p is not None else cfg.p  # type: ignore[attr-defined]
    return MLP(
        math.prod(input_shape),
        cfg.hidden,  # type: ignore[attr-defined]
        num_classes,
        activation=cfg.activation,  # type: ignore[attr-defined]
        hidden_p=rates,
        input_p=cfg.input_p,  # type: ignore[attr-defined]
    )
