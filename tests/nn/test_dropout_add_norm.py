"""DropoutAddLayerNorm / DropoutAddRMSNorm: nn.LayerNorm's / nn.RMSNorm's parameters and keys, the
unfused computation on the CPU (native mask), and the fused op with a stream or on the Triton path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dropkit.functional import dropout, dropout_add_layer_norm, dropout_add_rms_norm
from dropkit.nn import DropoutAddLayerNorm, DropoutAddRMSNorm
from dropkit.rng import PhiloxState

N = 24


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda: DropoutAddLayerNorm(N), lambda: nn.LayerNorm(N)),
    (lambda: DropoutAddLayerNorm(N, bias=False), lambda: nn.LayerNorm(N, bias=False)),
    (lambda: DropoutAddLayerNorm(N, elementwise_affine=False), lambda: nn.LayerNorm(N, elementwise_affine=False)),
    (lambda: DropoutAddRMSNorm(N), lambda: nn.RMSNorm(N)),
    (lambda: DropoutAddRMSNorm(N, elementwise_affine=False), lambda: nn.RMSNorm(N, elementwise_affine=False)),
])
def test_parameters_keys_and_evaluation_are_the_norms(ours, theirs) -> None:
    layer, norm = ours(), theirs()
    for p in norm.parameters():
        nn.init.normal_(p)
    layer.load_state_dict(norm.state_dict())
    assert list(layer.state_dict()) == list(norm.state_dict())
    x, r = torch.randn(3, 5, N), torch.randn(3, 5, N)
    y, h = layer.eval()(x, r)
    assert torch.equal(h, x + r)
    torch.testing.assert_close(y, norm(x + r))
    y0, h0 = layer(x)  # no residual: h = dropout(x)
    assert torch.equal(h0, x)


@pytest.mark.parametrize("cls", [DropoutAddLayerNorm, DropoutAddRMSNorm])
def test_cpu_training_is_the_unfused_native_computation_with_its_gradients(cls) -> None:
    layer = cls(N, p=0.3, generator=_gen(1)).double()
    for p in layer.parameters():
        nn.init.normal_(p)
    x = torch.randn(4, N, dtype=torch.float64, requires_grad=True)
    r = torch.randn(4, N, dtype=torch.float64, requires_grad=True)
    xb = torch.randn(N, dtype=torch.float64, requires_grad=True)
    y, h = layer(x, r, xb)
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, r, xb)]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    h_ref = leaves[1] + dropout(leaves[0] + leaves[2], 0.3, generator=_gen(1))
    if cls is DropoutAddLayerNorm:
        y_ref = F.layer_norm(h_ref, (N,), params[0], params[1], 1e-5)
    else:
        y_ref = F.rms_norm(h_ref, (N,), params[0], torch.finfo(torch.float64).eps)
    assert torch.equal(h, h_ref) and torch.equal(y, y_ref)
    dy, dh = torch.randn_like(y), torch.randn_like(h)
    got = torch.autograd.grad((y, h), (x, r, xb, *layer.parameters()), (dy, dh))
    want = torch.autograd.grad((y_ref, h_ref), (*leaves, *params), (dy, dh))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("cls", "fused"), [(DropoutAddLayerNorm, "ln"), (DropoutAddRMSNorm, "rms")])
def test_a_stream_gives_the_fused_ops_counter_based_masks(cls, fused: str) -> None:
    layer = cls(N, p=0.25, eps=1e-5, stream=PhiloxState(seed=7))
    x, r = torch.randn(6, N), torch.randn(6, N)
    y, h = layer(x, r)
    if fused == "ln":
        y_ref, h_ref = dropout_add_layer_norm(x, r, layer.weight, layer.bias, 0.25, stream=PhiloxState(seed=7))
    else:
        y_ref, h_ref = dropout_add_rms_norm(x, r, layer.weight, 0.25, eps=1e-5, stream=PhiloxState(seed=7))
    assert torch.equal(h, h_ref) and torch.equal(y, y_ref)
    assert torch.equal(h, r + dropout(x, 0.25, stream=PhiloxState(seed=7)))


def test_triton_backend_equals_the_portable_one() -> None:
    pytest.importorskip("triton")  # on the CPU, tests/conftest.py runs the kernels with TRITON_INTERPRET=1
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x, r = torch.randn(4, 32, device=device), torch.randn(4, 32, device=device)
    outs = []
    for backend in ("triton", "portable"):
        layer = DropoutAddLayerNorm(32, p=0.2, stream=PhiloxState(seed=3, device=device), backend=backend).to(device)
        outs.append(layer(x, r))
    assert torch.equal(outs[0][1], outs[1][1])
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-5)


def test_fp32_residual_stream_with_a_bf16_branch() -> None:
    layer = DropoutAddLayerNorm(N, p=0.1).eval()
    x, r = torch.randn(2, N).bfloat16(), torch.randn(2, N)
    y, h = layer(x, r)
    assert h.dtype == torch.float32 and y.dtype == torch.bfloat16
    torch.testing.assert_close(h, r + x.float())


def test_bad_arguments_and_inputs_name_what_was_given() -> None:
    with pytest.raises(ValueError, match="DropoutAddLayerNorm: p must be in .*got 1.5"):
        DropoutAddLayerNorm(N, p=1.5)
    with pytest.raises(ValueError, match="backend must be one of .*got 'fused'"):
        DropoutAddRMSNorm(N, backend="fused")
    with pytest.raises(ValueError, match="stream needs backend"):
        DropoutAddLayerNorm(N, stream=PhiloxState(1), backend="native")
    with pytest.raises(ValueError, match="x must have last dim 24, got \\(3, 5\\)"):
        DropoutAddLayerNorm(N)(torch.randn(3, 5))
    with pytest.raises(ValueError, match="residual must have the shape of x \\(3, 24\\), got \\(3, 23\\)"):
        DropoutAddLayerNorm(N)(torch.randn(3, N), torch.randn(3, 23))
