"""Every scheduled dropout layer under ``torch.compile(fullgraph=True)``, when what it was compiled for
changes: the rate (a :class:`DropoutScheduler` step) or the batch size (a smaller last batch).

After such a change Dynamo re-traces once with the value as a symbol: a symbolic float rate, on which
``float()`` or ``math.isnan`` break the graph, or symbolic sizes, which random factories called with
``generator=None`` cannot take. Both were errors under ``fullgraph=True`` (the size one even without).
Each case compiles with ``aot_eager`` (autograd traced too) and checks outputs and input gradients
against the eager model under the same seed.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo.testing
from torch import nn
from torch.nn.utils import parametrize

import dropkit.nn as dk
from dropkit.schedules import DropoutScheduler

pytestmark = pytest.mark.xdist_group("compile")

# Rates that are not multiples of 1/256: the native path under compile reads 16 random bits per element
# for every rate, eager code 8 bits for multiples of 1/256 (see test_native_rate_multiple_of_1_256).
RATES = (0.3, 0.1, 0.2, 0.15)


def _weight_dropped_linear() -> nn.Module:
    lin = nn.Linear(8, 8)
    parametrize.register_parametrization(lin, "weight", dk.WeightDrop(0.3))
    return lin


class _Residual(nn.Module):
    """``ResidualDropout`` takes two inputs: feed it ``x`` twice."""

    def __init__(self) -> None:
        super().__init__()
        self.add = dk.ResidualDropout(0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.add(x, x * 2.0)


# name -> (layer factory, input shape, whether one compiled graph serves every rate). Not: layers whose
# shapes depend on the rate (DropPathResidual's number of kept samples, TokenDropout's number of kept
# tokens). MultiHeadSelfAttention's attention dropout is dropkit's on the CPU (SDPA's on CUDA, whose
# constant dropout_p recompiles per rate).
CASES = {
    "Dropout": (lambda: dk.Dropout(0.3), (64, 8), True),
    "Dropout-broadcast": (lambda: dk.Dropout(0.3, broadcast_dims=(1,)), (4, 16, 8), True),
    "Dropout-portable": (lambda: dk.Dropout(0.3, backend="portable"), (64, 8), True),
    "Dropout-portable-broadcast": (lambda: dk.Dropout(0.3, backend="portable", broadcast_dims=(1,)), (4, 16, 8), True),
    "GaussianDropout": (lambda: dk.GaussianDropout(0.3), (64, 8), True),
    "AlphaDropout": (lambda: dk.AlphaDropout(0.3), (64, 8), True),
    "FeatureAlphaDropout": (lambda: dk.FeatureAlphaDropout(0.3), (4, 8, 5, 5), True),
    "Dropout2d": (lambda: dk.Dropout2d(0.3), (4, 8, 5, 5), True),
    "DropBlock2d": (lambda: dk.DropBlock2d(0.3, block_size=3), (4, 8, 9, 9), True),
    "DropPath": (lambda: dk.DropPath(0.3), (16, 8), True),
    "DropPathResidual": (lambda: dk.DropPathResidual(nn.Linear(8, 8), 0.3), (16, 8), False),
    "DropConnectLinear": (lambda: dk.DropConnectLinear(8, 8, p=0.3), (16, 8), True),
    "WeightDrop": (_weight_dropped_linear, (16, 8), True),
    "LockedDropout": (lambda: dk.LockedDropout(0.3), (5, 4, 8), True),
    "ResidualDropout": (_Residual, (16, 8), True),
    "TokenDropout": (lambda: dk.TokenDropout(0.3), (4, 10, 8), False),
    "MultiHeadSelfAttention": (lambda: dk.MultiHeadSelfAttention(8, heads=2, attn_p=0.3, proj_p=0.2), (2, 5, 8), True),
    "ZoneoutLSTMCell": (lambda: dk.ZoneoutLSTMCell(8, 8, p=0.3), (4, 8), True),
}


def _first(y):
    return y[0] if isinstance(y, tuple) else y


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    """Dynamo remembers, per code object, which values changed; start every case from a clean slate."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _check_step(name: str, model: nn.Module, compiled, x: torch.Tensor, seed: int) -> None:
    xc, xe = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch.manual_seed(seed)
    yc = _first(compiled(xc))
    yc.sum().backward()
    torch.manual_seed(seed)
    ye = _first(model(xe))
    ye.sum().backward()
    assert torch.equal(yc, ye), f"{name}: compiled output differs from eager (seed {seed}, shape {tuple(x.shape)})"
    torch.testing.assert_close(xc.grad, xe.grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_fullgraph_compile_follows_a_changing_rate(name: str) -> None:
    make, shape, one_graph = CASES[name]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Identity(), make())
    rates = iter(RATES)
    sched = DropoutScheduler(model, lambda step: next(rates))
    counter = torch._dynamo.testing.CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(model, fullgraph=True, backend=counter)
    x = torch.randn(*shape)
    for step in range(len(RATES)):
        sched.step(step)
        _check_step(name, model, compiled, x, step)
    if one_graph:  # the first trace specialises on the rate, the second makes it symbolic
        assert counter.frame_count <= 2, f"{name}: {counter.frame_count} compilations for {len(RATES)} rates"


@pytest.mark.parametrize("name", list(CASES))
def test_compile_follows_a_changing_batch_size(name: str) -> None:
    make, shape, _ = CASES[name]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Identity(), make())
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    for seed, batch in enumerate((shape[0], shape[0] // 2, 3)):
        _check_step(name, model, compiled, torch.randn(batch, *shape[1:]), seed)
