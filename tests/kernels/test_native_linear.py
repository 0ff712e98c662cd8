"""dropout_linear's "native" CPU backend: the native dropout mask, replayed in backward from the generator
state; values and gradients of the unfused version, the generator advanced as by a direct draw, and a
constant number of bytes kept for backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from dropkit.functional import dropout, dropout_linear
from dropkit.memory import saved_tensor_bytes
from dropkit.rng import PhiloxState


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(3, 7), (40, 70), (2, 150, 130)])  # tiny, small and large native paths
@pytest.mark.parametrize("p", [0.5, 0.3])
def test_values_and_gradients_equal_linear_of_native_dropout(shape, p: float) -> None:
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, shape[-1], dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    y = dropout_linear(x, w, b, p, generator=_gen(1))
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, w, b)]
    y_ref = F.linear(dropout(leaves[0], p, generator=_gen(1)), leaves[1], leaves[2])
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    dy = torch.randn_like(y)
    grads = torch.autograd.grad(y, (x, w, b), dy)
    grads_ref = torch.autograd.grad(y_ref, leaves, dy)
    for got, want in zip(grads, grads_ref):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_auto_is_native_on_the_cpu_and_the_generator_advances_as_a_direct_draw() -> None:
    x, w = torch.randn(30, 20), torch.randn(4, 20)
    g_fused, g_plain = _gen(2), _gen(2)
    y = dropout_linear(x, w, None, 0.3, generator=g_fused)
    assert torch.equal(y, F.linear(dropout(x, 0.3, generator=g_plain), w))
    assert torch.equal(torch.rand(5, generator=g_fused), torch.rand(5, generator=g_plain))
    torch.manual_seed(4)
    first = dropout_linear(x, w, None, 0.3)
    torch.manual_seed(4)
    assert torch.equal(dropout_linear(x, w, None, 0.3), first)  # the global generator reproduces runs


def test_backward_keeps_the_generator_state_not_a_mask_or_a_copy() -> None:
    x = torch.randn(512, 256, requires_grad=True)
    w = torch.randn(8, 256, requires_grad=True)
    kept = saved_tensor_bytes(lambda: dropout_linear(x, w, None, 0.2).sum().backward(), exclude=(x, w))
    assert kept == torch.default_generator.get_state().numel()  # 5056 bytes, whatever x's size


def test_activation_checkpointing_gives_the_same_gradients() -> None:
    x = torch.randn(64, 32, requires_grad=True)
    w = torch.randn(16, 32, requires_grad=True)
    fn = lambda t, u: torch.tanh(dropout_linear(t, u, None, 0.4))  # noqa: E731
    torch.manual_seed(9)
    plain = torch.autograd.grad(fn(x, w).sum(), (x, w))
    torch.manual_seed(9)
    ckpt = torch.autograd.grad(checkpoint(fn, x, w, use_reentrant=False).sum(), (x, w))
    assert all(torch.equal(a, b) for a, b in zip(plain, ckpt))


def test_edge_rates_and_evaluation() -> None:
    x, w = torch.randn(6, 5, requires_grad=True), torch.randn(3, 5)
    assert torch.equal(dropout_linear(x, w, None, 0.3, training=False), F.linear(x, w))
    assert torch.equal(dropout_linear(x, w, None, 0.0), F.linear(x, w))
    y = dropout_linear(x, w, None, 1.0)
    y.sum().backward()
    assert torch.equal(y, torch.zeros(6, 3)) and torch.equal(x.grad, torch.zeros(6, 5))


def test_native_backend_refusals_name_the_problem() -> None:
    x, w = torch.randn(4, 5), torch.randn(3, 5)
    with pytest.raises(ValueError, match="stream needs backend 'auto', 'portable' or 'triton', got 'native'"):
        dropout_linear(x, w, None, 0.2, backend="native", stream=PhiloxState(1))
    with pytest.raises(ValueError, match="backend must be one of .*got 'nativ'"):
        dropout_linear(x, w, None, 0.2, backend="nativ")
    compiled = torch.compile(lambda t: dropout_linear(t, w, None, 0.2, backend="native"), backend="eager", fullgraph=True)
    with pytest.raises(Exception, match="torch.compile and torch.func cannot trace"):
        compiled(x)
