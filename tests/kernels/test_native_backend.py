"""The fused ops' "native" CPU backend: the native dropout mask, replayed in backward from the generator
state; values and gradients of the unfused version, the generator advanced as by a direct draw, and a
constant number of bytes kept for backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from dropkit.functional import (
    bias_act_dropout,
    bias_dropout_add,
    dropout,
    dropout_add_layer_norm,
    dropout_add_rms_norm,
    dropout_linear,
)
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


N = 40


def _fused_and_reference(op: str):
    """(fused(x, r, w, b, gen), reference(x, r, w, b, gen)) for each elementwise fused op, p = 0.3."""
    rms = lambda h, w: h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6) * w  # noqa: E731
    return {
        "bias_act_dropout": (
            lambda x, r, w, b, g: bias_act_dropout(x, b, 0.3, "gelu", generator=g),
            lambda x, r, w, b, g: dropout(F.gelu(x + b), 0.3, generator=g),
        ),
        "bias_dropout_add": (
            lambda x, r, w, b, g: bias_dropout_add(x, b, r, 0.3, generator=g),
            lambda x, r, w, b, g: r + dropout(x + b, 0.3, generator=g),
        ),
        "dropout_add_layer_norm": (
            lambda x, r, w, b, g: dropout_add_layer_norm(x, r, w, b, 0.3, generator=g),
            lambda x, r, w, b, g: (lambda h: (F.layer_norm(h, (N,), w, b), h))(dropout(x, 0.3, generator=g) + r),
        ),
        "dropout_add_rms_norm": (
            lambda x, r, w, b, g: dropout_add_rms_norm(x, r, w, 0.3, generator=g),
            lambda x, r, w, b, g: (lambda h: (rms(h, w), h))(dropout(x, 0.3, generator=g) + r),
        ),
    }[op]


OPS = ["bias_act_dropout", "bias_dropout_add", "dropout_add_layer_norm", "dropout_add_rms_norm"]
USED_INPUTS = {"bias_act_dropout": [0, 3], "bias_dropout_add": [0, 1, 3], "dropout_add_layer_norm": [0, 1, 2, 3],
               "dropout_add_rms_norm": [0, 1, 2]}


@pytest.mark.parametrize("rows", [3, 500])  # the tiny and the large native paths
@pytest.mark.parametrize("op", OPS)
def test_fused_ops_equal_the_unfused_native_computation(op: str, rows: int) -> None:
    fused, reference = _fused_and_reference(op)
    tensors = [torch.randn(rows, N, dtype=torch.float64), torch.randn(rows, N, dtype=torch.float64),
               torch.rand(N, dtype=torch.float64) + 0.5, torch.randn(N, dtype=torch.float64)]
    a = [t.clone().requires_grad_(True) for t in tensors]
    b = [t.clone().requires_grad_(True) for t in tensors]
    out, ref = fused(*a, _gen(5)), reference(*b, _gen(5))
    out, ref = (out if isinstance(out, tuple) else (out,)), (ref if isinstance(ref, tuple) else (ref,))
    for o, e in zip(out, ref):
        torch.testing.assert_close(o, e, rtol=1e-12, atol=1e-12)
    cotangents = [torch.randn_like(o) for o in out]
    used = USED_INPUTS[op]  # indices into (x, residual, norm weight, bias)
    grads = torch.autograd.grad(out, [a[i] for i in used], cotangents)
    grads_ref = torch.autograd.grad(ref, [b[i] for i in used], cotangents)
    for got, want in zip(grads, grads_ref):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("op", OPS)
def test_fused_ops_leave_the_generator_as_a_direct_draw_and_keep_no_mask(op: str) -> None:
    fused, reference = _fused_and_reference(op)
    x, r, w, b = torch.randn(64, N), torch.randn(64, N), torch.rand(N) + 0.5, torch.randn(N)
    g_fused, g_ref = _gen(6), _gen(6)
    with torch.no_grad():
        fused(x, r, w, b, g_fused)
        reference(x, r, w, b, g_ref)
    assert torch.equal(torch.rand(5, generator=g_fused), torch.rand(5, generator=g_ref))
    if op == "bias_dropout_add":  # nothing else is kept for backward: the generator state is all
        xg = x.clone().requires_grad_(True)
        assert saved_tensor_bytes(lambda: fused(xg, r, w, b, _gen(6))) == torch.default_generator.get_state().numel()


@pytest.mark.parametrize("op", OPS)
def test_auto_is_native_on_the_cpu_and_portable_is_still_the_gpu_kernels_mask(op: str) -> None:
    x, r = torch.randn(8, N), torch.randn(8, N)
    calls = {
        "bias_act_dropout": lambda backend: bias_act_dropout(x, None, 0.3, "relu", generator=_gen(1), backend=backend),
        "bias_dropout_add": lambda backend: bias_dropout_add(x, None, r, 0.3, generator=_gen(1), backend=backend),
        "dropout_add_layer_norm": lambda backend: dropout_add_layer_norm(
            x, r, torch.ones(N), None, 0.3, generator=_gen(1), backend=backend)[1],
        "dropout_add_rms_norm": lambda backend: dropout_add_rms_norm(
            x, r, torch.ones(N), 0.3, generator=_gen(1), backend=backend)[1],
    }
    call = calls[op]
    assert torch.equal(call("auto"), call("native"))
    assert not torch.equal(call("native"), call("portable"))  # a different random stream


@pytest.mark.cuda
def test_auto_with_a_cuda_generator_on_a_cpu_tensor_takes_the_portable_path() -> None:
    x, r = torch.randn(8, N), torch.randn(8, N)
    gen = torch.Generator(device="cuda").manual_seed(1)
    y = bias_dropout_add(x, None, r, 0.3, generator=gen)  # the seed is drawn on the GPU, the mask on the CPU
    expected = bias_dropout_add(x, None, r, 0.3, generator=torch.Generator(device="cuda").manual_seed(1),
                                backend="portable")
    assert torch.equal(y, expected)
