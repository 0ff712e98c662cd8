"""DropConnect: drop individual *weights* of a linear or convolutional layer.

Wan, Zeiler, Zhang, LeCun, Fergus, "Regularization of Neural Networks using DropConnect", ICML 2013,
https://proceedings.mlr.press/v28/wan13.html (no arXiv version).

Every weight is zeroed with probability ``p`` (the probability of **dropping**) and the kept
weights are scaled by ``1 / (1 - p)`` (inverted scaling; the keep probability quantised to 16 bits, as in
:func:`dropkit.functional.dropout`). One weight mask is drawn per call and
shared by every sample of the batch (the paper draws one per sample, which costs a weight copy per
sample; sharing it is what Keras/BaaL/fastai implementations do).

Choices that differ from the paper, on purpose:

* **Inference is the "mean" rule**: in evaluation the weights are used as they are, which under the
  inverted scaling is exactly the expectation ``E[M * W / (1 - p)] = W`` of the dropped weights. The
  paper instead samples a Gaussian moment-matched to the pre-activation (its "inference" section);
  the mean rule is the deterministic baseline it compares against.
* **The bias is never dropped**: it is one value per output unit, dropping it only adds noise to
  the unit's offset without the co-adaptation-breaking effect the method is for.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from dropkit._validation import check_floating, check_probability
from dropkit.functional.dropout import native_dropout

__all__ = [
    "drop_connect_weight",
    "drop_connect_linear",
    "drop_connect_conv1d",
    "drop_connect_conv2d",
    "drop_connect_conv3d",
]

_Size = int | Sequence[int]


def _drop_weight(
    where: str, weight: Tensor, p: float, training: bool, generator: torch.Generator | None
) -> Tensor:
    check_floating(where, weight, "weight")
    p = check_probability(where, "p", p)
    if not training or p == 0.0:
        return weight
    if p == 1.0:
        return weight * 0.0
    # The element-wise native dropout of the weight: 8-16 random bits per entry and a boolean mask kept
    # for backward above 16384 weights (bernoulli_ on a float mask cost ~13 ns per weight on the CPU and
    # 4 bytes kept); smaller weights keep the float mask, which costs less per call.
    return native_dropout(weight, p, (), generator)


def drop_connect_weight(
    weight: Tensor,
    p: float = 0.5,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return ``weight`` with each entry zeroed with probability ``p`` and the rest scaled by ``1/(1-p)``.

    The building block of the layers below; useful for any layer that takes its weight explicitly.

    Args:
        weight: weight tensor of any shape, floating point.
        p: probability of **dropping** a weight, in ``[0, 1]`` (default: 0.5).
        training: drop when True; return ``weight`` unchanged when False (default: True).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - Input: any shape. Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_connect_weight
        >>> w = drop_connect_weight(torch.ones(3, 4), 0.5, generator=torch.Generator().manual_seed(0))
        >>> sorted(set(w.flatten().tolist()))
        [0.0, 2.0]
    """
    return _drop_weight("drop_connect_weight", weight, p, training, generator)


def drop_connect_linear(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    p: float = 0.5,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``F.linear(x, dropped(weight), bias)``: one weight mask for the whole batch, bias kept.

    Args:
        x: input ``(*, in_features)``, floating point.
        weight: ``(out_features, in_features)``.
        bias: ``(out_features,)`` or None; never dropped (default: None).
        p: probability of **dropping** a weight, in ``[0, 1]`` (default: 0.5).
        training: drop weights when True; plain ``F.linear`` (the mean rule) when False
            (default: True).
        generator: random generator for the weight mask; the global one when None (default: None).

    Shape:
        - Input: ``(*, in_features)``.
        - Output: ``(*, out_features)``.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_connect_linear
        >>> x, w = torch.ones(2, 4), torch.ones(3, 4)
        >>> drop_connect_linear(x, w, None, 0.5, training=False).tolist()   # mean rule: W as is
        [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]
        >>> drop_connect_linear(x, w, None, 0.5).shape
        torch.Size([2, 3])
    """
    where = "drop_connect_linear"
    check_floating(where, x)
    return F.linear(x, _drop_weight(where, weight, p, training, generator), bias)


def _conv(
    where: str,
    conv: object,
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    p: float,
    stride: _Size,
    padding: _Size | str,
    dilation: _Size,
    groups: int,
    training: bool,
    generator: torch.Generator | None,
) -> Tensor:
    check_floating(where, x)
    w = _drop_weight(where, weight, p, training, generator)
    return conv(x, w, bias, stride, padding, dilation, groups)  # type: ignore[operator]


def drop_connect_conv1d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    p: float = 0.5,
    *,
    stride: _Size = 1,
    padding: _Size | str = 0,
    dilation: _Size = 1,
    groups: int = 1,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``F.conv1d`` with DropConnect on the kernel (one mask per call, bias kept).

    Args:
        x: input ``(N, C_in, L)`` or ``(C_in, L)``, floating point.
        weight: ``(C_out, C_in / groups, K)``.
        bias: ``(C_out,)`` or None; never dropped (default: None).
        p: probability of **dropping** a weight, in ``[0, 1]`` (default: 0.5).
        stride, padding, dilation, groups: as in ``torch.nn.functional.conv1d``.
        training: drop weights when True; plain convolution when False (default: True).
        generator: random generator for the weight mask; the global one when None (default: None).

    Shape:
        - Input: ``(N, C_in, L)``. Output: ``(N, C_out, L_out)`` as ``F.conv1d``.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_connect_conv1d
        >>> drop_connect_conv1d(torch.ones(2, 3, 8), torch.ones(4, 3, 3), p=0.2, padding=1).shape
        torch.Size([2, 4, 8])
    """
    return _conv("drop_connect_conv1d", F.conv1d, x, weight, bias, p, stride, padding, dilation, groups, training, generator)


def drop_connect_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    p: float = 0.5,
    *,
    stride: _Size = 1,
    padding: _Size | str = 0,
    dilation: _Size = 1,
    groups: int = 1,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``F.conv2d`` with DropConnect on the kernel (one mask per call, bias kept).

    Args:
        x: input ``(N, C_in, H, W)`` or ``(C_in, H, W)``, floating point.
        weight: ``(C_out, C_in / groups, kH, kW)``.
        bias: ``(C_out,)`` or None; never dropped (default: None).
        p: probability of **dropping** a weight, in ``[0, 1]`` (default: 0.5).
        stride, padding, dilation, groups: as in ``torch.nn.functional.conv2d``.
        training: drop weights when True; plain convolution when False (default: True).
        generator: random generator for the weight mask; the global one when None (default: None).

    Shape:
        - Input: ``(N, C_in, H, W)``. Output: ``(N, C_out, H_out, W_out)`` as ``F.conv2d``.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_connect_conv2d
        >>> drop_connect_conv2d(torch.ones(2, 3, 8, 8), torch.ones(4, 3, 3, 3), p=0.2, padding="same").shape
        torch.Size([2, 4, 8, 8])
    """
    return _conv("drop_connect_conv2d", F.conv2d, x, weight, bias, p, stride, padding, dilation, groups, training, generator)


def drop_connect_conv3d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    p: float = 0.5,
    *,
    stride: _Size = 1,
    padding: _Size | str = 0,
    dilation: _Size = 1,
    groups: int = 1,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``F.conv3d`` with DropConnect on the kernel (one mask per call, bias kept).

    Args:
        x: input ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``, floating point.
        weight: ``(C_out, C_in / groups, kD, kH, kW)``.
        bias: ``(C_out,)`` or None; never dropped (default: None).
        p: probability of **dropping** a weight, in ``[0, 1]`` (default: 0.5).
        stride, padding, dilation, groups: as in ``torch.nn.functional.conv3d``.
        training: drop weights when True; plain convolution when False (default: True).
        generator: random generator for the weight mask; the global one when None (default: None).

    Shape:
        - Input: ``(N, C_in, D, H, W)``. Output: ``(N, C_out, D_out, H_out, W_out)`` as ``F.conv3d``.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_connect_conv3d
        >>> drop_connect_conv3d(torch.ones(1, 2, 4, 4, 4), torch.ones(3, 2, 2, 2, 2), p=0.2).shape
        torch.Size([1, 3, 3, 3, 3])
    """
    return _conv("drop_connect_conv3d", F.conv3d, x, weight, bias, p, stride, padding, dilation, groups, training, generator)
