"""``Dropout``: the Module twin of :func:`dropkit.functional.dropout`.

Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
https://jmlr.org/papers/v15/srivastava14a.html.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dropkit._validation import check_bool, check_choice, check_dims_type, normalize_dims
from dropkit._validation import check_floating
from dropkit.functional.dropout import DROPOUT_BACKENDS, dropout, native_dropout
from dropkit.kernels.backend import auto_backend
from dropkit.nn._base import DropoutModule
from dropkit.rng import PhiloxState

__all__ = ["Dropout"]


class Dropout(DropoutModule):
    """Inverted dropout; ``p`` is the probability of **dropping** a unit.

    The first two arguments are ``torch.nn.Dropout``'s, in its order, so the class is a drop-in
    replacement; the dropkit-specific ones are keyword-only.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        inplace: write the result into the input and return it, as ``torch.nn.Dropout(inplace=True)``
            (default: False; see :func:`dropkit.functional.dropout`).
        broadcast_dims: dims that share one mask value (Keras' ``noise_shape``), e.g. ``(1,)`` on
            ``(N, T, D)`` shares the mask over time (default: ``()``).
        generator: optional random generator used for every mask (default: None, the global one).
        backend: ``"auto"``, ``"native"``, ``"portable"`` or ``"triton"``, as in
            :func:`dropkit.functional.dropout` (default: ``"auto"``: the fused Triton kernel for CUDA
            tensors, the native path (8-16 random bits per element from torch's generator) on the
            CPU, the counter-based path when a ``stream`` is given).
        stream: a :class:`dropkit.rng.PhiloxState` for counter-based masks (default: None).

    Shape:
        - Input: ``(*)``; Output: the same shape.

    Attributes:
        last_drop_fraction: after a training forward with ``record_rate = True``, the fraction of
            mask entries that were dropped (a 0-dim tensor), else None. The trainer uses it to log
            the rate actually applied.

    Example:
        >>> import torch
        >>> from dropkit.nn import Dropout
        >>> layer = Dropout(0.2)
        >>> layer(torch.ones(3, 5)).shape
        torch.Size([3, 5])
        >>> layer.eval()(torch.ones(2)).tolist()
        [1.0, 1.0]
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        broadcast_dims: int | Sequence[int] = (),
        generator: torch.Generator | None = None,
        backend: str = "auto",
        stream: PhiloxState | None = None,
    ) -> None:
        super().__init__()
        self.p = self._check_rate("p", p)
        self.inplace = check_bool(type(self).__name__, "inplace", inplace)
        self.backend = check_choice(type(self).__name__, "backend", backend, DROPOUT_BACKENDS)
        if stream is not None and not isinstance(stream, PhiloxState):
            raise TypeError(f"{type(self).__name__}: stream must be a dropkit.rng.PhiloxState, got {type(stream).__name__}")
        if stream is not None and backend == "native":
            raise ValueError(f"{type(self).__name__}: stream needs backend 'auto', 'portable' or 'triton', got 'native'")
        self.stream = stream
        self.broadcast_dims = check_dims_type(type(self).__name__, "broadcast_dims", broadcast_dims)
        self.generator = generator
        self._dims_cache: dict[tuple[int, tuple[int, ...]], tuple[int, ...]] = {}
        self.record_rate = False
        self.last_drop_fraction: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        recording = self.record_rate and self.training
        if recording:
            with torch.no_grad():
                nonzero = x != 0  # read before an in-place forward overwrites x
        if self._native_ok(x):
            # Hot path: the arguments were validated in __init__; only the input needs a look.
            if not self.training or self.p == 0.0:
                return x
            if self.p < 1.0:
                y = native_dropout(x, self.p, self._dims(x.dim()), self.generator, inplace=self.inplace)
            else:
                y = x.mul_(0.0) if self.inplace else x * 0.0
        else:
            if self.training and self.p != 0.0:  # errors name this Module, not dropout()
                check_floating(type(self).__name__, x)
                self._dims(x.dim())
            y = dropout(
                x, self.p, self.training, self.inplace, broadcast_dims=self.broadcast_dims, generator=self.generator,
                backend=self.backend, stream=self.stream,
            )
        if recording:
            with torch.no_grad():
                self.last_drop_fraction = (y == 0).logical_and(nonzero).sum() / nonzero.sum().clamp_min(1)
        return y

    def _native_ok(self, x: Tensor) -> bool:
        """True when ``dropout(..., backend=self.backend)`` would take the native path for ``x`` (the
        resolver's table, without its argument checks, which ``__init__`` made)."""
        if not x.is_floating_point():
            return False  # dropout() raises the error
        if self.backend == "auto":
            return auto_backend(x, stream=self.stream, shared_mask=bool(self.broadcast_dims)) == "native"
        return self.backend == "native"

    def _dims(self, ndim: int) -> tuple[int, ...]:
        if not self.broadcast_dims:
            return ()
        key = (ndim, self.broadcast_dims)
        dims = self._dims_cache.get(key)
        if dims is None:
            dims = normalize_dims(type(self).__name__, "broadcast_dims", self.broadcast_dims, ndim)
            if not torch.compiler.is_compiling():  # a dict written by traced code costs one recompile
                self._dims_cache[key] = dims
        return dims

    def _repr_options(self) -> list[str]:
        return ["inplace=True" if self.inplace else "", f"broadcast_dims={self.broadcast_dims}" if self.broadcast_dims else "",
                f"backend={self.backend!r}" if self.backend != "auto" else ""]
