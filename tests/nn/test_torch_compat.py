"""Drop-in compatibility with torch's dropout signatures: ``(p, inplace)`` modules, ``(x, p, training, inplace)``
functionals, and ``inplace=True`` that writes into the input with the out-of-place result and gradients."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dropkit.functional as DF
import dropkit.nn as dnn
from dropkit.kernels import native as native_mask
from dropkit.surgery import swap_dropout
from tests.torch_twins import FUNCTION_TWINS, MODULE_TWINS

MODULES = MODULE_TWINS
_SHAPES = {  # an input shape each function accepts
    "dropout": (4, 6), "dropout1d": (2, 3, 5), "dropout2d": (2, 3, 4, 4), "dropout3d": (2, 3, 2, 2, 2),
    "alpha_dropout": (4, 6), "feature_alpha_dropout": (2, 3, 4),
}
# (name, dropkit function, torch function, an input shape it accepts)
FUNCTIONS = [(dk.__name__, dk, fn, _SHAPES[dk.__name__]) for fn, dk in FUNCTION_TWINS]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _positional(fn) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds]


@pytest.mark.parametrize(("torch_cls", "dk_cls"), MODULES, ids=lambda c: c.__name__)
def test_modules_take_torchs_positional_arguments(torch_cls, dk_cls) -> None:
    assert _positional(torch_cls.__init__) == _positional(dk_cls.__init__) == ["self", "p", "inplace"]
    layer = dk_cls(0.25, True)
    assert (layer.p, layer.inplace) == (0.25, True) and "inplace=True" in repr(layer)
    assert dk_cls(p=0.25, inplace=False).inplace is False


@pytest.mark.parametrize(("name", "dk_fn", "torch_fn", "shape"), FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_functionals_take_torchs_positional_arguments(name, dk_fn, torch_fn, shape) -> None:
    assert _positional(dk_fn)[1:] == _positional(torch_fn)[1:] == ["p", "training", "inplace"]
    x = torch.randn(shape)
    assert dk_fn(x, 0.3, False) is x  # F.dropout(x, p, self.training) with training False
    y = dk_fn(x.clone(), 0.3, True, False, generator=_gen(1))
    z = x.clone()
    out = dk_fn(z, 0.3, True, True, generator=_gen(1))
    assert out is z and torch.equal(z, y)


@pytest.mark.parametrize("backend", ["native", "portable"])
@pytest.mark.parametrize("shape", [(3, 5), (40, 64), (160, 130)])  # the tiny, small and large native paths
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_inplace_dropout_equals_out_of_place_values_and_gradients(backend: str, shape, dtype) -> None:
    assert 3 * 5 <= native_mask.TINY_MASK_NUMEL < 40 * 64 <= native_mask.SMALL_MASK_NUMEL < 160 * 130
    leaf = torch.randn(shape, dtype=dtype, requires_grad=True)
    dy = torch.randn(shape, dtype=dtype)
    results = []
    for inplace in (False, True):
        leaf.grad = None
        h = leaf * 1.5  # a non-leaf, as torch requires for an in-place op under autograd
        seed_gen = _gen(3)
        y = DF.dropout(h, 0.3, True, inplace, backend=backend, generator=seed_gen)
        assert (y is h) == inplace
        y.backward(dy)
        results.append((y.detach().clone(), leaf.grad.clone()))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    with torch.no_grad():  # the no-autograd in-place path too
        x = torch.randn(shape, dtype=dtype)
        expected = DF.dropout(x, 0.3, backend=backend, generator=_gen(4))
        assert torch.equal(DF.dropout(x, 0.3, True, True, backend=backend, generator=_gen(4)), expected)
        assert torch.equal(x, expected)


def test_inplace_keeps_only_the_bool_mask_for_backward() -> None:
    leaf = torch.randn(160, 130, requires_grad=True)
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        DF.dropout(leaf * 1.0, 0.3, True, True).sum().backward()
    assert [(t.dtype, t.shape) for t in saved] == [(torch.bool, leaf.shape)]


def test_inplace_on_a_leaf_that_requires_grad_is_refused_as_in_torch() -> None:
    leaf = torch.randn(4, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        nn.Dropout(0.5, inplace=True)(leaf)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        dnn.Dropout(0.5, inplace=True)(leaf)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_inplace_edge_rates(p: float) -> None:
    x = torch.randn(5, 7)
    before = x.clone()
    y = dnn.Dropout(p, True)(x)
    assert y is x and torch.equal(x, before * (1.0 - p))


@pytest.mark.parametrize("layer", [dnn.Dropout2d(0.4, True), dnn.AlphaDropout(0.4, True), dnn.FeatureAlphaDropout(0.4, True)],
                         ids=lambda m: type(m).__name__)
def test_other_inplace_modules_write_the_out_of_place_result(layer: nn.Module) -> None:
    x = torch.randn(2, 3, 4, 4)
    torch.manual_seed(5)
    layer.inplace = False
    expected = layer(x)
    torch.manual_seed(5)
    layer.inplace = True
    assert layer(x) is x and torch.equal(x, expected)
    assert layer.eval()(x) is x


def test_record_rate_reads_the_input_before_an_inplace_forward_overwrites_it() -> None:
    layer = dnn.Dropout(0.5, True)
    layer.record_rate = True
    x = torch.ones(200, 200)
    x[:, :100] = 0.0  # half the input is zero already: the rate is measured on the non-zero half
    layer(x)
    fraction = float(layer.last_drop_fraction)
    assert abs(fraction - 0.5) <= 6 * math.sqrt(0.25 / 20_000)


def test_swap_keeps_inplace() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2, inplace=True), nn.Dropout2d(0.1), nn.AlphaDropout(0.3, True))
    swap_dropout(net)
    assert [(type(m).__module__.split(".")[0], m.inplace) for m in list(net)[1:]] == [
        ("dropkit", True), ("dropkit", False), ("dropkit", True)]


def test_bad_flags_name_the_argument() -> None:
    with pytest.raises(TypeError, match="inplace must be a bool, got 'yes'"):
        dnn.Dropout(0.5, "yes")
    with pytest.raises(TypeError, match="dropout: training must be a bool, got 1"):
        DF.dropout(torch.ones(3), 0.5, 1)
    with pytest.raises(TypeError, match="broadcast_dims must be an int or a sequence of ints, got True"):
        dnn.Dropout(0.5, broadcast_dims=True)
    with pytest.raises(TypeError, match="channels_last must be a bool"):
        dnn.Dropout2d(0.5, channels_last="yes")
    with pytest.raises(TypeError):  # dropkit-only arguments are keyword-only: a third positional is an error
        dnn.Dropout(0.5, False, (1,))
