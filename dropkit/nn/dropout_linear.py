"""``DropoutLinear``: ``nn.Linear`` applied to ``dropout(x)``, keeping only ``x`` and a seed for backward.

Dropout in front of a Linear layer is LoRA's pattern (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large
Language Models", https://arxiv.org/abs/2106.09685: ``lora_B(lora_A(dropout(x)))``). Written as two modules,
autograd keeps the dropped copy of ``x`` for the weight gradient and a mask, next to ``x`` itself, which the
frozen base layer's input keeps alive anyway: about one extra activation copy per adapted layer
(huggingface/peft#2196). Here the dropped input is regenerated inside backward
(:func:`dropkit.functional.dropout_linear`), so the layer adds nothing per element beyond ``x``: on CUDA
the Triton kernel's counter-based mask from a 16-byte seed, on the CPU the native mask replayed from the
generator state (5056 bytes per call).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dropkit._validation import check_choice
from dropkit.kernels.fused import FUSED_BACKENDS, dropout_linear
from dropkit.nn._base import DropoutModule
from dropkit.rng import PhiloxState

__all__ = ["DropoutLinear"]


class DropoutLinear(DropoutModule, nn.Linear):
    """``nn.Linear(dropout(x))`` with ``p`` the probability of **dropping** an input element.

    A subclass of ``nn.Linear`` with the same parameters and ``state_dict`` keys, so an ``nn.Linear``
    checkpoint loads into it and back, and :meth:`from_linear` turns an existing layer into one that
    shares its parameters (optimizers and references to them stay valid).

    Args:
        in_features, out_features, bias, device, dtype: as ``nn.Linear``.
        p: probability of **dropping** an element of the input, in ``[0, 1]`` (default: 0.1).
        generator: optional random generator the per-call seeds are drawn from (default: None).
        stream: a :class:`dropkit.rng.PhiloxState` to take counters from instead (default: None).
        backend: ``"auto"``, ``"native"``, ``"portable"`` or ``"triton"``, as in
            :func:`dropkit.functional.dropout_linear` (default: ``"auto"``: the Triton kernel on CUDA, the
            native mask replayed from the generator state on the CPU).

    Shape:
        - Input: ``(*, in_features)``; Output: ``(*, out_features)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropoutLinear
        >>> layer = DropoutLinear(8, 4, p=0.1)
        >>> layer
        DropoutLinear(in_features=8, out_features=4, bias=True, p=0.1)
        >>> layer(torch.randn(2, 8)).shape
        torch.Size([2, 4])
        >>> plain = torch.nn.Linear(8, 4)
        >>> DropoutLinear.from_linear(plain, p=0.2).weight is plain.weight
        True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        p: float = 0.1,
        *,
        generator: torch.Generator | None = None,
        stream: PhiloxState | None = None,
        backend: str = "auto",
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        where = type(self).__name__
        self.p = self._check_rate("p", p)
        self.backend = check_choice(where, "backend", backend, FUSED_BACKENDS)
        if stream is not None and not isinstance(stream, PhiloxState):
            raise TypeError(f"{where}: stream must be a dropkit.rng.PhiloxState, got {type(stream).__name__}")
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self.generator = generator
        self.stream = stream

    @classmethod
    def from_linear(cls, linear: nn.Linear, p: float = 0.1, **kwargs: Any) -> DropoutLinear:
        """A ``DropoutLinear`` that shares ``linear``'s weight and bias Parameters (not copies).

        Args:
            linear: the layer to wrap; its ``training`` flag is carried over.
            p: probability of **dropping** an input element (default: 0.1).
            **kwargs: ``generator``, ``stream``, ``backend`` as in the constructor.
        """
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"DropoutLinear.from_linear: linear must be an nn.Linear, got {type(linear).__name__}")
        new = cls(linear.in_features, linear.out_features, bias=False, p=p, device="meta", **kwargs)
        new.weight = linear.weight
        new.bias = linear.bias  # a Parameter or None; registered either way
        new.train(linear.training)
        return new

    def forward(self, x: Tensor) -> Tensor:
        return dropout_linear(x, self.weight, self.bias, self.p, training=self.training, generator=self.generator,
                              stream=self.stream, backend=self.backend)

    def _repr_options(self) -> list[str]:
        return [f"backend={self.backend!r}" if self.backend != "auto" else ""]
