"""The audit's result: one row per module that declares or draws dropout, the findings, a table and JSON."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from dropkit._io import atomic_write_text
from dropkit.audit.calls import FunctionalCall
from dropkit.audit.declared import DeclaredRate
from dropkit.audit.recorder import RandomEvent

__all__ = ["ModuleAudit", "Finding", "AuditReport", "format_table"]


@dataclass
class ModuleAudit:
    """What one module declares and what fired inside it (in the module itself, not its children).

    Attributes:
        module: qualified name (``""``: the root).
        type: its class name.
        training: its ``training`` flag during the pass.
        declared: the rates it declares (:func:`dropkit.audit.declared.module_rates`).
        stochastic: it is a stochastic regulariser even without a readable rate (ConcreteDropout, GaussianNoise).
        events: the random ops attributed to it.
        calls: the functional dropout calls it made.
    """

    module: str
    type: str
    training: bool
    declared: list[DeclaredRate] = field(default_factory=list)
    stochastic: bool = False
    events: list[RandomEvent] = field(default_factory=list)
    calls: list[FunctionalCall] = field(default_factory=list)

    @property
    def fired(self) -> bool:
        return bool(self.events)

    @property
    def dropped(self) -> tuple[int, int]:
        """``(dropped, total)`` over its measured, element-wise masks."""
        measured = [e for e in self.events if e.total and e.kind in ("mask", "fused")]
        return sum(e.dropped for e in measured), sum(e.total for e in measured)

    @property
    def fraction(self) -> float | None:
        dropped, total = self.dropped
        return dropped / total if total else None

    def declared_text(self) -> str:
        if not self.declared:
            return "stochastic" if self.stochastic else "-"
        shown = [d for d in self.declared if d.value > 0] or self.declared  # VariationalLSTM: the rates in use
        return ", ".join(f"{d.attribute}={d.value:g}" for d in shown)

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "type": self.type,
            "training": self.training,
            "declared": [d.to_dict() for d in self.declared],
            "stochastic": self.stochastic,
            "fired": self.fired,
            "random_ops": len(self.events),
            "fraction_dropped": self.fraction,
            "measured_elements": self.dropped[1],
            "events": [e.to_dict() for e in self.events],
            "calls": [c.describe() for c in self.calls],
        }


@dataclass
class Finding:
    """A disagreement between what is declared and what fired.

    Attributes:
        module: where (qualified name; ``""`` is the root).
        kind: ``"never-fires"``, ``"rate-mismatch"``, ``"fires-in-eval"``, ``"hard-coded-training"``,
            ``"sdpa-in-eval"`` or ``"config-unused"``.
        message: one line for a person, e.g. ``"configured 0.1, never fired"``.
        severity: ``"error"`` (the CLI exits non-zero) or ``"warning"`` (config keys a model may not use).
    """

    module: str
    kind: str
    message: str
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.module, "kind": self.kind, "message": self.message, "severity": self.severity}


@dataclass
class AuditReport:
    """The result of :func:`dropkit.audit.audit_dropout`.

    Attributes:
        training: the mode the model ran in.
        modules: a row per module that declares a rate > 0, is stochastic, or drew random numbers.
        findings: the disagreements, errors first.
        config: the rates found in Hugging Face / PEFT configs.
        events: every random op of the pass, in order.
        calls: every functional dropout call of the pass, in order.
    """

    training: bool
    modules: list[ModuleAudit]
    findings: list[Finding]
    config: list[DeclaredRate]
    events: list[RandomEvent]
    calls: list[FunctionalCall]

    @property
    def ok(self) -> bool:
        """True when there is no error finding (warnings allowed)."""
        return not any(f.severity == "error" for f in self.findings)

    @property
    def random_ops(self) -> int:
        return len(self.events)

    def module(self, name: str) -> ModuleAudit:
        """The row of module ``name``; ``KeyError`` naming the rows when it has none."""
        for row in self.modules:
            if row.module == name:
                return row
        raise KeyError(f"AuditReport.module: no row for {name!r}; rows: {[r.module for r in self.modules]}")

    def findings_for(self, name: str) -> list[Finding]:
        return [f for f in self.findings if f.module == name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": "train" if self.training else "eval",
            "ok": self.ok,
            "random_ops": self.random_ops,
            "findings": [f.to_dict() for f in self.findings],
            "modules": [m.to_dict() for m in self.modules],
            "config": [c.to_dict() for c in self.config],
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as JSON, atomically."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def __str__(self) -> str:
        return format_table(self)


def _verdict(row: ModuleAudit, report: AuditReport) -> str:
    mine = [f for f in report.findings if f.module == row.module]
    if mine:
        return "; ".join(f.message for f in mine)
    if not (row.fired or row.declared or row.stochastic):
        return "-"
    parent = row.module.rpartition(".")[0] if row.module else None
    rates = [d.value for d in row.declared if d.value > 0]
    used = [c for c in report.calls if c.module == parent and any(abs(c.p - r) <= 1e-9 for r in rates)]
    if report.training and not row.fired and used:  # attention reading self.attn_dropout.p for SDPA
        return f"ok: its rate is used by {parent or '(root)'}'s {used[0].describe()}"
    return "ok"


def format_table(report: AuditReport) -> str:
    """A plain-text table: module, type, declared rates, random ops, fraction dropped, verdict.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from dropkit.audit import audit_dropout
        >>> net = nn.Sequential(nn.Linear(8, 64), nn.Dropout(0.25), nn.Linear(64, 2))
        >>> print(format_table(audit_dropout(net, torch.randn(32, 8))).splitlines()[0].split())
        ['module', 'type', 'declared', 'random', 'ops', 'dropped', '(n)', 'verdict']
    """
    header = ("module", "type", "declared", "random ops", "dropped (n)", "verdict")
    lines = []
    for row in report.modules:
        dropped, total = row.dropped
        measured = f"{dropped / total:.3f} ({total})" if total else ("not measured" if row.fired else "-")
        lines.append((row.module or "(root)", row.type, row.declared_text(), str(len(row.events)), measured,
                      _verdict(row, report)))
    widths = [max(len(h), *(len(r[i]) for r in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines]
    others = [f for f in report.findings if f.module not in {r.module for r in report.modules}]
    out += [f"{f.severity}: {f.module or '(root)'}: {f.message}" for f in others]
    mode = "train" if report.training else "eval"
    errors = sum(f.severity == "error" for f in report.findings)
    warnings = len(report.findings) - errors
    out.append(f"{mode} mode: {report.random_ops} random ops, {errors} disagreements, {warnings} warnings")
    return "\n".join(out)
