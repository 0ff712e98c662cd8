"""Public fused dropout ops and the backend dispatch shared with :func:`dropkit.functional.dropout`.

Every op here keeps no mask for backward and regenerates it there: from :mod:`dropkit.rng` (a pure
function of ``[seed, offset]`` and the logical element index, 16 bytes kept per call) on the Triton and
portable backends, from the generator's state on the native CPU backend.

Backends (the ``backend`` argument):

* ``"triton"``: the Triton kernels of :mod:`dropkit.kernels.triton_elementwise` and
  :mod:`dropkit.kernels.triton_norm`, registered with ``torch.library`` so ``torch.compile`` traces
  them. Needs triton and a CUDA tensor (or ``TRITON_INTERPRET=1``, which runs them on the CPU for
  tests); float16, bfloat16 and float32 only. Anything else is a ``RuntimeError``/``TypeError``.
* ``"portable"``: the same masks and math in plain torch (:mod:`dropkit.kernels.portable`), any
  device and any floating dtype.
* ``"native"`` (CPU tensors, eager mode): the mask of :func:`dropkit.functional.dropout`'s native path
  (8 or 16 random bits per element from torch's generator, about 4x cheaper on the CPU than the portable
  Philox words, which backward computes a second time). Backward regenerates it from the generator's
  state saved before the draw (5056 bytes per call, whatever the tensor's size;
  :func:`dropkit.kernels.native.replay_masked_scale`), and the caller's generator ends where a
  direct draw leaves it. Masks depend on the device, as with ``dropout(backend="native")``.
* ``"auto"`` (default): the table of :func:`dropkit.kernels.backend.auto_backend`, the one every entry
  point uses: ``"triton"`` for CUDA tensors of a supported dtype when triton imports; ``"portable"`` when
  a ``stream`` is given, under ``torch.compile`` or ``torch.func`` transforms, and on other devices
  (the native backend here replays a CPU generator's state); ``"native"`` for other CPU tensors.
  ``"triton"`` and ``"portable"`` give the same mask for the same ``[seed, offset]``; pass
  ``backend="portable"`` on the CPU for the GPU kernels' masks.

Seeds: with ``stream=None`` each call draws a fresh seed from torch's generator (``generator`` or the
device's default one), so ``torch.manual_seed`` reproduces runs and ``torch.utils.checkpoint``
recomputes identical masks. With ``stream`` (a :class:`dropkit.rng.PhiloxState`) the mask takes the
stream's next counters; wrap checkpointed code with :func:`dropkit.rng.checkpoint_context`, which also
replays an explicit ``generator`` (checkpoint restores only the default ones).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dropkit._validation import check_choice, check_floating, check_probability
from dropkit.kernels import portable
from dropkit.kernels.backend import FUSED_BACKENDS, resolve_backend
from dropkit.kernels.native import state_after_draw
from dropkit.kernels.reference import ACTIVATIONS
from dropkit.rng import (
    PhiloxState,
    keep_mask,
    keep_threshold,
    rng_snapshot,
    seed_from_generator,
    traced_keep_params,
)

__all__ = [
    "next_rng",
    "counter_dropout",
    "bias_act_dropout",
    "bias_dropout_add",
    "dropout_add_layer_norm",
    "dropout_add_rms_norm",
    "dropout_linear",
]

def next_rng(x: Tensor, numel: int, generator: torch.Generator | None, stream: PhiloxState | None) -> Tensor:
    """``[seed, offset]`` on ``x.device`` for a mask of ``numel`` elements (see the module docstring)."""
    if stream is not None:
        if not isinstance(stream, PhiloxState):
            raise TypeError(f"stream must be a dropkit.rng.PhiloxState, got {type(stream).__name__}")
        rng = stream.next(numel).to(x.device)
        # Under compile, keep the pre-advance value for backward (see dropkit.rng.rng_snapshot).
        return rng_snapshot(rng) if torch.compiler.is_compiling() else rng
    return seed_from_generator(generator, x.device)


def _mask_params(
    where: str, p: float, training: bool, x: Tensor, numel: int, generator, stream
) -> tuple[float, Tensor]:
    """Validate ``p`` and return ``(p_eff, rng)``: ``p_eff`` is 0 when nothing is dropped (evaluation or
    ``p == 0``, with no draw and a zero ``rng``), else ``p``."""
    p = check_probability(where, "p", p)
    if not training or p == 0.0:
        return 0.0, torch.zeros(2, dtype=torch.int64, device=x.device)
    return p, next_rng(x, numel, generator, stream)


def _native_mask_params(
    where: str, p: float, training: bool, generator: torch.Generator | None
) -> tuple[float, Tensor, torch.Generator | None]:
    """:func:`_mask_params` for the native backend: ``(p_eff, rng, owner)`` with ``rng`` the state of the
    generator ``owner`` before the draw (a zero int64 ``rng`` and no owner when nothing is dropped)."""
    p = check_probability(where, "p", p)
    if not training or p == 0.0:
        return 0.0, torch.zeros(2, dtype=torch.int64), None
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(f"{where}: backend 'native' needs a CPU generator, got one on '{generator.device}'")
    owner = torch.default_generator if generator is None else generator
    return p, owner.get_state(), owner


def _advance(owner: torch.Generator | None, rng: Tensor, shape: torch.Size, p: float) -> None:
    """Leave the native backend's generator where drawing the mask of ``shape`` directly would have."""
    if owner is not None:
        owner.set_state(state_after_draw(rng, shape, p))


def _params(where, backend, p, training, x, generator, stream) -> tuple[float, Tensor, torch.Generator | None]:
    """``(p_eff, rng, owner)``; ``owner`` is the generator whose state ``rng`` is when the native backend
    drew a mask (pass ``native=owner is not None`` to the portable ops), else None."""
    if backend == "native":
        return _native_mask_params(where, p, training, generator)
    return (*_mask_params(where, p, training, x, x.numel(), generator, stream), None)


def _kernel_keep(p: float, x: Tensor) -> Tensor:
    """The Triton ops' keep test for ``p``, an int32 pair ``[threshold, float32 bits of the scale]``:
    a cached CPU tensor in eager mode (scalar kernel arguments), computed on ``x``'s device by tensor ops
    under ``torch.compile`` (loaded by the kernels), so that one compiled graph serves every rate (see
    :func:`dropkit.kernels.triton_elementwise.keep_in_kernel`)."""
    from dropkit.kernels import triton_elementwise as te

    if torch.compiler.is_compiling():
        return te.device_keep(*traced_keep_params(p, x.device))
    return te.host_keep(keep_threshold(p))


def _check_like(
    where: str, name: str, t: Tensor | None, x: Tensor, shape: tuple[int, ...], *, float32_ok: bool = False
) -> None:
    """``t`` must be None or a tensor of ``shape`` with ``x``'s dtype and device.

    With ``float32_ok`` it may also be float32 when ``x`` is 16-bit: parameters (bias, norm weight)
    under ``torch.autocast``, which keeps them in float32 and produces 16-bit activations (read in
    float32, gradient in float32), and a float32 residual stream (the output then is float32).
    """
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{where}: {name} must be a torch.Tensor or None, got {type(t).__name__}")
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{where}: {name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    wider = float32_ok and x.element_size() == 2
    if t.dtype != x.dtype and not (wider and t.dtype == torch.float32):
        allowed = f"the input's dtype {x.dtype}" + (" or torch.float32" if wider else "")
        raise TypeError(f"{where}: {name} must have {allowed}, got {t.dtype}")
    if t.device != x.device:
        raise ValueError(f"{where}: {name} must be on the input's device {x.device}, got {t.device}")


def _check_input(where: str, x: Tensor) -> None:
    check_floating(where, x)
    if x.dim() == 0:
        raise ValueError(f"{where}: input must have at least 1 dim (features last), got shape ()")


def counter_dropout(
    x: Tensor,
    p: float = 0.5,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
    stream: PhiloxState | None = None,
    backend: str = "auto",
    return_mask: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Counter-based dropout (the ``"portable"``/``"triton"`` paths of :func:`dropkit.functional.dropout`).

    ``p`` is the probability of **dropping**; kept elements are scaled by ``1/q`` with ``q`` the
    quantised keep probability (:func:`dropkit.rng.quantized_keep_prob`). The output is contiguous.
    ``return_mask=True`` also returns the boolean keep-mask (drawn by the same backend), for tests.
    """
    where = "dropout"
    check_floating(where, x)
    backend = resolve_backend(where, backend, x)
    p_eff, rng = _mask_params(where, p, training, x, x.numel(), generator, stream)
    if backend == "triton":
        from dropkit.kernels import triton_elementwise as te

        keep = _kernel_keep(p_eff, x)
        y = te.triton_dropout(x, rng, keep)
        mask = te.triton_keep_mask(rng, tuple(x.shape), keep) if return_mask else None
    else:
        y = portable.portable_dropout(x, p_eff, rng)
        mask = keep_mask(rng, x.shape, p_eff, device=x.device) if return_mask else None
    return (y, mask) if return_mask else y


def bias_act_dropout(
    x: Tensor,
    bias: Tensor | None,
    p: float = 0.1,
    activation: str = "gelu",
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
    stream: PhiloxState | None = None,
    backend: str = "auto",
) -> Tensor:
    """``dropout(activation(x + bias))`` in one kernel; backward keeps ``x``, ``bias`` and the seed.

    Args:
        x: input ``(*, N)``, floating point.
        bias: ``(N,)`` bias added before the activation, or None; ``x``'s dtype, or float32 when ``x``
            is 16-bit (parameters under ``torch.autocast``; its gradient is then float32).
        p: probability of **dropping** an element, in ``[0, 1]`` (default: 0.1).
        activation: ``"relu"``, ``"gelu"`` (exact erf form), ``"silu"`` or ``"none"`` (default: ``"gelu"``).
        training: drop only when True (default: True).
        generator: generator for the seed when ``stream`` is None (default: None, the global one).
        stream: a :class:`dropkit.rng.PhiloxState` to take the mask from (default: None).
        backend: ``"auto"``, ``"native"``, ``"triton"`` or ``"portable"`` (default: ``"auto"``: the Triton
            kernel for CUDA tensors, the native mask replayed in backward for CPU tensors, see the module doc).

    Shape:
        - Input: ``(*, N)``; Output: the same shape, contiguous.

    Example:
        >>> import torch
        >>> from dropkit.functional import bias_act_dropout
        >>> y = bias_act_dropout(torch.randn(4, 8), torch.zeros(8), 0.5, "relu")
        >>> bool((y >= 0).all())
        True
    """
    where = "bias_act_dropout"
    _check_input(where, x)
    check_choice(where, "activation", activation, ACTIVATIONS)
    _check_like(where, "bias", bias, x, (x.shape[-1],), float32_ok=True)
    backend = resolve_backend(where, backend, x, FUSED_BACKENDS, stream=stream, generator=generator, replay=True)
    p_eff, rng, owner = _params(where, backend, p, training, x, generator, stream)
    if backend == "triton":
        from dropkit.kernels.triton_elementwise import triton_bias_act_dropout

        return triton_bias_act_dropout(x, bias, rng, _kernel_keep(p_eff, x), activation)
    y = portable.portable_bias_act_dropout(x, bias, p_eff, rng, activation, native=owner is not None)
    _advance(owner, rng, x.shape, p_eff)
    return y


def bias_dropout_add(
    x: Tensor,
    bias: Tensor | None,
    residual: Tensor,
    p: float = 0.1,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
    stream: PhiloxState | None = None,
    backend: str = "auto",
) -> Tensor:
    """``residual + dropout(x + bias)`` in one kernel; backward keeps only the seed.

    Args:
        x: branch output ``(*, N)``.
        bias: ``(N,)`` bias of the branch, or None; ``x``'s dtype, or float32 when ``x`` is 16-bit.
        residual: the residual stream, the shape of ``x``: ``x``'s dtype, or float32 when ``x`` is 16-bit
            (a float32 residual stream under mixed precision; the output is then float32).
        p: probability of **dropping** an element of ``x + bias``, in ``[0, 1]`` (default: 0.1).
        training, generator, stream, backend: as in :func:`bias_act_dropout`.

    Shape:
        - Input: ``(*, N)``; Output: the same shape, contiguous.

    Example:
        >>> import torch
        >>> from dropkit.functional import bias_dropout_add
        >>> r = torch.randn(2, 8)
        >>> torch.equal(bias_dropout_add(torch.zeros(2, 8), None, r, 0.3), r)
        True
    """
    where = "bias_dropout_add"
    _check_input(where, x)
    _check_like(where, "bias", bias, x, (x.shape[-1],), float32_ok=True)
    if residual is None:
        raise TypeError(f"{where}: residual must be a torch.Tensor, got None")
    _check_like(where, "residual", residual, x, tuple(x.shape), float32_ok=True)
    backend = resolve_backend(where, backend, x, FUSED_BACKENDS, stream=stream, generator=generator, replay=True)
    p_eff, rng, owner = _params(where, backend, p, training, x, generator, stream)
    if backend == "triton":
        from dropkit.kernels.triton_elementwise import triton_bias_dropout_add

        return triton_bias_dropout_add(x, bias, residual, rng, _kernel_keep(p_eff, x))
    y = portable.portable_bias_dropout_add(x, bias, residual, p_eff, rng, native=owner is not None)
    _advance(owner, rng, x.shape, p_eff)
    return y


def _dropout_add_norm(where, norm, x, residual, weight, bias, p, eps, x_bias, training, generator, stream, backend):
    _check_input(where, x)
    n = x.shape[-1]
    if not isinstance(weight, Tensor):
        raise TypeError(f"{where}: weight must be a torch.Tensor, got {type(weight).__name__}")
    _check_like(where, "weight", weight, x, (n,), float32_ok=True)
    _check_like(where, "bias", bias, x, (n,), float32_ok=True)
    _check_like(where, "x_bias", x_bias, x, (n,), float32_ok=True)
    _check_like(where, "residual", residual, x, tuple(x.shape), float32_ok=True)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"{where}: eps must be a number > 0, got {eps!r}")
    backend = resolve_backend(where, backend, x, FUSED_BACKENDS, stream=stream, generator=generator, replay=True)
    p_eff, rng, owner = _params(where, backend, p, training, x, generator, stream)
    if backend == "triton":
        from dropkit.kernels.triton_norm import triton_dropout_add_norm

        keep = _kernel_keep(p_eff, x)
        return triton_dropout_add_norm(x, x_bias, residual, weight, bias, rng, keep, eps, norm)
    out = portable.portable_dropout_add_norm(x, x_bias, residual, weight, bias, p_eff, rng, float(eps), norm,
                                             native=owner is not None)
    _advance(owner, rng, x.shape, p_eff)
    return out


def dropout_add_layer_norm(
    x: Tensor,
    residual: Tensor | None,
    weight: Tensor,
    bias: Tensor | None,
    p: float = 0.1,
    *,
    eps: float = 1e-5,
    x_bias: Tensor | None = None,
    training: bool = True,
    generator: torch.Generator | None = None,
    stream: PhiloxState | None = None,
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """``h = residual + dropout(x + x_bias)``; returns ``(layer_norm(h) * weight + bias, h)``.

    Backward keeps ``h`` (which the caller holds anyway as the next residual), ``weight``, two floats
    per row and the seed; the mask is regenerated.

    Args:
        x: branch output ``(*, N)``.
        residual: residual stream, the shape of ``x``, or None (then ``h = dropout(x + x_bias)``); ``x``'s
            dtype, or float32 when ``x`` is 16-bit, in which case ``h`` is float32 and ``y`` keeps ``x``'s dtype.
        weight: ``(N,)`` LayerNorm scale. bias: ``(N,)`` LayerNorm shift, or None. Both in ``x``'s dtype,
            or float32 when ``x`` is 16-bit (parameters under ``torch.autocast``), as ``x_bias``.
        p: probability of **dropping** an element of ``x + x_bias``, in ``[0, 1]`` (default: 0.1).
        eps: LayerNorm epsilon (default: 1e-5).
        x_bias: ``(N,)`` bias of the branch, added before dropout, or None (default: None).
        training, generator, stream, backend: as in :func:`bias_act_dropout`.

    Shape:
        - Input: ``(*, N)``; Outputs: two tensors of the input's shape, contiguous.

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout_add_layer_norm
        >>> x, r = torch.randn(3, 16), torch.randn(3, 16)
        >>> y, h = dropout_add_layer_norm(x, r, torch.ones(16), torch.zeros(16), 0.1, training=False)
        >>> torch.allclose(h, x + r), torch.allclose(y, torch.nn.functional.layer_norm(x + r, (16,)), atol=1e-6)
        (True, True)
    """
    return _dropout_add_norm(
        "dropout_add_layer_norm", "layernorm", x, residual, weight, bias, p, eps, x_bias, training, generator,
        stream, backend,
    )


def dropout_add_rms_norm(
    x: Tensor,
    residual: Tensor | None,
    weight: Tensor,
    p: float = 0.1,
    *,
    eps: float = 1e-6,
    x_bias: Tensor | None = None,
    training: bool = True,
    generator: torch.Generator | None = None,
    stream: PhiloxState | None = None,
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """``h = residual + dropout(x + x_bias)``; returns ``(h * rsqrt(mean(h²) + eps) * weight, h)``.

    Arguments as in :func:`dropout_add_layer_norm` (RMSNorm has no shift; ``eps`` default 1e-6).

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout_add_rms_norm
        >>> y, h = dropout_add_rms_norm(torch.randn(2, 8), None, torch.ones(8), 0.2)
        >>> y.shape, h.shape
        (torch.Size([2, 8]), torch.Size([2, 8]))
    """
    return _dropout_add_norm(
        "dropout_add_rms_norm", "rmsnorm", x, residual, weight, None, p, eps, x_bias, training, generator,
        stream, backend,
    )


def dropout_linear(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    p: float = 0.1,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
    stream: PhiloxState | None = None,
    backend: str = "auto",
) -> Tensor:
    """``F.linear(dropout(x), weight, bias)`` keeping only ``x``, ``weight`` and the seed for backward.

    The unfused version keeps the dropped copy of ``x`` (for the weight gradient) next to ``x`` itself
    (kept by whatever produced it) and a mask; here the dropped input is regenerated inside backward,
    so saved-tensor memory is one copy of ``x`` plus the weight (the LoRA-dropout pattern).

    Args:
        x: input ``(*, in_features)``.
        weight: ``(out_features, in_features)``. bias: ``(out_features,)`` or None (default: None).
        p: probability of **dropping** an element of ``x``, in ``[0, 1]`` (default: 0.1).
        training, generator, stream: as in :func:`bias_act_dropout`.
        backend: as in :func:`bias_act_dropout`.

    Shape:
        - Input: ``(*, in_features)``; Output: ``(*, out_features)``.

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout_linear
        >>> w = torch.randn(3, 5)
        >>> dropout_linear(torch.randn(2, 5), w, None, 0.2).shape
        torch.Size([2, 3])
    """
    where = "dropout_linear"
    _check_input(where, x)
    if not isinstance(weight, Tensor) or weight.dim() != 2 or weight.shape[1] != x.shape[-1]:
        got = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"{where}: weight must have shape (out_features, {x.shape[-1]}), got {got}")
    _check_like(where, "weight", weight, x, tuple(weight.shape))
    _check_like(where, "bias", bias, x, (weight.shape[0],))
    backend = resolve_backend(where, backend, x, FUSED_BACKENDS, stream=stream, generator=generator, replay=True)
    p_eff, rng, owner = _params(where, backend, p, training, x, generator, stream)
    if p_eff == 0.0:
        # Evaluation or p = 0: a plain Linear, with nothing to regenerate. (Under torch.compile the
        # recomputed-dropout region below would return its input unchanged, which made Inductor's
        # partitioner fail: "Node mm was invalid, but is output".)
        return F.linear(x, weight, bias)
    if backend == "triton":
        from dropkit.kernels.triton_elementwise import triton_dropout

        keep = _kernel_keep(p_eff, x)

        def drop(t: Tensor, r: Tensor) -> Tensor:
            return triton_dropout(t, r, keep)

        return portable.portable_dropout_linear(x, weight, bias, p_eff, rng, drop)
    y = portable.portable_dropout_linear(x, weight, bias, p_eff, rng, native=owner is not None)
    _advance(owner, rng, x.shape, p_eff)
    return y
