"""Fused, counter-based dropout kernels: the only package that imports triton (lazily, when used).

Importing :mod:`dropkit.kernels` never imports triton; the Triton modules
(:mod:`~dropkit.kernels.triton_elementwise`, :mod:`~dropkit.kernels.triton_norm`) load on the first
call that runs the ``"triton"`` backend. :mod:`~dropkit.kernels.reference` is the plain-PyTorch
reference used by tests and benchmarks; :mod:`~dropkit.kernels.portable` is the counter-based path in
plain torch and :mod:`~dropkit.kernels.native` the native CPU mask. :mod:`~dropkit.kernels.backend` holds
the one table that turns ``backend="auto"`` into one of them, for every entry point. Nothing here imports
:mod:`dropkit.functional` (which builds on this package).
"""

from dropkit.kernels.backend import BACKENDS, TRITON_DTYPES, resolve_backend, triton_available
from dropkit.kernels.fused import (
    bias_act_dropout,
    bias_dropout_add,
    counter_dropout,
    dropout_add_layer_norm,
    dropout_add_rms_norm,
    dropout_linear,
)

__all__ = [
    "BACKENDS",
    "TRITON_DTYPES",
    "bias_act_dropout",
    "bias_dropout_add",
    "counter_dropout",
    "dropout_add_layer_norm",
    "dropout_add_rms_norm",
    "dropout_linear",
    "resolve_backend",
    "triton_available",
]
