"""Where declared and measured dropout disagree: the rules that turn an audit pass into findings.

Training mode:

- **never-fires**: a module declares a rate > 0 (or is a stochastic layer without a readable rate) and no
  random op ran inside it or its children. A dropout module whose *parent* passed the same rate to a
  functional call counts as used: Hugging Face and timm attention hand ``self.attn_dropout.p`` to
  ``scaled_dot_product_attention`` instead of calling the module.
- **rate-mismatch**: an element-wise mask dropped a fraction ``f`` of its ``n`` independent draws that is
  farther than ``6·sqrt(p(1-p)/n) + 2**-16`` from every rate ``p`` expected there (the functional call's
  rate, else the module's declared rates). The 6 standard deviations of the binomial count make a false
  alarm rarer than 1e-8 per mask; ``2**-16`` covers dropkit's quantised keep probability.
- **config-unused** (a warning): a config key such as ``hidden_dropout_prob`` is > 0 and no dropout at that
  rate fired. Configs carry keys a given model class never reads (GPT-2's ``summary_first_dropout``
  outside the double-heads model), so this does not fail the audit on its own.

Eval mode: every random op is a finding, **hard-coded-training** when it came from a functional call with
``training=True`` inside a module in eval mode, **sdpa-in-eval** for attention given ``dropout_p > 0``, and
**fires-in-eval** otherwise.
"""

from __future__ import annotations

import math

from dropkit.audit.calls import FunctionalCall
from dropkit.audit.declared import DeclaredRate
from dropkit.audit.recorder import RandomEvent
from dropkit.audit.report import Finding, ModuleAudit

__all__ = ["binomial_bound", "rate_agrees", "train_findings", "eval_findings"]

SIGMAS = 6.0
QUANTUM = 2.0**-16


def binomial_bound(p: float, n: int) -> float:
    """Largest ``|f - p|`` accepted for the fraction ``f`` dropped out of ``n`` independent draws.

    Example:
        >>> round(binomial_bound(0.5, 10_000), 4)
        0.03
    """
    return SIGMAS * math.sqrt(p * (1.0 - p) / max(n, 1)) + QUANTUM


def rate_agrees(fraction: float, n: int, p: float) -> bool:
    """True when dropping ``fraction`` of ``n`` draws is consistent with rate ``p``."""
    return abs(fraction - p) <= binomial_bound(p, n)


def _in_subtree(module: str, root: str) -> bool:
    return root == "" or module == root or module.startswith(root + ".")


def _parent(name: str) -> str:
    return name.rpartition(".")[0]


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9


def _expected(event: RandomEvent, row: ModuleAudit | None) -> list[float]:
    if event.call is not None:
        return [event.call.p]
    if row is None:
        return []
    return [d.value for d in row.declared]


def train_findings(
    rows: list[ModuleAudit], events: list[RandomEvent], calls: list[FunctionalCall], config: list[DeclaredRate]
) -> list[Finding]:
    """The training-mode findings (see the module docstring)."""
    findings: list[Finding] = []
    by_name = {row.module: row for row in rows}
    for row in rows:
        rates = [d.value for d in row.declared if d.value > 0]
        expects = bool(rates) or (row.stochastic and not row.declared)
        if not expects or not row.training:
            continue
        if any(_in_subtree(e.module, row.module) for e in events):
            continue
        parent = _parent(row.module) if row.module else None
        if parent is not None and any(c.module == parent and any(_same(c.p, r) for r in rates) for c in calls):
            continue
        what = ", ".join(f"{d.attribute}={d.value:g}" for d in row.declared if d.value > 0) or "a stochastic layer"
        findings.append(Finding(row.module, "never-fires", f"configured {what}, never fired"))
    for event in events:
        if event.structured or event.kind not in ("mask", "mix", "fused") or not event.total:
            continue
        expected = _expected(event, by_name.get(event.module))
        if not expected:
            continue
        f, n = event.fraction, event.units or event.total
        candidates = expected + ([1 - p for p in expected] if event.kind == "mix" else [])
        if not any(rate_agrees(f, n, p) for p in candidates):
            want = "/".join(f"{p:g}" for p in expected)
            findings.append(Finding(
                event.module, "rate-mismatch",
                f"configured {want}, dropped {f:.3f} of n={n} (bound ±{binomial_bound(expected[0], n):.3f})",
            ))
    for rate in config:
        if rate.value <= 0:
            continue
        used = any(c.p == rate.value or _same(c.p, rate.value) for c in calls) or any(
            any(_same(d.value, rate.value) for d in row.declared)
            and any(_in_subtree(e.module, row.module) for e in events)
            for row in rows
        )
        if not used:
            findings.append(Finding(
                rate.module, "config-unused", f"{rate.attribute}={rate.value:g}: no dropout at this rate fired",
                severity="warning",
            ))
    return findings


def eval_findings(events: list[RandomEvent]) -> list[Finding]:
    """The eval-mode findings: one per module and cause (see the module docstring)."""
    findings: dict[tuple[str, str], Finding] = {}
    for event in events:
        call = event.call
        measured = "" if event.fraction is None else f", dropped {event.fraction:.3f}"
        if call is not None and call.training and not call.module_training:
            kind = "hard-coded-training"
            message = f"functional dropout with a hard-coded training=True: {call.describe()} fires in eval{measured}"
        elif call is not None and call.function == "scaled_dot_product_attention":
            kind, message = "sdpa-in-eval", f"{call.describe()} fires in eval{measured}"
        elif event.module_training:
            kind = "fires-in-eval"
            message = f"fires in eval: the module stayed in training mode ({event.op}{measured})"
        else:
            kind, message = "fires-in-eval", f"fires in eval ({event.op}{measured})"
        findings.setdefault((event.module, message), Finding(event.module, kind, message))
    return list(findings.values())
