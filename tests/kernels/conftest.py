"""Run the Triton kernels on the CPU: TRITON_INTERPRET must be set before triton is imported."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
