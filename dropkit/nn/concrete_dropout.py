"""``ConcreteDropout``: a layer wrapper that learns the dropout rate of its input.

Gal, Hron, Kendall, "Concrete Dropout", NeurIPS 2017, https://arxiv.org/abs/1705.07832. The
functional form and the regulariser are in :mod:`dropkit.functional.concrete_dropout`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dropkit._validation import check_non_negative, check_positive, check_positive_int
from dropkit.functional.concrete_dropout import concrete_dropout, concrete_dropout_regularizer
from dropkit.nn._base import DropoutModule

__all__ = ["ConcreteDropout", "concrete_dropout_regularization"]


class ConcreteDropout(DropoutModule):
    """``layer(concrete_dropout(x, p))`` with ``p = sigmoid(p_logit)`` a learned parameter.

    ``p`` is the probability of **dropping** an input unit of ``layer``. Add
    :meth:`regularization` (or :func:`concrete_dropout_regularization` of the whole model) to the
    loss; without it the data term alone drives ``p`` to 0.

    Args:
        layer: the wrapped layer (``nn.Linear``, ``nn.Conv2d``, ...), fed the dropped input.
        init_p: initial drop probability, in ``(0, 1)`` (default: 0.1, as in the paper's code).
        temperature: Concrete temperature (default: 0.1).
        weight_regularizer: ``l^2 / N`` in the paper (default: 1e-6).
        dropout_regularizer: ``2 / N`` in the paper (default: 1e-5).
        input_dim: features per sample of the dropped input; inferred from the first forward as
            ``x[0].numel()`` when None (default: None).
        generator: optional random generator for the noise (default: None, the global one).

    Attributes:
        p_logit: the learned parameter (0-dim).
        p: ``sigmoid(p_logit)``, a differentiable 0-dim tensor (read-only; change ``p_logit``).

    Shape:
        - Input: what ``layer`` takes; Output: what ``layer`` returns.

    Its rate is learned, not set: :attr:`rate_names` is empty, so schedules and ``set_dropout_rate`` leave
    it alone (``dropkit.surgery`` still counts the layer as stochastic).

    Example:
        >>> import torch
        >>> from dropkit.nn import ConcreteDropout
        >>> cd = ConcreteDropout(torch.nn.Linear(8, 2), init_p=0.2)
        >>> cd(torch.randn(4, 8)).shape
        torch.Size([4, 2])
        >>> round(cd.p.item(), 4), cd.regularization().shape
        (0.2, torch.Size([]))
    """

    rate_names = ()

    def __init__(
        self,
        layer: nn.Module,
        *,
        init_p: float = 0.1,
        temperature: float = 0.1,
        weight_regularizer: float = 1e-6,
        dropout_regularizer: float = 1e-5,
        input_dim: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        if not isinstance(layer, nn.Module):
            raise TypeError(f"{where}: layer must be an nn.Module, got {type(layer).__name__}")
        if isinstance(init_p, bool) or not isinstance(init_p, (int, float)):
            raise TypeError(f"{where}: init_p must be a float, got {type(init_p).__name__}")
        if not 0.0 < init_p < 1.0:
            raise ValueError(f"{where}: init_p must be in (0, 1), got {init_p:g}")
        self.layer = layer
        self.temperature = check_positive(where, "temperature", temperature)
        self.weight_regularizer = check_non_negative(where, "weight_regularizer", weight_regularizer)
        self.dropout_regularizer = check_non_negative(where, "dropout_regularizer", dropout_regularizer)
        self.input_dim = None if input_dim is None else check_positive_int(where, "input_dim", input_dim)
        self.generator = generator
        self.p_logit = nn.Parameter(torch.tensor(math.log(init_p) - math.log1p(-init_p)))

    @property
    def p(self) -> Tensor:
        """The current drop probability ``sigmoid(p_logit)`` (a differentiable 0-dim tensor)."""
        return torch.sigmoid(self.p_logit)

    def forward(self, x: Tensor) -> Tensor:
        if self.input_dim is None:
            self.input_dim = int(x[0].numel())
        y = concrete_dropout(x, self.p, temperature=self.temperature, training=self.training, generator=self.generator)
        return self.layer(y)

    def regularization(self) -> Tensor:
        """The layer's penalty ``wr * sum ||W||^2 / (1 - p) + dr * input_dim * (p log p + (1-p) log(1-p))``.

        ``W`` is every parameter of the wrapped layer (as in the paper's PyTorch notebook).
        """
        if self.input_dim is None:
            raise RuntimeError(
                f"{type(self).__name__}: regularization() needs input_dim; pass input_dim= or run a forward first"
            )
        return concrete_dropout_regularizer(
            self.p, list(self.layer.parameters()), self.input_dim,
            weight_regularizer=self.weight_regularizer, dropout_regularizer=self.dropout_regularizer,
        )

    def _repr_options(self) -> list[str]:
        return [f"p={self.p.item():.4g}", f"temperature={self.temperature:g}",
                f"weight_regularizer={self.weight_regularizer:g}", f"dropout_regularizer={self.dropout_regularizer:g}"]


def concrete_dropout_regularization(model: nn.Module) -> Tensor:
    """Sum of :meth:`ConcreteDropout.regularization` over every ``ConcreteDropout`` in ``model``.

    Returns a 0-dim zero tensor when the model has none.

    Example:
        >>> import torch
        >>> from dropkit.nn import ConcreteDropout, concrete_dropout_regularization
        >>> net = torch.nn.Sequential(ConcreteDropout(torch.nn.Linear(4, 4), input_dim=4), torch.nn.ReLU(),
        ...                           ConcreteDropout(torch.nn.Linear(4, 1), input_dim=4))
        >>> total = concrete_dropout_regularization(net)
        >>> torch.allclose(total, net[0].regularization() + net[2].regularization())
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"concrete_dropout_regularization: model must be an nn.Module, got {type(model).__name__}")
    terms = [m.regularization() for m in model.modules() if isinstance(m, ConcreteDropout)]
    if not terms:
        ref = next(model.parameters(), None)
        return torch.zeros((), device=ref.device if ref is not None else None)
    return torch.stack(terms).sum()
