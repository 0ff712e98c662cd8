"""The one backend table (dropkit.kernels.backend): each row, and every entry point resolving through it."""

from __future__ import annotations

import pytest
import torch

from dropkit.functional import bias_act_dropout, dropout
from dropkit.kernels.backend import FUSED_BACKENDS, auto_backend, resolve_backend
from dropkit.nn import Dropout
from dropkit.rng import PhiloxState


def test_auto_rows_on_the_cpu() -> None:
    x = torch.ones(4, 8)
    assert auto_backend(x) == "native"  # row 5
    assert auto_backend(x, stream=PhiloxState(seed=1)) == "portable"  # row 2
    assert auto_backend(x, native=False) == "portable"  # row 3: counter_dropout
    assert auto_backend(x, replay=True) == "native"  # the fused ops, eager CPU
    assert auto_backend(x, shared_mask=True) == "native"  # sharing only matters for the Triton row
    seen = []
    torch.func.grad(lambda v: (seen.append((auto_backend(v), auto_backend(v, replay=True))) or v).sum())(x)
    assert seen == [("native", "portable")]  # row 4: traced code cannot replay a generator's state


def test_resolve_checks_explicit_choices_with_the_entry_points_name() -> None:
    x = torch.ones(3)
    with pytest.raises(ValueError, match="op: stream needs backend 'auto', 'portable' or 'triton', got 'native'"):
        resolve_backend("op", "native", x, FUSED_BACKENDS, stream=PhiloxState(seed=1))
    with pytest.raises(RuntimeError, match="op: backend 'native' needs a CPU tensor, got device 'meta'"):
        resolve_backend("op", "native", torch.ones(3, device="meta"), FUSED_BACKENDS, replay=True)
    with pytest.raises(ValueError, match="op: backend must be one of"):
        resolve_backend("op", "native", x)  # counter_dropout offers no native backend
    assert resolve_backend("op", "native", torch.ones(3, device="meta"), FUSED_BACKENDS) == "native"


def test_module_fast_path_and_functional_and_fused_ops_draw_through_the_same_choice() -> None:
    x = torch.randn(6, 16)
    g = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    via_module = Dropout(0.3, generator=g())(x)
    assert torch.equal(via_module, dropout(x, 0.3, generator=g()))
    assert torch.equal(via_module, dropout(x, 0.3, generator=g(), backend="native"))
    # the fused op's native backend replays the same native mask
    assert torch.equal(bias_act_dropout(x, None, 0.3, "none", generator=g()), via_module)
