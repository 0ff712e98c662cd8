"""The dispatch-level recorder: every random op a forward pass runs, and the fraction its mask drops.

A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees the ATen ops a forward really runs, after
Python code, ``torch.nn.functional`` and composite ops such as ``aten::dropout`` (``bernoulli_`` on the
CPU, ``native_dropout`` on CUDA) or the math path of ``scaled_dot_product_attention`` were lowered. A
random op (``bernoulli``, ``rand``, ``randint``, ``native_dropout``, fused SDPA kernels with
``dropout_p > 0``, ...) opens an :class:`RandomEvent`. Its outputs are *tainted*, and the taint follows
the tensors computed from them (comparisons, casts, views, the integer rounds of a counter-based
generator), so the recorder sees where the random numbers meet an activation: ``x * mask``,
``torch.where(keep, x, 0)`` or ``x.masked_fill(drop, 0)``. There the fraction of zeros in the mask is the
fraction dropped, counted over the mask's own elements (a mask shared along dims is counted once).
dropkit's own paths are caught the same way: the native backend (``randint`` words compared with a
threshold), the portable/Philox one (a seed from ``randint``; its mask is then computed from a Python
integer, so the fraction is measured at the module's output instead) and the fused ops.

Masks that went through a non-elementwise op (DropBlock's max-pool, TokenDropout's sort) are marked
``structured``: their elements are not independent, so no binomial bound applies to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakTensorKeyDictionary

__all__ = ["RandomEvent", "RandomOpRecorder", "RANDOM_OPS", "FUSED_ATTENTION_OPS"]

#: ATen ops that draw random numbers (schema names without the ``aten::`` namespace).
RANDOM_OPS: frozenset[str] = frozenset({
    "bernoulli", "bernoulli_", "native_dropout", "_fused_dropout", "rand", "rand_like", "randn", "randn_like",
    "randint", "randint_like", "random_", "uniform_", "normal", "normal_", "exponential_", "geometric_",
    "cauchy_", "log_normal_", "multinomial", "randperm", "poisson", "binomial", "rrelu_with_noise",
    "rrelu_with_noise_", "_standard_gamma", "_sample_dirichlet",
})
#: Fused attention kernels: random only when their ``dropout_p`` argument is > 0.
FUSED_ATTENTION_OPS: frozenset[str] = frozenset({
    "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_fused_attention_overrideable", "_efficient_attention_forward",
    "_flash_attention_forward",
})
_MASK_OPS = frozenset({"mul", "mul_", "where", "masked_fill", "masked_fill_", "div", "div_"})
_ADD_OPS = frozenset({"add", "add_", "sub", "sub_", "addcmul", "addcmul_"})
# Ops after which a mask's elements are no longer independent draws.
_STRUCTURED = re.compile(
    r"pool|conv|sum|mean|max|min|cum|topk|sort|gather|scatter|index|unfold|col2im|im2col|upsample|interp|"
    r"mm|matmul|embedding|prod|kthvalue|median|mode|nonzero|unique"
)


@dataclass
class RandomEvent:
    """One random op and, once an activation used it, the fraction it dropped.

    Attributes:
        index: its position among the pass's random ops.
        op: the ATen op, e.g. ``"aten::bernoulli_.float"``.
        module: qualified name of the innermost running module (``""``: the root).
        module_training: that module's ``training`` flag.
        call: the functional call it ran inside (``F.dropout``, SDPA, ...), if any.
        numel: random values drawn.
        kind: how the random numbers were used: ``"mask"`` (an activation multiplied by a {0, c} mask or
            selected by a boolean one), ``"noise"`` (multiplied by other values: Gaussian dropout),
            ``"additive noise"``, ``"mix"`` (``where`` between two tensors: zoneout), ``"fused"`` (a kernel
            that drops inside, measured at its output), ``"other"``, or ``"unused"`` (no activation met it).
        dropped: mask elements that dropped, over all uses.
        total: mask elements counted.
        structured: the mask went through a non-elementwise op (see the module docstring).
        measured_by: ``"mask"`` or ``"module output"`` (see :mod:`dropkit.audit.audit`), None if not measured.
        units: independent draws behind the measurement, the ``n`` of its binomial bound: the mask's
            elements, or the batch size when measured at a module's output (masks are at least per sample).
    """

    index: int
    op: str
    module: str
    module_training: bool
    call: Any = None
    numel: int = 0
    kind: str = "unused"
    dropped: int = 0
    total: int = 0
    structured: bool = False
    measured_by: str | None = None
    units: int = 0
    counted_masks: set = field(default_factory=set, repr=False, compare=False)

    @property
    def fraction(self) -> float | None:
        """The measured fraction dropped, or None when nothing was measured."""
        return self.dropped / self.total if self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "module": self.module,
            "module_training": self.module_training,
            "call": None if self.call is None else self.call.describe(),
            "numel": self.numel,
            "kind": self.kind,
            "dropped": self.dropped,
            "total": self.total,
            "fraction": self.fraction,
            "structured": self.structured,
            "measured_by": self.measured_by,
            "units": self.units,
        }


@dataclass
class _Taint:
    event: RandomEvent
    structured: bool = False


class RandomOpRecorder(TorchDispatchMode):
    """Record every random op and measure the masks that activations meet; see the module docstring.

    Args:
        module_name: returns the qualified name of the running module.
        module_training: returns that module's ``training`` flag.
        current_call: returns the running :class:`~dropkit.audit.calls.FunctionalCall` or None.

    Example:
        >>> import torch, torch.nn.functional as F
        >>> rec = RandomOpRecorder(lambda: "", lambda: True, lambda: None)
        >>> with rec:
        ...     _ = F.dropout(torch.ones(1000), 0.5)
        >>> event, = rec.events
        >>> event.kind, event.total, 0.4 < event.fraction < 0.6
        ('mask', 1000, True)
    """

    def __init__(self, module_name, module_training, current_call) -> None:
        super().__init__()
        self._module_name = module_name
        self._module_training = module_training
        self._current_call = current_call
        self.events: list[RandomEvent] = []
        self.suspended = False
        self._taint: WeakTensorKeyDictionary = WeakTensorKeyDictionary()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.suspended:
            return func(*args, **kwargs)
        schema = func._schema.name
        namespace, _, short = schema.partition("::")
        if namespace == "aten" and _draws(func, short, args, kwargs):
            return self._random(func, short, args, kwargs)
        inputs = [t for t in tree_leaves((args, {k: v for k, v in kwargs.items() if k != "out"})) if isinstance(t, Tensor)]
        taints = [self._taint[t] for t in inputs if t in self._taint]
        if not taints:
            return func(*args, **kwargs)
        activations = [t for t in inputs if t not in self._taint and t.is_floating_point() and t.numel() > 1]
        if not activations:  # random numbers becoming a mask: the taint follows
            out = func(*args, **kwargs)
            structured = any(t.structured for t in taints) or bool(_STRUCTURED.search(short))
            for t in _tensors(out):
                self._taint[t] = _Taint(taints[0].event, structured)
            return out
        return self._apply(func, namespace, short, args, kwargs, taints[0], activations[0])

    def _random(self, func, short: str, args, kwargs):
        out = func(*args, **kwargs)
        outputs = _tensors(out)
        event = RandomEvent(
            index=len(self.events),
            op=f"{func._schema.name}.{func._overloadname}" if func._overloadname else func._schema.name,
            module=self._module_name(),
            module_training=bool(self._module_training()),
            call=self._current_call(),
            numel=outputs[0].numel() if outputs else 0,
        )
        self.events.append(event)
        if short == "native_dropout":  # (output, keep mask): the mask is there to count
            keep = outputs[1]
            event.kind, event.measured_by, event.numel = "mask", "mask", keep.numel()
            event.total = event.units = keep.numel()
            event.dropped = int(keep.numel() - torch.count_nonzero(keep).item())
        elif short in FUSED_ATTENTION_OPS:
            event.kind = "fused"
        else:
            for t in outputs:
                self._taint[t] = _Taint(event)
        return out

    def _apply(self, func, namespace: str, short: str, args, kwargs, taint: _Taint, activation: Tensor):
        """An activation meets random numbers: measure before running (in-place ops change the mask)."""
        event = taint.event
        mask = next((t for t in tree_leaves(args) if isinstance(t, Tensor) and t in self._taint), None)
        kind, dropped, total = "other", 0, 0
        if namespace == "dropkit":
            kind = "fused"
        elif short in _MASK_OPS and mask is not None:
            kind, dropped, total = _measure(short, args, mask)
        elif short in _ADD_OPS:
            kind = "additive noise"
        out = func(*args, **kwargs)
        if kind == "fused" and isinstance(out, Tensor) and out.shape == activation.shape:
            nonzero = activation != 0
            total = int(torch.count_nonzero(nonzero).item())
            dropped = int(torch.count_nonzero((out == 0) & nonzero).item())
        if mask is not None and total:
            # A mask reused (a recurrent mask at every step, often as a fresh view of the same memory) holds
            # the same draws: counting them again would overstate n in the binomial bound.
            key = (mask.untyped_storage().data_ptr(), mask.storage_offset(), tuple(mask.shape), tuple(mask.stride()))
            if key in event.counted_masks:
                total = 0
            event.counted_masks.add(key)
        if event.kind in ("unused", "other") or event.kind == kind:
            event.kind = kind
            if total:
                event.dropped += dropped
                event.total += total
                event.units += total
                event.measured_by = "mask"
        event.structured = event.structured or taint.structured
        for t in _tensors(out):  # the result is an activation again (also for out= and in-place ops)
            self._taint.pop(t, None)
        return out


def _measure(short: str, args: tuple, mask: Tensor) -> tuple[str, int, int]:
    """``(kind, dropped, total)`` for ``x * mask``, ``where(mask, x, y)`` or ``x.masked_fill(mask, v)``."""
    total = mask.numel()
    if short.startswith("masked_fill"):
        return "mask", int(torch.count_nonzero(mask).item()), total
    if short == "where":
        if args[0] is not mask:
            return "other", 0, 0
        a, b = args[1], args[2]
        kept = int(torch.count_nonzero(mask).item())
        if _is_zero(b):
            return "mask", total - kept, total
        if _is_zero(a):
            return "mask", kept, total
        return "mix", total - kept, total
    if short.startswith("div"):
        return "noise", 0, 0
    if mask.dtype == torch.bool:
        return "mask", total - int(torch.count_nonzero(mask).item()), total
    nonzero = mask[mask != 0]
    if nonzero.numel() and not bool((nonzero == nonzero.reshape(-1)[0]).all()):
        return "noise", 0, 0
    return "mask", total - nonzero.numel(), total


def _is_zero(value: object) -> bool:
    if isinstance(value, Tensor):
        return value.numel() == 1 and float(value.reshape(-1)[0]) == 0.0
    return isinstance(value, (int, float)) and value == 0


def _argument(func, args: tuple, kwargs: dict, name: str) -> Any:
    """The value of the schema argument ``name`` in this call (None when the op has no such argument)."""
    for i, argument in enumerate(func._schema.arguments):
        if argument.name == name:
            if name in kwargs:
                return kwargs[name]
            return args[i] if i < len(args) else (argument.default_value if argument.has_default_value() else None)
    return None


def _draws(func, short: str, args: tuple, kwargs: dict) -> bool:
    """True when this call draws random numbers: a random op not told ``train``/``training=False``
    (``native_dropout``, ``rrelu_with_noise`` in eval draw nothing), or a fused attention op with
    ``dropout_p > 0``."""
    if short in FUSED_ATTENTION_OPS:
        try:
            return float(_argument(func, args, kwargs, "dropout_p") or 0.0) > 0
        except (TypeError, ValueError):
            return False
    if short not in RANDOM_OPS:
        return False
    return all(_argument(func, args, kwargs, flag) is not False for flag in ("train", "training"))


def _tensors(out: Any) -> list[Tensor]:
    return [t for t in tree_leaves(out) if isinstance(t, Tensor)]
