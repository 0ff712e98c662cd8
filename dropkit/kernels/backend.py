"""Which backend draws a dropout mask: the one table every entry point resolves ``backend=`` with.

:func:`dropkit.functional.dropout`, :class:`dropkit.nn.Dropout`, :func:`dropkit.kernels.counter_dropout`
and the fused ops (:func:`~dropkit.kernels.bias_act_dropout`, ``bias_dropout_add``,
``dropout_add_layer_norm``, ``dropout_add_rms_norm``, ``dropout_linear``) all call
:func:`resolve_backend`, so ``"auto"`` means the same thing everywhere. The backends:

* ``"triton"``: the Triton kernels (:mod:`dropkit.kernels.triton_elementwise`,
  :mod:`dropkit.kernels.triton_norm`); CUDA tensors of float16, bfloat16 or float32 (or any tensor
  under ``TRITON_INTERPRET=1``, for tests).
* ``"portable"``: the same counter-based masks in plain torch (:mod:`dropkit.kernels.portable`), any
  device and dtype; backward keeps a 16-byte seed.
* ``"native"``: few random bits per element from torch's generator (:mod:`dropkit.kernels.native`),
  the fastest on the CPU. Element-wise dropout keeps a boolean mask and also runs traced
  (``torch.compile``, ``torch.func``); the fused ops instead *replay* the generator's state in backward,
  which needs a CPU tensor and a CPU generator and cannot be traced.
"""

from __future__ import annotations

import functools
import importlib
import os

import torch
from torch import Tensor

from dropkit._validation import check_choice
from dropkit.rng import traced_or_transformed

__all__ = ["BACKENDS", "FUSED_BACKENDS", "TRITON_DTYPES", "triton_available", "auto_backend", "resolve_backend"]

#: Backends of the counter-based ops (:func:`~dropkit.kernels.counter_dropout`): no native mask.
BACKENDS = ("auto", "portable", "triton")
#: Backends of :func:`~dropkit.functional.dropout` and the fused ops.
FUSED_BACKENDS = ("auto", "native", "portable", "triton")
TRITON_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


@functools.lru_cache(maxsize=None)
def triton_available() -> bool:
    """True when triton imports (checked once, at the first call, never at dropkit import)."""
    try:
        importlib.import_module("triton")
    except Exception:  # noqa: BLE001 - a broken triton install is "not available", like a missing one
        return False
    return True


def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def auto_backend(
    x: Tensor,
    *,
    stream: object | None = None,
    generator: torch.Generator | None = None,
    shared_mask: bool = False,
    replay: bool = False,
    native: bool = True,
) -> str:
    """What ``backend="auto"`` runs for ``x``: the first row of this table that holds.

    ======  ==========================================================================  ============
    row     condition                                                                   backend
    ======  ==========================================================================  ============
    1       ``x`` is a CUDA tensor of float16/bfloat16/float32, triton imports and the   ``"triton"``
            mask is not shared (no ``broadcast_dims``)
    2       a ``stream`` (:class:`~dropkit.rng.PhiloxState`) is given                     ``"portable"``
    3       the op has no native path (``native=False``: ``counter_dropout``)            ``"portable"``
    4       the op replays the generator in backward (``replay=True``: the fused ops)    ``"portable"``
            and ``x`` or ``generator`` is not on the CPU, or the code is traced
            (``torch.compile``, ``torch.func``)
    5       otherwise                                                                    ``"native"``
    ======  ==========================================================================  ============

    So on the CPU in eager mode everything is native; under ``torch.compile`` on the CPU element-wise
    dropout stays native (its traced path draws with ``randint``, so a compiled model with an explicit
    generator draws the eager masks, and one graph serves every rate a scheduler sets) while the fused
    ops go portable (row 4); on CUDA everything is Triton where the dtype allows.

    No validation: :func:`resolve_backend` checks its arguments and is what public entry points call;
    this is the table alone, cheap enough for a module's ``forward``.

    Args:
        x: the input whose mask is drawn.
        stream: the op's ``stream`` argument (default: None).
        generator: the op's ``generator`` argument (default: None).
        shared_mask: the mask is shared along some dims (``broadcast_dims``; default: False).
        replay: the op's native path replays the generator's state in backward (default: False).
        native: the op has a native path (default: True).

    Example:
        >>> import torch
        >>> auto_backend(torch.ones(3)), auto_backend(torch.ones(3), native=False)
        ('native', 'portable')
    """
    if x.is_cuda and x.dtype in TRITON_DTYPES and not shared_mask and triton_available():
        return "triton"
    if stream is not None or not native:
        return "portable"
    if replay:
        off_cpu = x.device.type != "cpu" or (generator is not None and generator.device.type != "cpu")
        if off_cpu or traced_or_transformed():
            return "portable"
    return "native"


def resolve_backend(
    where: str,
    backend: str,
    x: Tensor,
    allowed: tuple[str, ...] = BACKENDS,
    *,
    stream: object | None = None,
    generator: torch.Generator | None = None,
    shared_mask: bool = False,
    replay: bool = False,
) -> str:
    """Check ``backend`` (one of ``allowed``) and turn ``"auto"`` into a concrete one for ``x``.

    ``"auto"`` follows :func:`auto_backend`'s table (native only when ``allowed`` has it). An explicit
    choice is checked that it can run: ``"triton"`` needs triton, a CUDA tensor (or
    ``TRITON_INTERPRET=1``) and a float16/bfloat16/float32 dtype; ``"native"`` takes no ``stream``, and
    with ``replay`` needs a CPU tensor outside traced code.

    Args:
        where: the entry point's name, for error messages.
        backend: the requested backend.
        x: the input whose mask is drawn.
        allowed: the backends the entry point offers (default: :data:`BACKENDS`).
        stream, generator, shared_mask, replay: as in :func:`auto_backend`.

    Returns:
        ``"triton"``, ``"portable"`` or ``"native"``.

    Raises:
        ValueError: ``backend`` not in ``allowed``; ``"native"`` with a ``stream``.
        RuntimeError: the chosen backend cannot run here (no triton, wrong device, traced replay).
        TypeError: ``"triton"`` for a dtype it does not support.

    Example:
        >>> import torch
        >>> resolve_backend("dropout", "auto", torch.ones(2), ("auto", "native", "portable", "triton"))
        'native'
        >>> resolve_backend("dropout", "portable", torch.ones(2))
        'portable'
    """
    backend = check_choice(where, "backend", backend, allowed)
    if backend == "auto":
        return auto_backend(x, stream=stream, generator=generator, shared_mask=shared_mask, replay=replay,
                            native="native" in allowed)
    if backend == "native":
        if stream is not None:
            raise ValueError(f"{where}: stream needs backend 'auto', 'portable' or 'triton', got 'native'")
        if replay:
            if x.device.type != "cpu":
                raise RuntimeError(f"{where}: backend 'native' needs a CPU tensor, got device '{x.device}'")
            if traced_or_transformed():
                raise RuntimeError(f"{where}: backend 'native' replays the generator's state, which torch.compile and "
                                   "torch.func cannot trace; use backend 'auto' or 'portable'")
    if backend == "triton":
        if not triton_available():
            raise RuntimeError(f"{where}: backend 'triton' needs the triton package, which is not installed")
        if not x.is_cuda and not _interpret():
            raise RuntimeError(
                f"{where}: backend 'triton' needs a CUDA tensor, got device '{x.device}' "
                "(set TRITON_INTERPRET=1 to run the kernels on the CPU for testing)"
            )
        if x.dtype not in TRITON_DTYPES:
            raise TypeError(f"{where}: backend 'triton' supports float16, bfloat16 and float32, got dtype {x.dtype}")
    return backend
