"""``audit_dropout``: run a model once and report which dropout really fires, and at what rate.

No library tells a user which of the dropouts in a model actually run: dropout configured but never
applied (LoRA dropout on a layer type that ignores it, torchtune#996, peft#1806), dropout that runs in
eval (SDPA given a ``dropout_p`` in eval, functional dropout with a hard-coded ``training=True``), or
"disable dropout" helpers that miss half of it. The audit runs one forward pass under three recorders:

- forward hooks on every submodule keep the stack of running modules
  (:class:`~dropkit.audit.attribution.ModuleStack`);
- a ``TorchFunctionMode`` keeps each functional dropout call with its rate and ``training`` flag
  (:mod:`dropkit.audit.calls`);
- a ``TorchDispatchMode`` sees every random ATen op and measures the fraction its mask drops
  (:mod:`dropkit.audit.recorder`). When a mask cannot be followed to the activation (dropkit's portable
  backend computes it from a Python integer seed), the fraction is measured at the output of the dropout
  module instead: outputs that are zero where the input was not.

It then compares what fired with what the model declares (:mod:`dropkit.audit.declared`) by the rules of
:mod:`dropkit.audit.verdict`. The model is left as found: no parameter, buffer or hook is added, every
module's ``training`` flag, every buffer's value (BatchNorm's running statistics move in a training-mode
pass) and torch's random state (CPU and the CUDA devices in use) are restored; no gradient is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from dropkit._validation import check_bool
from dropkit.audit.attribution import ModuleStack, same_shape_pair
from dropkit.audit.calls import DROPOUT_FUNCTIONS, FunctionalCall, parse_call
from dropkit.audit.declared import config_rates, module_rates
from dropkit.audit.recorder import RandomEvent, RandomOpRecorder
from dropkit.audit.report import AuditReport, ModuleAudit
from dropkit.audit.verdict import eval_findings, train_findings
from dropkit.surgery.stochastic import is_regulariser, is_stochastic

__all__ = ["audit_dropout", "split_inputs"]


class _CallRecorder(TorchFunctionMode):
    """Keep every call of :data:`~dropkit.audit.calls.DROPOUT_FUNCTIONS` that can drop."""

    def __init__(self, stack: ModuleStack) -> None:
        super().__init__()
        self.stack = stack
        self.calls: list[FunctionalCall] = []
        self.current: list[FunctionalCall] = []
        self.suspended = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        parsed = None if self.suspended or func not in DROPOUT_FUNCTIONS else parse_call(func, args, kwargs)
        if parsed is None:
            return func(*args, **kwargs)
        name, p, training = parsed
        call = FunctionalCall(name, p, training, self.stack.current, bool(self.stack.current_module.training))
        self.calls.append(call)
        self.current.append(call)
        try:
            return func(*args, **kwargs)
        finally:
            self.current.pop()


def split_inputs(example_inputs: object, *, where: str = "audit_dropout") -> tuple[tuple, dict[str, Any]]:
    """``(args, kwargs)`` for ``model(*args, **kwargs)``: a tensor is one argument, a tuple or list the
    positional arguments, a mapping the keyword arguments.

    Example:
        >>> import torch
        >>> args, kwargs = split_inputs({"input_ids": torch.zeros(1, 4, dtype=torch.long)})
        >>> args, list(kwargs)
        ((), ['input_ids'])
    """
    if isinstance(example_inputs, Tensor):
        return (example_inputs,), {}
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    if isinstance(example_inputs, Mapping):
        if not all(isinstance(k, str) for k in example_inputs):
            raise TypeError(f"{where}: example_inputs as a mapping must have string keys, got {list(example_inputs)!r}")
        return (), dict(example_inputs)
    raise TypeError(
        f"{where}: example_inputs must be a Tensor, a tuple/list of positional arguments or a dict of keyword "
        f"arguments, got {type(example_inputs).__name__}"
    )


def _check_devices(model: nn.Module, args: tuple, kwargs: dict, where: str) -> list[int]:
    """Inputs must be on the model's device (when it has one); returns the CUDA device indices in use."""
    devices = {t.device for t in (*model.parameters(), *model.buffers())}
    tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)]
    if len(devices) == 1:
        (device,) = devices
        for i, t in enumerate(tensors):
            if t.device != device:
                raise ValueError(
                    f"{where}: example input {i} is on device '{t.device}', the model is on '{device}' "
                    f"(move it with .to('{device}'))"
                )
    used = devices | {t.device for t in tensors}
    return sorted({d.index or 0 for d in used if d.type == "cuda"})


def audit_dropout(model: nn.Module, example_inputs: object, *, training: bool = True) -> AuditReport:
    """Run ``model`` once on ``example_inputs`` and report, per module, the dropout it declares and what fired.

    Args:
        model: any ``nn.Module``; it is left as found (modes, parameters, buffers, hooks, random state).
            A ``torch.compile`` wrapper is audited through the eager module it wraps.
        example_inputs: a tensor, a tuple/list of positional arguments, or a dict of keyword arguments
            (``{"input_ids": ids}`` for a Hugging Face model), on the model's device.
        training: run the pass in training mode (``model.train()``: declared dropout should fire at its rate)
            or in eval mode (``model.eval()``: nothing random should run) (default: True).

    Returns:
        An :class:`~dropkit.audit.report.AuditReport`: ``report.ok`` is False when a disagreement was found,
        ``print(report)`` shows the table, ``report.write_json(path)`` saves it.

    Raises:
        TypeError: ``model`` is not an ``nn.Module`` or ``example_inputs`` is of another type.
        ValueError: an input is on another device than the model.
        RuntimeError: the model raised on the example inputs (the original error is chained).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> import torch.nn.functional as F
        >>> class Net(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc, self.drop, self.unused = nn.Linear(8, 64), nn.Dropout(0.25), nn.Dropout(0.1)
        ...     def forward(self, x):
        ...         return F.dropout(self.drop(self.fc(x)), 0.2, training=True)  # hard-coded training=True
        >>> report = audit_dropout(Net(), torch.randn(32, 8))
        >>> report.ok, [f.message for f in report.findings]
        (False, ['configured p=0.1, never fired'])
        >>> 0.15 < report.module("drop").fraction < 0.35
        True
        >>> [f.kind for f in audit_dropout(Net(), torch.randn(32, 8), training=False).findings]
        ['hard-coded-training']
    """
    where = "audit_dropout"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: model must be a torch.nn.Module, got {type(model).__name__}")
    check_bool(where, "training", training)
    if isinstance(getattr(model, "_orig_mod", None), nn.Module) and type(model).__name__ == "OptimizedModule":
        model = model._orig_mod  # torch.compile's wrapper: audit the eager module, under its own names
    args, kwargs = split_inputs(example_inputs, where=where)
    cuda_devices = _check_devices(model, args, kwargs, where)
    modes = {m: m.training for m in model.modules()}
    # A training-mode forward updates buffers (BatchNorm's running statistics): put their values back.
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    unmeasured: list[RandomEvent] = []

    def measure_output(name: str, module: nn.Module, module_args: tuple, output: Any) -> None:
        # only random numbers no activation met (a mask built from a Python-int seed); noise is not a mask
        pending = [e for e in unmeasured if e.module == name and e.kind == "unused"]
        pair = same_shape_pair(module_args, output) if pending and is_regulariser(module) else None
        if pair is None:
            return
        recorder.suspended = calls.suspended = True
        try:
            x, y = pair
            nonzero = x != 0 if y is not x else torch.ones_like(y, dtype=torch.bool)
            event = pending[-1]
            event.total = int(torch.count_nonzero(nonzero).item())
            event.dropped = int(torch.count_nonzero((y == 0) & nonzero).item())
            event.units = int(x.shape[0]) if x.dim() > 1 else 1
            event.kind, event.measured_by = "mask", "module output"
        finally:
            recorder.suspended = calls.suspended = False

    stack = ModuleStack(model, on_exit=lambda *a: measure_output(*a))
    calls = _CallRecorder(stack)
    recorder = RandomOpRecorder(
        lambda: stack.current, lambda: stack.current_module.training, lambda: calls.current[-1] if calls.current else None
    )
    unmeasured = recorder.events
    try:
        with torch.random.fork_rng(devices=cuda_devices), torch.no_grad():
            model.train(training)
            with stack, calls, recorder:
                try:
                    model(*args, **kwargs)
                except Exception as exc:
                    raise RuntimeError(
                        f"{where}: the model raised {type(exc).__name__} on the example inputs: {exc}"
                    ) from exc
    finally:
        for module, mode in modes.items():
            module.training = mode
        with torch.no_grad():
            for buffer, value in buffers:
                buffer.copy_(value)
    return _build_report(model, training, recorder.events, calls.calls)


def _build_report(
    model: nn.Module, training: bool, events: list[RandomEvent], calls: list[FunctionalCall]
) -> AuditReport:
    rows: list[ModuleAudit] = []
    for name, module in model.named_modules():
        declared = module_rates(name, module)
        stochastic = not declared and is_stochastic(module)
        mine = [e for e in events if e.module == name]
        my_calls = [c for c in calls if c.module == name]
        if mine or my_calls or stochastic or any(d.value > 0 for d in declared):
            rows.append(ModuleAudit(name, type(module).__name__, training, declared, stochastic, mine, my_calls))
    config = config_rates(model)
    findings = train_findings(rows, events, calls, config) if training else eval_findings(events)
    findings.sort(key=lambda f: f.severity != "error")
    return AuditReport(training, rows, findings, config, list(events), list(calls))
