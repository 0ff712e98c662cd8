"""Element-wise (Bernoulli) dropout with Keras-style mask sharing.

Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov, "Dropout: A Simple Way to Prevent Neural
Networks from Overfitting", JMLR 15 (2014), https://jmlr.org/papers/v15/srivastava14a.html.

This is *inverted* dropout: in training every unit is zeroed with probability ``p`` (the probability
of **dropping**, as in PyTorch, not the retain probability of the paper) and the kept units are scaled
by ``1 / (1 - p)``, so evaluation is the identity and needs no weight rescaling. Every backend quantises the
keep probability ``1 - p`` to a multiple of ``2**-16`` and scales by its exact inverse
(:func:`dropkit.rng.keep_scale`), so ``E[y] = x`` holds exactly; the scale equals ``1 / (1 - p)`` when
``(1 - p)·2**16`` is an integer (p = 0.5, 0.25, ...) and is within ``1e-5`` of it otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from dropkit._random import generator_kwargs
from dropkit._validation import check_bool, check_floating, check_probability, normalize_dims
from dropkit.kernels.backend import FUSED_BACKENDS, resolve_backend
from dropkit.kernels.fused import counter_dropout, next_rng
from dropkit.kernels.native import masked_scale
from dropkit.rng import PhiloxState, keep_mask, keep_scale_traceable

__all__ = ["dropout", "native_dropout", "bernoulli_keep_mask", "mask_shape", "DROPOUT_BACKENDS"]

DROPOUT_BACKENDS = FUSED_BACKENDS  # dropout and the fused ops offer the same four backends


def mask_shape(shape: Sequence[int], broadcast_dims: Sequence[int]) -> tuple[int, ...]:
    """Shape of a mask shared along ``broadcast_dims`` (those dims become 1)."""
    return tuple(1 if d in broadcast_dims else s for d, s in enumerate(shape))


def bernoulli_keep_mask(
    shape: Sequence[int],
    keep_prob: float,
    *,
    like: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return a {0, 1} mask of ``shape`` with ``P(1) = keep_prob``, in ``like``'s dtype and device.

    Under ``torch.compile`` the probability is passed as a float64 0-dim tensor: the float overload
    would specialise the graph on its value, so a scheduled rate would recompile at every new value.
    On the CPU both overloads draw the same mask from the same generator state (tested through the
    compiled layers, e.g. DropPath, in tests/schedules/test_scheduler_compile.py).
    """
    mask = torch.empty(tuple(shape), dtype=like.dtype, device=like.device)
    if torch.compiler.is_compiling():
        keep_prob = torch.ones((), dtype=torch.float64, device=like.device) * keep_prob
    return mask.bernoulli_(keep_prob, **generator_kwargs(generator))


def dropout(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    broadcast_dims: int | Sequence[int] = (),
    generator: torch.Generator | None = None,
    backend: str = "auto",
    stream: PhiloxState | None = None,
) -> Tensor:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by ``1/(1-p)``
    (quantised to 16 bits, see the module docstring).

    Args:
        x: input tensor of any shape, floating point.
        p: probability of **dropping** an element, in ``[0, 1]`` (default: 0.5). ``p = 1`` returns
            zeros whose gradient is zero (finite).
        training: apply dropout when True; return ``x`` unchanged when False (default: True).
        inplace: write the result into ``x`` and return ``x``, as ``torch.nn.functional.dropout``
            does (default: False). The native path computes in place (autograd keeps the bool mask);
            the counter-based backends compute out of place and copy the result back. As in torch,
            autograd refuses it on a leaf that requires grad.
        broadcast_dims: dims along which one mask value is shared, like Keras' ``noise_shape``
            with 1 in those dims; e.g. ``(2, 3)`` on ``(N, C, H, W)`` drops whole channels
            (default: ``()``, an independent mask per element).
        generator: random generator for the mask (``"native"``) or for the mask's seed (counter-based
            backends); the global one when None (default: None). Under ``torch.utils.checkpoint`` pass
            ``context_fn=lambda: dropkit.rng.checkpoint_context(generator)``: checkpoint restores only the
            default generators, so a recomputed mask would differ from the original one.
        backend: how the mask is drawn (default: ``"auto"``):

            - ``"native"``: torch's generator, 8 or 16 random bits per element with the same quantised
              keep test and scale as the counter-based backends (see
              :mod:`dropkit.kernels.native`); a boolean mask (1 byte per element) is kept for
              backward; the fastest on the CPU; masks depend on the device.
            - ``"portable"``: the counter-based mask of :mod:`dropkit.rng` in plain torch, any device;
              the same mask as the Triton kernels, with the keep probability quantised to
              multiples of ``2**-16`` and kept units scaled by the exact ``1/q`` (see
              :func:`dropkit.rng.quantized_keep_prob`); backward keeps a 16-byte seed, not a mask.
            - ``"triton"``: the fused Triton kernel (CUDA tensors of float16/bfloat16/float32;
              an error otherwise), same mask as ``"portable"``.
            - ``"auto"`` (the table of :func:`dropkit.kernels.backend.auto_backend`, shared by every
              entry point): ``"triton"`` for CUDA tensors of those dtypes without ``broadcast_dims``
              when triton is installed; otherwise ``"portable"`` when a ``stream`` is given and
              ``"native"`` when not. On the CPU that means ``"native"``: it is several times faster
              than the portable generator in eager mode (``benchmarks/bench_dropout_cpu.py``). Inside
              ``torch.compile`` the native path draws from Inductor's generator (masks differ from
              eager code's unless a ``generator`` is given) and one graph serves every rate a
              scheduler sets; ``"portable"`` is faster there (1.2-1.7x for float32 and 1.8-3.2x for
              bfloat16 at 2**22 elements: Inductor fuses the Philox rounds) and keeps only a 16-byte
              seed instead of 1 byte per element; it too serves every rate with one graph.

            With ``broadcast_dims`` the counter-based backends draw the small shared mask with the
            portable generator on ``x``'s device and keep it for backward.
        stream: a :class:`dropkit.rng.PhiloxState` the counter-based mask takes its next counters
            from, e.g. one from :func:`dropkit.rng.stream_for` (default: None: a fresh seed per call
            from torch's generator).

    Shape:
        - Input: any shape ``(*)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout
        >>> x = torch.ones(4, 6)
        >>> y = dropout(x, 0.5, generator=torch.Generator().manual_seed(0))
        >>> sorted(set(y.flatten().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
        >>> torch.equal(dropout(x, 0.5, training=False), x)
        True
        >>> z = torch.ones(3)
        >>> dropout(z, 0.5, True, True) is z   # torch's positional (p, training, inplace)
        True
    """
    where = "dropout"
    if not isinstance(x, Tensor):
        check_floating(where, x)
    p = check_probability(where, "p", p)
    check_bool(where, "training", training)
    if training and p != 0.0:  # eval and p = 0 return x whatever its dtype, as torch does
        check_floating(where, x)
    check_bool(where, "inplace", inplace)
    dims = normalize_dims(where, "broadcast_dims", broadcast_dims, x.dim()) if broadcast_dims != () else ()
    backend = resolve_backend(where, backend, x, DROPOUT_BACKENDS, stream=stream, generator=generator,
                              shared_mask=bool(dims))
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x.mul_(0.0) if inplace else x * 0.0
    if backend != "native":
        y = _counter_dropout(x, p, dims, backend, generator, stream)
        return x.copy_(y) if inplace else y
    return native_dropout(x, p, dims, generator, inplace=inplace)


def native_dropout(
    x: Tensor, p: float, dims: tuple[int, ...], generator: torch.Generator | None, *, inplace: bool = False
) -> Tensor:
    """The ``"native"`` path on already validated arguments (``0 < p < 1``, normalised ``dims``).

    The mask comes from 8 or 16 random bits per element of torch's generator
    (:mod:`dropkit.kernels.native`), several times cheaper on the CPU than ``torch.rand``; autograd
    keeps a boolean mask, 1 byte per mask element (torch's CPU dropout keeps it in the input dtype). With
    ``inplace`` the result is written into ``x``, which is returned.
    """
    return masked_scale(x, p, mask_shape(x.shape, dims), generator, inplace=inplace)


def _counter_dropout(x: Tensor, p: float, dims: tuple[int, ...], backend: str, generator, stream) -> Tensor:
    """Counter-based dropout; a shared (``broadcast_dims``) mask is drawn small and broadcast."""
    if not dims:
        return counter_dropout(x, p, generator=generator, stream=stream, backend=backend)
    shape = mask_shape(x.shape, dims)
    rng = next_rng(x, math.prod(shape), generator, stream)
    keep = keep_mask(rng, shape, p, device=x.device)
    return (x * keep.to(x.dtype)).mul_(keep_scale_traceable(p, x.device))
