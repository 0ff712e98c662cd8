"""The ``"native"`` backend of :func:`dropkit.functional.dropout_linear` on the CPU: torch's generator, replayed.

``dropout_linear`` regenerates the dropped input in backward instead of keeping it. The counter-based
backends regenerate it from a 16-byte seed, but their Philox words cost ~4 ms per 2**19 elements on one
CPU core, twice per step (forward and backward), which made a fused LoRA layer slower than an unfused one
on the CPU. This backend draws the mask like :func:`dropkit.functional.dropout`'s native path (8 or 16
random bits per element from torch's generator, about 4x cheaper) and keeps the generator's state from
before the draw (5056 bytes for the CPU generator, independent of the tensor's size); backward sets a
private generator to that state and draws the same words again. The caller's generator ends in the state
a direct draw leaves it in, so ``torch.manual_seed`` reproduces runs and ``torch.utils.checkpoint``
(which restores the RNG state before recomputing) sees the same masks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dropkit.functional.native_mask import masked_scale
from dropkit.kernels.portable import _DropoutLinear

__all__ = ["native_dropout_linear"]


class _ReplayedNativeDropout:
    """``dropout_fn(t, state)`` for ``_DropoutLinear``: the native mask drawn from a generator set to ``state``.

    The first call (the forward) records the generator's state after its draw, for the caller's generator.
    """

    def __init__(self, p: float) -> None:
        self.p = p
        self.state_after: Tensor | None = None

    def __call__(self, t: Tensor, state: Tensor) -> Tensor:
        replay = torch.Generator(device="cpu")
        replay.set_state(state)
        y = masked_scale(t, self.p, t.shape, replay)
        if self.state_after is None:
            self.state_after = replay.get_state()
        return y


def native_dropout_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, p: float, generator: torch.Generator | None
) -> Tensor:
    """``F.linear(dropout(x), weight, bias)`` for a CPU ``x`` with ``0 <= p <= 1`` already validated, keeping
    ``x``, the weight and the generator state for backward.

    Example:
        >>> import torch
        >>> x, w = torch.randn(4, 6), torch.randn(3, 6)
        >>> y = native_dropout_linear(x, w, None, 0.5, torch.Generator().manual_seed(0))
        >>> from dropkit.functional import dropout
        >>> torch.equal(y, torch.nn.functional.linear(dropout(x, 0.5, generator=torch.Generator().manual_seed(0)), w))
        True
    """
    if p == 0.0:
        return F.linear(x, weight, bias)
    if p == 1.0:
        return F.linear(x * 0.0, weight, bias)
    owner = torch.default_generator if generator is None else generator
    drop = _ReplayedNativeDropout(p)
    y = _DropoutLinear.apply(x, weight, bias, p, owner.get_state(), drop)
    owner.set_state(drop.state_after)  # advanced exactly as drawing from it directly would have
    return y
