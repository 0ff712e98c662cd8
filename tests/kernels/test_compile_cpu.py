"""Dropout on the CPU under ``torch.compile`` with Inductor.

The portable path: the same masks, a correct backward mask, and nothing but the 16-byte seed kept for
backward (no mask, no Philox words); Inductor fuses the Philox rounds into its C++ loops and the mask
is computed in an activation-checkpoint region so the partitioner recomputes it in backward. The
native path: with the default generator Inductor draws the words (masks of the same distribution as
eager code's, not the same bits) and one graph serves every rate; with an explicit generator, eager's
masks and gradients bit for bit. These tests compile with Inductor
(a few seconds each) because the saving decisions are the min-cut partitioner's, which ``aot_eager``
does not run.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo.testing

from dropkit.functional import bias_dropout_add, dropout, dropout_add_layer_norm, dropout_linear
from dropkit.nn import Dropout
from dropkit.rng import PhiloxState, keep_scale, quantized_keep_prob

pytestmark = pytest.mark.xdist_group("compile-cpu")


def _saved(fn) -> list[tuple[torch.dtype, int]]:
    """(dtype, bytes) of each storage autograd keeps while ``fn`` runs."""
    storages: dict[int, tuple[torch.dtype, int]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = (t.dtype, s.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sorted(storages.values(), key=lambda v: -v[1])


@pytest.mark.parametrize("with_stream", [True, False])
def test_compiled_dropout_keeps_only_the_seed_and_replays_its_mask(with_stream: bool) -> None:
    x = torch.randn(96, 160, requires_grad=True)

    def f(t: torch.Tensor, s: PhiloxState) -> torch.Tensor:
        return dropout(t, 0.3, backend="portable", stream=s if with_stream else None)

    compiled = torch.compile(f, dynamic=False)
    outs = []
    for fn in (f, compiled):
        torch.manual_seed(11)
        y = fn(x, PhiloxState(seed=5))
        (g,) = torch.autograd.grad(y.sum(), [x])
        # The backward regenerates the forward's mask (a stream's state is advanced in place by the
        # forward; the backward must not read the advanced state).
        assert torch.equal(g != 0, y != 0)
        outs.append(y)
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(11)
    assert _saved(lambda: compiled(x, PhiloxState(seed=5))) == [(torch.int64, 16)]


def test_compiled_fused_ops_keep_what_the_eager_ones_keep() -> None:
    m, n = 64, 96
    x, res = torch.randn(m, n, requires_grad=True), torch.randn(m, n, requires_grad=True)
    w, b = torch.randn(n, requires_grad=True), torch.randn(n, requires_grad=True)
    weight = torch.randn(32, n, requires_grad=True)
    cases = {
        "bias_dropout_add": lambda t, s: bias_dropout_add(t, b, res, 0.2, stream=s),
        "dropout_add_layer_norm": lambda t, s: dropout_add_layer_norm(t, res, w, b, 0.2, stream=s)[0],
        "dropout_linear": lambda t, s: dropout_linear(t, weight, None, 0.2, stream=s),
    }
    for name, f in cases.items():
        compiled = torch.compile(f, dynamic=False)
        eager_y = f(x, PhiloxState(seed=9))
        compiled_y = compiled(x, PhiloxState(seed=9))
        torch.testing.assert_close(compiled_y, eager_y, atol=1e-5, rtol=1e-5, msg=name)
        eager_g = torch.autograd.grad(f(x, PhiloxState(seed=9)).sum(), [x])[0]
        compiled_g = torch.autograd.grad(compiled(x, PhiloxState(seed=9)).sum(), [x])[0]
        torch.testing.assert_close(compiled_g, eager_g, atol=1e-5, rtol=1e-5, msg=name)
        kept_eager = _saved(lambda: f(x, PhiloxState(seed=9)))
        kept_compiled = _saved(lambda: compiled(x, PhiloxState(seed=9)))
        # No mask (bool / 1 byte per element) and no Philox words in either; dropout_linear keeps x
        # and the weight, never the dropped copy of x.
        assert not any(dtype in (torch.bool, torch.int32, torch.int16) for dtype, _ in kept_compiled), name
        assert sum(nb for _, nb in kept_compiled) <= sum(nb for _, nb in kept_eager) + 4 * m * 4, (name, kept_compiled)


@pytest.mark.parametrize("p", [0.1, 0.5])  # 16-bit and 8-bit lanes
def test_compiled_native_dropout_with_a_generator_draws_the_eager_masks(p: float) -> None:
    x = torch.randn(80, 130, requires_grad=True)
    dy = torch.randn(80, 130)
    compiled = torch.compile(lambda t, g: dropout(t, p, backend="native", generator=g), dynamic=False)
    results = []
    for fn in (lambda t, g: dropout(t, p, backend="native", generator=g), compiled):
        y = fn(x, torch.Generator().manual_seed(4))
        (g,) = torch.autograd.grad(y, [x], dy)
        results.append((y, g))
    (y_eager, g_eager), (y_compiled, g_compiled) = results
    assert torch.equal(y_compiled, y_eager) and torch.equal(g_compiled, g_eager)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_compiled_native_dropout_serves_every_rate_with_one_graph(dtype: torch.dtype) -> None:
    """Default generator: Inductor draws the words (not eager's masks); the rate is a symbol after it
    first changes, so new rates reuse the graph; values, backward mask and reproducibility still hold."""
    layer = Dropout(0.5)
    counter = torch._dynamo.testing.CompileCounterWithBackend("inductor")
    compiled = torch.compile(layer, fullgraph=True, backend=counter)
    x = torch.randn(256, 130).to(dtype).requires_grad_()
    dy = torch.randn(256, 130).to(dtype)
    for p in (0.5, 0.1, 0.3, 0.25):
        layer.p = p
        torch.manual_seed(7)
        y = compiled(x)
        (g,) = torch.autograd.grad(y, [x], dy)
        torch.manual_seed(7)
        assert torch.equal(compiled(x), y)  # torch.manual_seed reproduces compiled masks
        keep = y != 0
        q = quantized_keep_prob(p)
        n = x.numel()
        assert abs(keep.sum().item() - q * n) <= 6 * (n * q * (1 - q)) ** 0.5, p
        # Kept elements are x * keep_scale(p) rounded once in x's dtype, as in eager code.
        assert torch.equal(y[keep], (x.detach()[keep].float() * keep_scale(p)).to(dtype)), p
        # Backward applies the forward's mask and scale.
        assert torch.equal(g, torch.where(keep, (dy.float() * keep_scale(p)).to(dtype), torch.zeros((), dtype=dtype)))
        # At most one byte per element kept for backward (the mask or the words, never a float mask),
        # plus the 0-dim float64 scale.
        torch.manual_seed(7)
        assert sum(nb for _, nb in _saved(lambda: compiled(x))) <= x.numel() + 8
    assert counter.frame_count <= 2

def test_compiled_portable_ops_serve_every_rate_with_one_graph() -> None:
    """The portable path keeps the rate in tensors under compile (dropkit.rng.traced_keep_params): after
    the first change one graph serves every rate, and the outputs are eager's bits."""
    x = torch.randn(64, 40, requires_grad=True)
    bias, residual = torch.randn(40), torch.randn(64, 40)
    stream_eager, stream_compiled = PhiloxState(11), PhiloxState(11)

    def fn(t: torch.Tensor, p: float, stream: PhiloxState) -> torch.Tensor:
        return dropout(t, p, backend="portable", stream=stream) + bias_dropout_add(t, bias, residual, p, stream=stream)

    counter = torch._dynamo.testing.CompileCounterWithBackend("inductor")
    compiled = torch.compile(fn, fullgraph=True, backend=counter)
    for p in (0.5, 0.1, 0.3, 0.25, 0.7):
        y_eager = fn(x, p, stream_eager)
        y_compiled = compiled(x, p, stream_compiled)
        assert torch.equal(y_compiled, y_eager), p
        (g_eager,) = torch.autograd.grad(y_eager.sum(), [x])
        (g_compiled,) = torch.autograd.grad(y_compiled.sum(), [x])
        assert torch.equal(g_compiled, g_eager), p
    assert counter.frame_count <= 2


@pytest.mark.parametrize("op", ["dropout_linear", "DropoutLinear", "bias_dropout_add", "dropout_add_layer_norm"])
def test_compiled_fused_ops_in_evaluation_with_grad(op: str) -> None:
    # Regression: a compiled dropout_linear in eval mode (a PEFT model after fuse_lora_dropout, evaluated
    # with grad on) failed in Inductor's partitioner ("Node mm was invalid, but is output").
    from dropkit.nn import DropoutLinear

    torch.manual_seed(0)
    w, b, lw = torch.randn(8, 64), torch.randn(64), torch.rand(64) + 0.5
    layer = DropoutLinear(64, 8, p=0.2).eval()
    fns = {
        "dropout_linear": lambda x: dropout_linear(x, w, None, 0.2, training=False),
        "DropoutLinear": layer,
        "bias_dropout_add": lambda x: bias_dropout_add(x, b, x * 2, 0.2, training=False),
        "dropout_add_layer_norm": lambda x: dropout_add_layer_norm(x, x * 2, lw, b, 0.2, training=False)[0],
    }
    fn = fns[op]
    x = torch.randn(4, 64, requires_grad=True)
    expected = fn(x)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), x)
    got = torch.compile(fn)(x)
    (grad,) = torch.autograd.grad(got.square().sum(), x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(grad, grad_expected)
