"""``DropoutAddLayerNorm`` and ``DropoutAddRMSNorm``: the pre-norm residual step of a transformer as one layer.

``h = residual + dropout(x)`` (Vaswani et al. 2017, https://arxiv.org/abs/1706.03762, Section 5.4: residual
dropout on each sub-layer's output before the add), then ``y = norm(h)``; the layer returns ``(y, h)``: ``y``
feeds the next sub-layer and ``h`` is the next residual, as flash-attention's ``DropoutAddLayerNorm`` with
``prenorm=True``. The parameters and ``state_dict`` keys are those of ``nn.LayerNorm`` / ``nn.RMSNorm``.

The layer picks its path (``backend="auto"``):

- CUDA tensors with triton installed: the fused kernel of :func:`dropkit.functional.dropout_add_layer_norm`
  (one pass; backward keeps ``h``, two floats per row and a 16-byte seed, no mask);
- a ``stream`` given: the counter-based path on any device (the GPU kernels' masks);
- otherwise (the CPU): plain ops with :func:`dropkit.functional.dropout`'s native mask, the fastest there
  (it keeps a 1-byte mask per element; the fused op keeps none but recomputes the norm in backward:
  about 15 vs 10 ms forward + backward on 2048x512, 2 cores).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dropkit._validation import check_bool, check_choice, check_positive, check_positive_int
from dropkit.functional.dropout import dropout
from dropkit.kernels.backend import FUSED_BACKENDS, auto_backend
from dropkit.kernels.fused import dropout_add_layer_norm, dropout_add_rms_norm
from dropkit.nn._base import DropoutModule
from dropkit.rng import PhiloxState

__all__ = ["DropoutAddLayerNorm", "DropoutAddRMSNorm"]

class _DropoutAddNorm(DropoutModule):
    """Shared construction, path choice and the native path; subclasses name the norm."""

    _norm = ""

    def __init__(
        self,
        normalized_shape: int,
        p: float,
        eps: float | None,
        elementwise_affine: bool,
        bias: bool,
        generator: torch.Generator | None,
        stream: PhiloxState | None,
        backend: str,
        device: Any,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.normalized_shape = (check_positive_int(where, "normalized_shape", normalized_shape),)
        self.p = self._check_rate("p", p)
        self.eps = None if eps is None else check_positive(where, "eps", eps)
        self.elementwise_affine = check_bool(where, "elementwise_affine", elementwise_affine)
        self.backend = check_choice(where, "backend", backend, FUSED_BACKENDS)
        if stream is not None and not isinstance(stream, PhiloxState):
            raise TypeError(f"{where}: stream must be a dropkit.rng.PhiloxState, got {type(stream).__name__}")
        if stream is not None and backend == "native":
            raise ValueError(f"{where}: stream needs backend 'auto', 'portable' or 'triton', got 'native'")
        self.generator, self.stream = generator, stream
        factory = {"device": device, "dtype": dtype}
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(normalized_shape, **factory))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and check_bool(where, "bias", bias):
            self.bias = nn.Parameter(torch.zeros(normalized_shape, **factory))
        else:
            self.register_parameter("bias", None)

    def _path(self, x: Tensor) -> str:
        if self.backend != "auto":
            return self.backend
        if self.stream is not None:
            return "auto"  # the fused op's own choice among the counter-based backends
        return auto_backend(x)  # the native path here is functional.dropout's: traceable, any device

    def _weight(self, x: Tensor) -> Tensor:
        if self.weight is not None:
            return self.weight
        return torch.ones(self.normalized_shape, dtype=x.dtype, device=x.device)

    def _check(self, x: Tensor, residual: Tensor | None) -> None:
        where = type(self).__name__
        if not isinstance(x, Tensor) or x.dim() == 0 or x.shape[-1] != self.normalized_shape[0]:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{where}: x must have last dim {self.normalized_shape[0]}, got {got}")
        if residual is not None and (not isinstance(residual, Tensor) or residual.shape != x.shape):
            got = tuple(residual.shape) if isinstance(residual, Tensor) else type(residual).__name__
            raise ValueError(f"{where}: residual must have the shape of x {tuple(x.shape)}, got {got}")

    def _native_h(self, x: Tensor, residual: Tensor | None, x_bias: Tensor | None) -> Tensor:
        v = x if x_bias is None else x + x_bias.to(x.dtype)
        h = dropout(v, self.p, self.training, backend="native", generator=self.generator)
        return h if residual is None else residual + h

    def _repr_prefix(self) -> list[str]:
        return [f"{self.normalized_shape[0]}"]

    def _repr_options(self) -> list[str]:
        return ["" if self.eps is None else f"eps={self.eps:g}",
                "" if self.elementwise_affine else "elementwise_affine=False",
                f"backend={self.backend!r}" if self.backend != "auto" else ""]


class DropoutAddLayerNorm(_DropoutAddNorm):
    """``h = residual + dropout(x)``, ``y = LayerNorm(h)``; returns ``(y, h)``. ``p`` is the probability of
    **dropping** an element of ``x``.

    Args:
        normalized_shape: size of the last dim (one int, as the fused kernels normalise rows).
        p: drop probability in ``[0, 1]`` (default: 0.1).
        eps: LayerNorm epsilon (default: 1e-5).
        elementwise_affine, bias: as ``nn.LayerNorm`` (default: True, True).
        generator: optional random generator for the masks or their seeds (default: None).
        stream: a :class:`dropkit.rng.PhiloxState` for counter-based masks (default: None).
        backend: ``"auto"``, ``"native"``, ``"portable"`` or ``"triton"`` (default: ``"auto"``, see the module
            docstring).
        device, dtype: of the parameters, as ``nn.LayerNorm``.

    Shape:
        - x: ``(*, N)``; residual: ``(*, N)`` or None (then ``h = dropout(x)``); x_bias: ``(N,)`` or None,
          added to ``x`` before dropout.
        - Outputs: ``y`` and ``h``, ``(*, N)`` each; ``h`` in the residual's dtype (a float32 residual
          stream with a 16-bit ``x`` stays float32), ``y`` in ``x``'s.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropoutAddLayerNorm
        >>> layer = DropoutAddLayerNorm(16, p=0.1)
        >>> layer.load_state_dict(torch.nn.LayerNorm(16).state_dict())
        <All keys matched successfully>
        >>> y, h = layer(torch.randn(2, 5, 16), torch.randn(2, 5, 16))
        >>> y.shape, h.shape
        (torch.Size([2, 5, 16]), torch.Size([2, 5, 16]))
    """

    _norm = "layernorm"

    def __init__(
        self,
        normalized_shape: int,
        p: float = 0.1,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        generator: torch.Generator | None = None,
        stream: PhiloxState | None = None,
        backend: str = "auto",
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(normalized_shape, p, eps, elementwise_affine, bias, generator, stream, backend, device, dtype)

    def forward(self, x: Tensor, residual: Tensor | None = None, x_bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(x, residual)
        path = self._path(x)
        if path == "native":
            h = self._native_h(x, residual, x_bias)
            return F.layer_norm(h, self.normalized_shape, self.weight, self.bias, self.eps).to(x.dtype), h
        return dropout_add_layer_norm(x, residual, self._weight(x), self.bias, self.p, eps=self.eps, x_bias=x_bias,
                                      training=self.training, generator=self.generator, stream=self.stream,
                                      backend=path)


class DropoutAddRMSNorm(_DropoutAddNorm):
    """``h = residual + dropout(x)``, ``y = RMSNorm(h)``; returns ``(y, h)``. ``p`` is the probability of
    **dropping** an element of ``x``.

    Args:
        normalized_shape: size of the last dim.
        p: drop probability in ``[0, 1]`` (default: 0.1).
        eps: RMSNorm epsilon (default: None: ``torch.finfo(x.dtype).eps``, as ``nn.RMSNorm``).
        elementwise_affine: a learned scale, as ``nn.RMSNorm`` (default: True).
        generator, stream, backend, device, dtype: as :class:`DropoutAddLayerNorm`.

    Shape:
        - As :class:`DropoutAddLayerNorm`.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropoutAddRMSNorm
        >>> layer = DropoutAddRMSNorm(8, p=0.1).eval()
        >>> x, r = torch.randn(3, 8), torch.randn(3, 8)
        >>> y, h = layer(x, r)
        >>> torch.allclose(y, torch.nn.RMSNorm(8)(x + r)), torch.equal(h, x + r)
        (True, True)
    """

    _norm = "rmsnorm"

    def __init__(
        self,
        normalized_shape: int,
        p: float = 0.1,
        eps: float | None = None,
        elementwise_affine: bool = True,
        *,
        generator: torch.Generator | None = None,
        stream: PhiloxState | None = None,
        backend: str = "auto",
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(normalized_shape, p, eps, elementwise_affine, False, generator, stream, backend, device,
                         dtype)

    def forward(self, x: Tensor, residual: Tensor | None = None, x_bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(x, residual)
        path = self._path(x)
        stream_dtype = (x if residual is None else residual).dtype  # h's dtype, whose eps nn.RMSNorm would use
        eps = self.eps if self.eps is not None else torch.finfo(stream_dtype).eps
        if path == "native":
            h = self._native_h(x, residual, x_bias)
            return F.rms_norm(h, self.normalized_shape, self.weight, eps).to(x.dtype), h
        return dropout_add_rms_norm(x, residual, self._weight(x), self.p, eps=eps, x_bias=x_bias,
                                    training=self.training, generator=self.generator, stream=self.stream, backend=path)
