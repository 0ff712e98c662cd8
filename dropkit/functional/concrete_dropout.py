"""Concrete dropout: dropout whose rate is learned through a continuous relaxation of the mask.

Gal, Hron, Kendall, "Concrete Dropout", NeurIPS 2017, https://arxiv.org/abs/1705.07832.

The Bernoulli drop indicator ``z ~ Bernoulli(p)`` is replaced by its Concrete (relaxed Bernoulli)
sample ``z = sigmoid((logit(p) + log u - log(1 - u)) / t)`` with ``u ~ U(0, 1)`` and temperature
``t`` (0.1 in the paper), so the output ``x * (1 - z) / (1 - p)`` is differentiable in ``p``. ``p``
is the probability of **dropping** a unit. The objective adds, per wrapped layer,

    weight_regularizer * ||W||^2 / (1 - p)
    + dropout_regularizer * input_dim * (p log p + (1 - p) log(1 - p))

(the second term is the negative Bernoulli entropy, which pushes ``p`` towards 0.5 against the
data term). With ``N`` training points and prior length-scale ``l`` the paper uses
``weight_regularizer = l^2 / N`` and ``dropout_regularizer = 2 / N`` (for a precision of 1).

Differences from the reference code (yaringal/ConcreteDropout): ``logit(p)`` is used directly
instead of ``log(p + eps) - log(1 - p + eps)``; evaluation is the identity like all dropkit
dropout (the reference samples masks at test time too; keep the module in training mode for MC
dropout).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from dropkit._random import generator_kwargs
from dropkit._validation import check_floating, check_non_negative, check_positive, check_positive_int

__all__ = ["concrete_dropout", "concrete_dropout_regularizer"]


def _as_probability_tensor(where: str, p: Tensor | float, like: Tensor | None = None) -> Tensor:
    """``p`` as a tensor with every value in the open interval (0, 1)."""
    if isinstance(p, bool) or not isinstance(p, (Tensor, int, float)):
        raise TypeError(f"{where}: p must be a float or a tensor, got {type(p).__name__}")
    if not isinstance(p, Tensor):
        p = torch.tensor(float(p), dtype=like.dtype if like is not None else torch.get_default_dtype(),
                         device=like.device if like is not None else None)
    if not p.is_floating_point():
        raise TypeError(f"{where}: p must be a floating-point tensor, got dtype {p.dtype}")
    if torch.compiler.is_compiling():  # a data-dependent check would break the graph
        return p
    with torch.no_grad():
        bad = ~((p > 0) & (p < 1))
        if bool(bad.any()):
            raise ValueError(f"{where}: p must be in (0, 1), got {p[bad].flatten()[0].item():g}")
    return p


def concrete_dropout(
    x: Tensor,
    p: Tensor | float,
    *,
    temperature: float = 0.1,
    training: bool = True,
    eps: float = 1e-7,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Relaxed (Concrete) dropout: ``x * (1 - z) / (1 - p)`` with ``z`` a Concrete sample of ``Bernoulli(p)``.

    Args:
        x: input of any shape, floating point.
        p: probability of **dropping** a unit, in the open interval ``(0, 1)``: a float, or a tensor
            (typically ``sigmoid(p_logit)``, differentiable) broadcastable to ``x``.
        temperature: Concrete temperature ``t > 0``; smaller is closer to a hard 0/1 mask
            (default: 0.1, as in the paper).
        training: sample the relaxed mask when True; return ``x`` unchanged when False (default: True).
        eps: clamp for ``log u`` and ``log(1 - u)`` (default: 1e-7, as in the reference code).
        generator: random generator for the uniform noise; the global one when None (default: None).

    Shape:
        - Input: ``(*)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.functional.concrete_dropout import concrete_dropout
        >>> p = torch.tensor(0.2, requires_grad=True)
        >>> y = concrete_dropout(torch.ones(1000), p, generator=torch.Generator().manual_seed(0))
        >>> y.mean().backward()
        >>> p.grad is not None and abs(y.mean().item() - 1.0) < 0.1
        True
        >>> torch.equal(concrete_dropout(torch.ones(3), 0.5, training=False), torch.ones(3))
        True
    """
    where = "concrete_dropout"
    check_floating(where, x)
    p = _as_probability_tensor(where, p, like=x)
    t = check_positive(where, "temperature", temperature)
    check_positive(where, "eps", eps)
    if not training:
        return x
    u = torch.rand(x.shape, dtype=x.dtype, device=x.device, **generator_kwargs(generator))
    p_logit = torch.log(p) - torch.log1p(-p)
    noise_logit = torch.log(u + eps) - torch.log(1.0 - u + eps)
    drop = torch.sigmoid((p_logit + noise_logit) / t)
    return x * (1.0 - drop) / (1.0 - p)


def concrete_dropout_regularizer(
    p: Tensor | float,
    weights: Tensor | Iterable[Tensor],
    input_dim: int,
    *,
    weight_regularizer: float = 1e-6,
    dropout_regularizer: float = 1e-5,
) -> Tensor:
    """The concrete-dropout penalty of one layer: weight term plus scaled negative entropy of ``p``.

    ``weight_regularizer * sum ||W||^2 / (1 - p) + dropout_regularizer * input_dim * (p log p +
    (1 - p) log(1 - p))`` for one rate ``p`` shared by the layer's input.

    Args:
        p: probability of **dropping**, in ``(0, 1)``: a float or a one-element (differentiable) tensor.
        weights: the weights of the layer fed by the dropped input (a tensor or an iterable of
            tensors; the reference PyTorch notebook uses every parameter of the layer).
        input_dim: number of features of the dropped input per sample (``x[0].numel()``).
        weight_regularizer: coefficient of the weight term, ``l^2 / N`` in the paper (default: 1e-6).
        dropout_regularizer: coefficient of the entropy term, ``2 / N`` in the paper (default: 1e-5).

    Shape:
        - Output: a 0-dim tensor.

    Example:
        >>> import math, torch
        >>> from dropkit.functional import concrete_dropout_regularizer
        >>> r = concrete_dropout_regularizer(0.5, torch.ones(2, 2), 4, weight_regularizer=0.1, dropout_regularizer=0.01)
        >>> round(r.item(), 6) == round(0.1 * 4 / 0.5 + 0.01 * 4 * math.log(0.5), 6)
        True
    """
    where = "concrete_dropout_regularizer"
    tensors = [weights] if isinstance(weights, Tensor) else list(weights)
    if not tensors:
        raise ValueError(f"{where}: weights must hold at least one tensor, got none")
    for w in tensors:
        check_floating(where, w, "weights")
    p = _as_probability_tensor(where, p, like=tensors[0])
    if p.numel() != 1:
        raise ValueError(f"{where}: p must be a single rate (one element), got shape {tuple(p.shape)}")
    check_positive_int(where, "input_dim", input_dim)
    wr = check_non_negative(where, "weight_regularizer", weight_regularizer)
    dr = check_non_negative(where, "dropout_regularizer", dropout_regularizer)
    sum_sq = torch.stack([w.pow(2).sum() for w in tensors]).sum()
    weight_term = wr * sum_sq / (1.0 - p)
    neg_entropy = p * torch.log(p) + (1.0 - p) * torch.log1p(-p)
    return (weight_term + dr * input_dim * neg_entropy).reshape(())
