"""Fused kernels under TRITON_INTERPRET=1 (tiny shapes) against the reference replaying the same mask."""

from __future__ import annotations

import math

import pytest
import torch

from dropkit.functional import (
    bias_act_dropout,
    bias_dropout_add,
    dropout,
    dropout_add_layer_norm,
    dropout_add_rms_norm,
    dropout_linear,
)
from dropkit.kernels import counter_dropout, reference
from dropkit.nn import Dropout
from dropkit.rng import PhiloxState, keep_mask, make_rng, quantized_keep_prob

pytest.importorskip("triton")

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
BACKENDS = ["triton", "portable"]
# (atol, rtol) of kernel vs reference. Both compute in float32 from the same inputs; they differ by
# the order of float32 operations and, for bf16 under the interpreter, by its truncating fp32->bf16
# store (the GPU rounds to nearest), so up to 2 bf16 ulps.
TOL = {torch.float32: (2e-5, 2e-5), torch.float16: (4e-3, 4e-3), torch.bfloat16: (4e-2, 3e-2), torch.float64: (1e-12, 1e-12)}
SEED = 20240601


def _stream() -> PhiloxState:
    return PhiloxState(seed=SEED, offset=5)


def _rng() -> torch.Tensor:
    return make_rng(SEED, 5)


def _close(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> None:
    atol, rtol = TOL[dtype]
    torch.testing.assert_close(a.float(), b.float(), atol=atol, rtol=rtol)


def _leaf(*shape, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape).to(dtype).requires_grad_(True)


# ----------------------------------------------------------------------------- masks


@pytest.mark.parametrize("backend", BACKENDS)
def test_mask_equals_rng_mask_and_outputs_are_zero_or_scaled(backend: str) -> None:
    x = torch.randn(5, 11)
    p = 0.3
    y, mask = counter_dropout(x, p, stream=_stream(), backend=backend, return_mask=True)
    assert torch.equal(mask, keep_mask(_rng(), x.shape, p))
    assert torch.equal(y, torch.where(mask, x * (1 / quantized_keep_prob(p)), 0.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_counters_crossing_2_to_the_32_and_a_64_bit_seed(backend: str) -> None:
    # Philox takes the counter as two 32-bit words (low, high) and the seed as the key pair; a 20-call
    # mask starting 4 calls below 2**32 exercises the carry into the high word on both paths.
    seed = (0x9E3779B9 << 31) | 12345
    rng = make_rng(seed, (1 << 32) - 4)
    x = torch.randn(4, 40)
    y, mask = counter_dropout(x, 0.5, stream=PhiloxState(seed, (1 << 32) - 4), backend=backend, return_mask=True)
    assert torch.equal(mask, keep_mask(rng, x.shape, 0.5))
    assert 0 < int(mask.sum()) < mask.numel()


def test_mask_identical_between_triton_and_portable_and_dtypes() -> None:
    x = torch.randn(3, 37)
    masks = []
    for backend in BACKENDS:
        for dtype in DTYPES:
            y = counter_dropout(x.to(dtype), 0.4, stream=_stream(), backend=backend)
            masks.append(y != 0)
    assert all(torch.equal(m, masks[0]) for m in masks[1:])


@pytest.mark.parametrize("backend", BACKENDS)
def test_mask_keyed_on_logical_index_not_layout(backend: str) -> None:
    base = torch.randn(9, 6)
    t = base.t()  # non-contiguous (6, 9) view
    y_view = counter_dropout(t, 0.5, stream=_stream(), backend=backend)
    y_copy = counter_dropout(t.contiguous(), 0.5, stream=_stream(), backend=backend)
    assert torch.equal(y_view, y_copy)
    sliced = torch.randn(4, 7, 10)[:, 1::2, ::3]  # 3-D strided slice
    assert torch.equal(
        counter_dropout(sliced, 0.5, stream=_stream(), backend=backend),
        counter_dropout(sliced.contiguous(), 0.5, stream=_stream(), backend=backend),
    )


@pytest.mark.parametrize("index32", [True, False])
@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(16, 24).t(),  # innermost size 16: one index decomposition per Philox call
        lambda: torch.randn(3, 8, 40).transpose(1, 2),  # batched transpose, innermost size 8
        lambda: torch.randn(5, 24, 9)[:, ::3, :8].transpose(0, 2),  # 3 strided dims, innermost 5 (per element)
        lambda: torch.randn(2, 3, 16, 12).permute(3, 1, 0, 2),  # 4-D permutation, 1152 elements
    ],
)
def test_strided_kernel_paths_equal_the_contiguous_copy(monkeypatch, make, index32: bool) -> None:
    from dropkit.kernels import triton_elementwise as te

    mode_of = te._strided_mode
    monkeypatch.setattr(te, "_strided_mode", lambda *a: (mode_of(*a)[0], index32))
    x = make()
    assert not x.is_contiguous()
    y = counter_dropout(x, 0.5, stream=_stream(), backend="triton")
    assert torch.equal(y, counter_dropout(x.contiguous(), 0.5, stream=_stream(), backend="triton"))


def test_fused_ops_share_the_plain_dropout_mask() -> None:
    x = torch.randn(4, 16)
    plain = counter_dropout(torch.ones_like(x), 0.5, stream=_stream(), backend="triton") != 0
    zeros = torch.zeros(16)
    y = bias_dropout_add(torch.ones_like(x), zeros, torch.zeros_like(x), 0.5, stream=_stream(), backend="triton")
    assert torch.equal(y != 0, plain)
    _, h = dropout_add_layer_norm(torch.ones_like(x), None, torch.ones(16), None, 0.5, stream=_stream(), backend="triton")
    assert torch.equal(h != 0, plain)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.123456, 0.5, 1.0])
def test_threshold_as_argument_and_read_from_memory_agree(monkeypatch, p: float) -> None:
    """Eager CUDA calls pass the keep test as scalar arguments, compiled ones as a device tensor the
    kernels load: the same bits, forward and backward."""
    from dropkit.kernels import triton_elementwise as te

    x, w, b = torch.randn(6, 24), torch.randn(24), torch.randn(24)
    weight = torch.randn(5, 24)
    ops = {
        "dropout": lambda t: dropout(t, p, stream=_stream(), backend="triton"),
        "bias_gelu": lambda t: bias_act_dropout(t, b, p, "gelu", stream=_stream(), backend="triton"),
        "bias_add": lambda t: bias_dropout_add(t, b, x, p, stream=_stream(), backend="triton"),
        "layernorm": lambda t: dropout_add_layer_norm(t, x, w, b, p, stream=_stream(), backend="triton")[0],
        "linear": lambda t: dropout_linear(t, weight, None, p, stream=_stream(), backend="triton"),
    }
    for name, op in ops.items():
        results = []
        for in_memory in (False, True):
            monkeypatch.setattr(te, "keep_in_kernel", lambda keep, t, flag=in_memory: flag)
            leaf = x.clone().requires_grad_()
            y = op(leaf)
            (g,) = torch.autograd.grad(y, [leaf], torch.ones_like(y))
            results.append((y, g))
        (y_arg, g_arg), (y_mem, g_mem) = results
        assert torch.equal(y_arg, y_mem) and torch.equal(g_arg, g_mem), (name, p)


def test_device_keep_pair_equals_the_host_pair() -> None:
    """Under torch.compile the kernels read [threshold, float32 bits of the scale] computed by tensor ops;
    eagerly they get the host's values: the same pair for every rate (ties and ends included)."""
    from dropkit.kernels import triton_elementwise as te
    from dropkit.rng import keep_threshold, traced_keep_params

    rates = torch.rand(500, generator=torch.Generator().manual_seed(5), dtype=torch.float64).tolist()
    for p in rates + [k / 2**17 for k in range(1, 2**17, 4099)] + [0.0, 2**-17, 0.5, 1.0 - 2**-17, 1.0]:
        assert torch.equal(te.device_keep(*traced_keep_params(p)), te.host_keep(keep_threshold(p))), p


# ----------------------------------------------------------------------------- values and gradients


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(13,), (3, 7), (2, 3, 5)])
def test_dropout_kernel_matches_reference_values_and_grads(shape, dtype) -> None:
    x = _leaf(*shape, dtype=dtype)
    y = counter_dropout(x, 0.2, stream=_stream(), backend="triton")
    yr = reference.reference_dropout(x, 0.2, _rng())
    _close(y, yr, dtype)
    assert torch.equal(y != 0, yr != 0)
    g = torch.randn(shape).to(dtype)
    (gx,) = torch.autograd.grad(y, x, g)
    (gr,) = torch.autograd.grad(yr, x, g)
    _close(gx, gr, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["relu", "gelu", "silu", "none"])
def test_bias_act_dropout_matches_reference(act, dtype, backend) -> None:
    x, b = _leaf(3, 11, dtype=dtype), _leaf(11, dtype=dtype)
    y = bias_act_dropout(x, b, 0.3, act, stream=_stream(), backend=backend)
    yr = reference.reference_bias_act_dropout(x, b, 0.3, _rng(), act)
    _close(y, yr, dtype)
    g = torch.randn(3, 11).to(dtype)
    for a, r in zip(torch.autograd.grad(y, (x, b), g), torch.autograd.grad(yr, (x, b), g)):
        _close(a, r, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_dropout_add_matches_reference(dtype, backend) -> None:
    x, b, r = _leaf(2, 3, 9, dtype=dtype), _leaf(9, dtype=dtype), _leaf(2, 3, 9, dtype=dtype)
    y = bias_dropout_add(x, b, r, 0.25, stream=_stream(), backend=backend)
    yr = reference.reference_bias_dropout_add(x, b, r, 0.25, _rng())
    _close(y, yr, dtype)
    g = torch.randn(2, 3, 9).to(dtype)
    for a, c in zip(torch.autograd.grad(y, (x, b, r), g), torch.autograd.grad(yr, (x, b, r), g)):
        _close(a, c, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [16, 13])  # 13: rows not aligned to a Philox call
@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_dropout_add_norm_matches_reference(norm, n, dtype, backend) -> None:
    x, r, w, b, xb = _leaf(5, n, dtype=dtype), _leaf(5, n, dtype=dtype), _leaf(n, dtype=dtype), _leaf(n, dtype=dtype), _leaf(n, dtype=dtype)
    if norm == "layernorm":
        y, h = dropout_add_layer_norm(x, r, w, b, 0.2, x_bias=xb, stream=_stream(), backend=backend)
        params = (x, r, w, b, xb)
    else:
        y, h = dropout_add_rms_norm(x, r, w, 0.2, x_bias=xb, eps=1e-5, stream=_stream(), backend=backend)
        b = None
        params = (x, r, w, xb)
    yr, hr = reference.reference_dropout_add_norm(x, r, w, b, 0.2, _rng(), eps=1e-5, norm=norm, x_bias=xb)
    _close(y, yr, dtype)
    _close(h, hr, dtype)
    gy, gh = torch.randn(5, n).to(dtype), torch.randn(5, n).to(dtype)
    got = torch.autograd.grad((y, h), params, (gy, gh))
    want = torch.autograd.grad((yr, hr), params, (gy, gh))
    for a, c in zip(got, want):
        atol, rtol = TOL[dtype]
        torch.testing.assert_close(a.float(), c.float(), atol=2 * atol, rtol=2 * rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_linear_matches_unfused(dtype, backend) -> None:
    x, w, b = _leaf(2, 3, 12, dtype=dtype), _leaf(5, 12, dtype=dtype), _leaf(5, dtype=dtype)
    y = dropout_linear(x, w, b, 0.3, stream=_stream(), backend=backend)
    yr = reference.reference_dropout_linear(x, w, b, 0.3, _rng())
    _close(y, yr, dtype)
    g = torch.randn(2, 3, 5).to(dtype)
    for a, c in zip(torch.autograd.grad(y, (x, w, b), g), torch.autograd.grad(yr, (x, w, b), g)):
        _close(a, c, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_float32_parameters_with_16_bit_inputs(dtype, backend) -> None:
    """Under torch.autocast parameters stay float32 while activations are 16-bit: the fused ops accept
    float32 bias / norm weight / x_bias, compute in float32 and return each gradient in its parameter's
    dtype, matching the reference (which upcasts everything to float32)."""
    x, res = _leaf(3, 16, dtype=dtype), _leaf(3, 16, dtype=dtype)
    b, w, nb, xb = (_leaf(16) for _ in range(4))
    g = torch.randn(3, 16).to(dtype)
    cases = {
        "bias_act": (lambda: bias_act_dropout(x, b, 0.3, "gelu", stream=_stream(), backend=backend),
                     lambda: reference.reference_bias_act_dropout(x, b, 0.3, _rng(), "gelu"), (x, b)),
        "bias_add": (lambda: bias_dropout_add(x, b, res, 0.3, stream=_stream(), backend=backend),
                     lambda: reference.reference_bias_dropout_add(x, b, res, 0.3, _rng()), (x, b, res)),
        "layernorm": (lambda: dropout_add_layer_norm(x, res, w, nb, 0.3, x_bias=xb, stream=_stream(), backend=backend)[0],
                      lambda: reference.reference_dropout_add_norm(x, res, w, nb, 0.3, _rng(), x_bias=xb)[0], (x, res, w, nb, xb)),
    }
    for name, (fused, ref, inputs) in cases.items():
        y, yr = fused(), ref()
        assert y.dtype == dtype, name
        _close(y, yr, dtype)
        for a, c, leaf in zip(torch.autograd.grad(y, inputs, g), torch.autograd.grad(yr, inputs, g), inputs):
            assert a.dtype == leaf.dtype, (name, a.dtype, leaf.dtype)
            _close(a, c, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_float32_residual_stream_with_16_bit_branch(dtype, backend) -> None:
    """A float32 residual stream with a 16-bit branch (flash-attn's residual_in_fp32): the sum and ``h``
    are float32, the normalised output keeps the branch's dtype, each gradient its input's dtype."""
    x, res, b = _leaf(3, 16, dtype=dtype), _leaf(3, 16), _leaf(16)
    w = _leaf(16, dtype=dtype)
    y = bias_dropout_add(x, b, res, 0.3, stream=_stream(), backend=backend)
    yr = reference.reference_bias_dropout_add(x, b, res, 0.3, _rng())
    assert y.dtype == yr.dtype == torch.float32
    _close(y, yr, torch.float32)
    g = torch.randn(3, 16)
    for a, c, leaf in zip(torch.autograd.grad(y, (x, b, res), g), torch.autograd.grad(yr, (x, b, res), g), (x, b, res)):
        assert a.dtype == leaf.dtype
        _close(a, c, dtype)
    yn, h = dropout_add_layer_norm(x, res, w, None, 0.3, stream=_stream(), backend=backend)
    ynr, hr = reference.reference_dropout_add_norm(x, res, w, None, 0.3, _rng())
    assert (yn.dtype, h.dtype) == (ynr.dtype, hr.dtype) == (dtype, torch.float32)
    _close(yn, ynr, dtype)
    _close(h, hr, torch.float32)
    gy, gh = torch.randn(3, 16).to(dtype), torch.randn(3, 16)
    for a, c, leaf in zip(torch.autograd.grad((yn, h), (x, res, w), (gy, gh)),
                          torch.autograd.grad((ynr, hr), (x, res, w), (gy, gh)), (x, res, w)):
        assert a.dtype == leaf.dtype
        _close(a, c, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_linear_under_autocast(backend) -> None:
    """Inside torch.autocast the matmul runs in bfloat16 on float32 x and weight; the backward used to
    multiply bfloat16 dy by the float32 weight and fail."""
    x, w, b = _leaf(4, 12), _leaf(5, 12), _leaf(5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = dropout_linear(x, w, b, 0.3, stream=_stream(), backend=backend)
        yr = torch.nn.functional.linear(reference.reference_dropout(x, 0.3, _rng()), w, b)
    assert y.dtype == yr.dtype == torch.bfloat16
    _close(y, yr, torch.bfloat16)
    g = torch.randn(4, 5).to(torch.bfloat16)
    for a, c, leaf in zip(torch.autograd.grad(y, (x, w, b), g), torch.autograd.grad(yr, (x, w, b), g), (x, w, b)):
        assert a.dtype == leaf.dtype == torch.float32
        _close(a, c, torch.bfloat16)


def test_portable_gradcheck_float64() -> None:
    x = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    b = torch.randn(8, dtype=torch.float64, requires_grad=True)
    r = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, dtype=torch.float64, requires_grad=True)
    lw = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    kw = {"backend": "portable"}
    assert torch.autograd.gradcheck(lambda t, c: bias_act_dropout(t, c, 0.3, "gelu", stream=_stream(), **kw), (x, b))
    assert torch.autograd.gradcheck(lambda t, c, s: bias_dropout_add(t, c, s, 0.3, stream=_stream(), **kw), (x, b, r))
    assert torch.autograd.gradcheck(
        lambda t, s, u, c: dropout_add_layer_norm(t, s, u, c, 0.3, stream=_stream(), **kw), (x, r, w, b)
    )
    assert torch.autograd.gradcheck(lambda t, u: dropout_linear(t, u, None, 0.3, stream=_stream(), **kw), (x, lw))


# ----------------------------------------------------------------------------- semantics and memory


@pytest.mark.parametrize("backend", BACKENDS)
def test_eval_and_p0_are_identity_and_p1_zeros(backend: str) -> None:
    x = torch.randn(4, 8)
    r = torch.randn(4, 8)
    assert torch.equal(bias_dropout_add(x, None, r, 0.5, training=False, backend=backend), x + r)
    assert torch.equal(bias_act_dropout(x, None, 0.0, "none", backend=backend), x)
    xg = x.clone().requires_grad_(True)
    y = bias_act_dropout(xg, None, 1.0, "relu", backend=backend)
    y.sum().backward()
    assert torch.equal(y, torch.zeros_like(y)) and torch.isfinite(xg.grad).all() and (xg.grad == 0).all()
    assert torch.equal(dropout(x, 0.5, training=False, backend=backend), x)


def test_dropped_fraction_and_mean_of_portable_dropout() -> None:
    n, p = 100_000, 0.1
    x = torch.ones(n)
    y = dropout(x, p, backend="portable")
    q = quantized_keep_prob(p)
    assert abs((y == 0).float().mean().item() - (1 - q)) < 6 * math.sqrt(q * (1 - q) / n)
    # E[y] = x exactly because kept units are scaled by 1/q: mean within 6 standard errors.
    z = torch.randn(n) + 3.0
    yz = dropout(z, p, backend="portable")
    se = yz.std().item() / math.sqrt(n)
    assert abs(yz.mean().item() - z.mean().item()) < 6 * se


def test_dropped_fraction_of_triton_kernel() -> None:
    n, p = 4096, 0.3  # small: the interpreter is slow
    y = counter_dropout(torch.ones(n), p, stream=_stream(), backend="triton")
    q = quantized_keep_prob(p)
    assert abs((y == 0).float().mean().item() - (1 - q)) < 6 * math.sqrt(q * (1 - q) / n)


def _saved_bytes(fn) -> int:
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def test_dropout_linear_keeps_one_copy_of_x_and_the_weight() -> None:
    x = torch.randn(16, 64, requires_grad=True)
    w0 = torch.randn(32, 64, requires_grad=True)  # a base layer that also reads x (the LoRA pattern)
    a = torch.randn(8, 64, requires_grad=True)

    def block(drop_linear):
        return torch.nn.functional.linear(x, w0).sum() + drop_linear().sum()

    fused = _saved_bytes(lambda: block(lambda: dropout_linear(x, a, None, 0.2, stream=_stream(), backend="portable")))
    unfused = _saved_bytes(lambda: block(lambda: reference.reference_dropout_linear(x, a, None, 0.2, _rng())))
    # fused: x once (shared with the base layer), the weights and the 16-byte [seed, offset]
    assert fused == x.nbytes + w0.nbytes + a.nbytes + 16
    # unfused: additionally the dropped copy of x and a bool mask
    assert unfused == x.nbytes + w0.nbytes + a.nbytes + x.nbytes + x.numel()


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_backward_keeps_only_the_seed(backend: str) -> None:
    x = torch.randn(32, 32, requires_grad=True)
    assert _saved_bytes(lambda: counter_dropout(x, 0.3, stream=_stream(), backend=backend)) == 16
    r = torch.randn(32, 32, requires_grad=True)
    assert _saved_bytes(lambda: bias_dropout_add(x, None, r, 0.3, stream=_stream(), backend=backend)) == 16


@pytest.mark.parametrize("backend", BACKENDS)
def test_checkpointing_gives_the_same_gradients(backend: str) -> None:
    from torch.utils.checkpoint import checkpoint

    w, b = torch.randn(16), torch.randn(16)

    def block(t):
        y, h = dropout_add_layer_norm(torch.tanh(t), t, w, b, 0.3, backend=backend)
        return bias_act_dropout(y, None, 0.3, "gelu", backend=backend) + h

    x = torch.randn(4, 16)
    grads = []
    for use_ckpt in (False, True):
        xi = x.clone().requires_grad_(True)
        torch.manual_seed(5)
        out = checkpoint(block, xi, use_reentrant=False) if use_ckpt else block(xi)
        out.pow(2).sum().backward()
        grads.append(xi.grad)
    assert torch.equal(grads[0], grads[1])


def test_torch_compile_traces_the_portable_path() -> None:
    def f(t, s):
        return dropout(t, 0.5, stream=s, backend="portable") * 2

    x = torch.randn(4, 9)
    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled(x, _stream()), f(x, _stream()))


# ----------------------------------------------------------------------------- dispatch and errors


def test_auto_on_cpu_is_native_and_portable_with_a_stream() -> None:
    x = torch.randn(64)
    torch.manual_seed(0)
    native = dropout(x, 0.5)
    torch.manual_seed(0)
    assert torch.equal(native, dropout(x, 0.5, backend="native"))
    assert torch.equal(dropout(x, 0.5, stream=_stream()), dropout(x, 0.5, stream=_stream(), backend="portable"))
    assert torch.equal(
        bias_dropout_add(x, None, x, 0.5, stream=_stream()), bias_dropout_add(x, None, x, 0.5, stream=_stream(), backend="portable")
    )


def test_broadcast_dims_share_the_counter_mask() -> None:
    x = torch.randn(2, 3, 4, 5)
    y = dropout(x, 0.5, broadcast_dims=(2, 3), backend="portable", stream=_stream())
    kept = (y != 0).reshape(2, 3, -1)
    assert (kept.all(-1) | (~kept).all(-1)).all()
    assert torch.equal(kept[..., 0], keep_mask(_rng(), (2, 3, 1, 1), 0.5).reshape(2, 3))


def test_dropout_module_backends() -> None:
    layer = Dropout(0.5, backend="portable", stream=_stream())
    layer.record_rate = True
    y = layer(torch.ones(8, 8))
    assert torch.equal(y, counter_dropout(torch.ones(8, 8), 0.5, stream=_stream(), backend="portable"))
    assert layer.last_drop_fraction is not None and "backend='portable'" in repr(layer)
    with pytest.raises(ValueError, match="backend must be one of"):
        Dropout(0.5, backend="cuda")
    with pytest.raises(ValueError, match="got 'native'"):
        Dropout(0.5, backend="native", stream=_stream())


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda x: dropout(x, 1.5, backend="portable"), ValueError, "got 1.5"),
        (lambda x: bias_act_dropout(x, None, -0.1), ValueError, "got -0.1"),
        (lambda x: bias_dropout_add(x, None, x, 1.5), ValueError, "got 1.5"),
        (lambda x: dropout_add_layer_norm(x, x, torch.ones(8), None, 2.0), ValueError, "got 2"),
        (lambda x: dropout_linear(x, torch.ones(3, 8), None, 1.5), ValueError, "got 1.5"),
        (lambda x: dropout(x, 0.5, backend="fast"), ValueError, "backend must be one of .* got 'fast'"),
        (lambda x: bias_act_dropout(x, None, 0.1, "tanh"), ValueError, "activation must be one of .* got 'tanh'"),
        (lambda x: bias_act_dropout(x, torch.ones(7), 0.1), ValueError, r"bias must have shape \(8,\), got \(7,\)"),
        (lambda x: bias_dropout_add(x, None, torch.ones(4, 7), 0.1), ValueError, r"residual must have shape \(4, 8\)"),
        (lambda x: bias_dropout_add(x, None, x.double(), 0.1), TypeError, "residual must have the input's dtype"),
        (lambda x: dropout_add_rms_norm(x, None, torch.ones(9), 0.1), ValueError, r"weight must have shape \(8,\)"),
        (lambda x: dropout_add_layer_norm(x, None, torch.ones(8), None, 0.1, eps=0), ValueError, "eps must be"),
        (lambda x: dropout_linear(x, torch.ones(3, 7), None, 0.1), ValueError, r"weight must have shape \(out_features, 8\)"),
        (lambda x: dropout_linear(x, torch.ones(3, 8), torch.ones(4), 0.1), ValueError, r"bias must have shape \(3,\)"),
        (lambda x: bias_act_dropout(x.long(), None, 0.1), TypeError, "must be a floating-point tensor"),
        (lambda x: counter_dropout(x.double(), 0.1, backend="triton"), TypeError, "got dtype torch.float64"),
        (lambda x: dropout(x, 0.5, backend="native", stream=_stream()), ValueError, "got 'native'"),
    ],
)
def test_bad_inputs(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call(torch.randn(4, 8))


def test_triton_backend_refuses_cpu_without_interpreter(monkeypatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="needs a CUDA tensor, got device 'cpu'"):
        bias_dropout_add(torch.randn(2, 4), None, torch.randn(2, 4), 0.1, backend="triton")


# ----------------------------------------------------------------------------- GPU only


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_kernels_match_cpu_masks_and_compile(dtype) -> None:
    x = torch.randn(1000, 257, device="cuda").to(dtype)
    y = counter_dropout(x, 0.1, stream=PhiloxState(SEED, 5, device="cuda"))
    mask_cpu = keep_mask(_rng(), x.shape, 0.1)
    assert torch.equal((y != 0).cpu() | (x == 0).cpu(), mask_cpu | (x == 0).cpu())
    w = torch.ones(257, device="cuda", dtype=dtype)

    def f(t):
        return dropout_add_layer_norm(t, t, w, None, 0.1, stream=PhiloxState(SEED, 5, device="cuda"))[0]

    torch.testing.assert_close(torch.compile(f, fullgraph=True)(x), f(x), atol=TOL[dtype][0], rtol=TOL[dtype][1])


@pytest.mark.cuda
@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
@pytest.mark.parametrize(("programs_per_sm", "stages"), [(2, 2), (1, 3), (4, 1)])
def test_cuda_norm_backward_launch_configurations_agree(monkeypatch, norm: str, programs_per_sm: int, stages: int) -> None:
    from dropkit.kernels import triton_norm

    fn = dropout_add_layer_norm if norm == "layernorm" else dropout_add_rms_norm
    g = torch.Generator(device="cuda").manual_seed(3)
    x, res = (torch.randn(333, 256, device="cuda", generator=g, dtype=torch.bfloat16) for _ in range(2))
    w = torch.randn(256, device="cuda", generator=g).requires_grad_(True)
    dy, dh = (torch.randn(333, 256, device="cuda", generator=g, dtype=torch.bfloat16) for _ in range(2))

    def grads() -> list[torch.Tensor]:
        xs = [t.clone().requires_grad_(True) for t in (x, res)]
        y, h = fn(xs[0], xs[1], w, None, 0.3, stream=PhiloxState(SEED, 7, device="cuda"))
        return list(torch.autograd.grad((y, h), [*xs, w], (dy, dh)))

    default = grads()
    monkeypatch.setattr(triton_norm, "BWD_PROGRAMS_PER_SM", programs_per_sm)
    monkeypatch.setattr(triton_norm, "BWD_STAGES", stages)
    for got, want in zip(grads(), default):  # dW sums partials in another grouping: rounding only
        torch.testing.assert_close(got, want, atol=1e-2, rtol=1e-2)


@pytest.mark.cuda
def test_cuda_compiled_backward_replays_the_forward_mask_of_a_stream() -> None:
    # The stream's state is advanced in place by the forward; the compiled backward must regenerate the
    # forward's mask, not the one of the advanced state (dropkit.rng.rng_snapshot).
    x = torch.randn(512, 384, device="cuda", requires_grad=True)
    s = PhiloxState(seed=21, device="cuda")
    f = torch.compile(lambda t: dropout(t, 0.3, stream=s), fullgraph=True)
    for _ in range(2):
        y = f(x)
        (g,) = torch.autograd.grad(y.sum(), [x])
        assert torch.equal(g != 0, y != 0)


@pytest.mark.cuda
def test_cuda_graph_replay_advances_the_stream() -> None:
    s = PhiloxState(seed=1, device="cuda")
    x = torch.ones(4096, device="cuda")
    dropout(x, 0.5, stream=s)  # warm up (compiles the kernel)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        y = dropout(x, 0.5, stream=s)
    g.replay()
    first = y.clone()
    g.replay()
    assert not torch.equal(first, y)


@pytest.mark.cuda
def test_cuda_compiled_kernels_serve_every_rate_with_one_graph() -> None:
    """A scheduled rate under torch.compile: the Triton ops read the keep test from a device tensor,
    so after the first change one graph serves every rate, with the eager kernels' bits."""
    import torch._dynamo.testing

    x = torch.randn(333, 256, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    w = torch.randn(256, device="cuda", dtype=torch.bfloat16)

    def f(t: torch.Tensor, p: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = PhiloxState(seed, 3, device="cuda")
        return dropout(t, p, stream=s), dropout_add_layer_norm(t, t, w, None, p, stream=s)[0]

    counter = torch._dynamo.testing.CompileCounterWithBackend("inductor")
    compiled = torch.compile(f, fullgraph=True, backend=counter)
    atol, rtol = TOL[torch.bfloat16]
    for p in (0.5, 0.1, 0.3, 0.25):
        (d_compiled, n_compiled), (d_eager, n_eager) = compiled(x, p, 9), f(x, p, 9)
        assert torch.equal(d_compiled, d_eager), p  # the same kernel, mask and scale
        torch.testing.assert_close(n_compiled, n_eager, atol=atol, rtol=rtol)
        (g_compiled,) = torch.autograd.grad((d_compiled.float().sum() + n_compiled.float().sum()), [x])
        (g_eager,) = torch.autograd.grad((d_eager.float().sum() + n_eager.float().sum()), [x])
        torch.testing.assert_close(g_compiled, g_eager, atol=atol, rtol=rtol)
    assert counter.frame_count <= 2
