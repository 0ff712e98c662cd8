"""Audit dropout: which dropout in a model really fires, at which rate, and whether that is what it declares.

:func:`audit_dropout` runs a model once under a dispatch-level recorder and reports, per module, the
declared rate, whether it fired and the fraction it dropped, with findings such as "configured 0.1, never
fired", "fires in eval" and "functional dropout with a hard-coded training=True". :func:`disable_dropout`
and :func:`enable_dropout` switch every kind of dropout the audit finds off and back on exactly. The
``dropkit audit`` command runs the audit on a model given by import path and exits non-zero on a
disagreement. See ``docs/audit.md``.
"""

from dropkit.audit.audit import audit_dropout
from dropkit.audit.calls import FunctionalCall
from dropkit.audit.declared import DeclaredRate
from dropkit.audit.recorder import RandomEvent
from dropkit.audit.report import AuditReport, Finding, ModuleAudit, format_table
from dropkit.audit.switch import disable_dropout, dropout_disabled, enable_dropout, is_dropout_disabled

__all__ = [
    "AuditReport",
    "DeclaredRate",
    "Finding",
    "FunctionalCall",
    "ModuleAudit",
    "RandomEvent",
    "audit_dropout",
    "disable_dropout",
    "dropout_disabled",
    "enable_dropout",
    "format_table",
    "is_dropout_disabled",
]
