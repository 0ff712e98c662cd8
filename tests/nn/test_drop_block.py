"""``DropBlock1d/2d/3d`` and ``drop_block1d/2d/3d`` take torchvision's ``(p, block_size, inplace)``."""

from __future__ import annotations

import inspect

import pytest
import torch

import dropkit.functional as DF
import dropkit.nn as dnn

CASES = [  # (Module, function, input shape with room for blocks of 3)
    (dnn.DropBlock1d, DF.drop_block1d, (2, 3, 12)),
    (dnn.DropBlock2d, DF.drop_block2d, (2, 3, 8, 8)),
    (dnn.DropBlock3d, DF.drop_block3d, (2, 3, 5, 5, 5)),
]
IDS = [c[0].__name__ for c in CASES]


def _torchvision_ops():
    try:
        import torchvision.ops as ops
    except Exception:  # noqa: BLE001 - not installed, or a build that does not match torch
        return None
    return ops


def _positional(fn) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds]


@pytest.mark.parametrize(("cls", "fn", "shape"), CASES, ids=IDS)
def test_torchvisions_positional_order(cls, fn, shape) -> None:
    # torchvision.ops: DropBlock2d(p, block_size, inplace=False, eps=1e-06),
    # drop_block2d(input, p, block_size, inplace=False, eps=1e-06, training=True)
    assert _positional(cls.__init__) == ["self", "p", "block_size", "inplace"]
    assert _positional(fn)[1:] == ["p", "block_size", "inplace"]
    layer = cls(0.2, 3, True)
    assert layer.inplace is True and repr(layer) == f"{cls.__name__}(p=0.2, block_size=3, inplace=True)"
    assert repr(cls(0.2, 3)) == f"{cls.__name__}(p=0.2, block_size=3)"


@pytest.mark.skipif(_torchvision_ops() is None, reason="needs an importable torchvision")
def test_signatures_agree_with_torchvisions_own() -> None:
    ops = _torchvision_ops()
    for tv, dk in ((ops.DropBlock2d, dnn.DropBlock2d), (ops.DropBlock3d, dnn.DropBlock3d)):
        assert _positional(tv.__init__)[:4] == _positional(dk.__init__)
    for tv, dk in ((ops.drop_block2d, DF.drop_block2d), (ops.drop_block3d, DF.drop_block3d)):
        assert _positional(tv)[1:4] == _positional(dk)[1:]


@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize(("cls", "fn", "shape"), CASES, ids=IDS)
def test_inplace_writes_the_out_of_place_result_and_gradients(cls, fn, shape, unbatched: bool) -> None:
    if unbatched:
        shape = shape[1:]
    leaf = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(shape, dtype=torch.float64)
    results = []
    for inplace in (False, True):
        leaf.grad = None
        h = leaf * 1.5  # a non-leaf: autograd refuses in-place ops on a leaf that requires grad
        y = fn(h, 0.3, 3, inplace, generator=torch.Generator().manual_seed(2))
        assert (y is h) == inplace
        y.backward(dy)
        results.append((y.detach().clone(), leaf.grad.clone()))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert bool((results[0][0] == 0).any())  # something was dropped, so the comparison means something
    x = torch.randn(shape)
    torch.manual_seed(4)
    expected = cls(0.3, 3).train()(x)
    torch.manual_seed(4)
    assert cls(0.3, 3, inplace=True)(x) is x and torch.equal(x, expected)


@pytest.mark.parametrize(("cls", "fn", "shape"), CASES, ids=IDS)
def test_inplace_edges(cls, fn, shape) -> None:
    x = torch.randn(shape)
    before = x.clone()
    assert cls(0.3, 3, True).eval()(x) is x and torch.equal(x, before)
    assert fn(x, 0.0, 3, True) is x and torch.equal(x, before)
    assert fn(x, 1.0, 3, True) is x and torch.equal(x, torch.zeros_like(x))
    with pytest.raises(RuntimeError, match="leaf Variable"):
        cls(0.3, 3, True)(torch.randn(shape, requires_grad=True))
    with pytest.raises(TypeError, match=f"{cls.__name__}: inplace must be a bool, got 'yes'"):
        cls(0.3, 3, "yes")


@pytest.mark.parametrize(("cls", "fn", "shape"), CASES, ids=IDS)
def test_errors_name_the_module_called(cls, fn, shape) -> None:
    with pytest.raises(ValueError, match=f"^{cls.__name__}: expected") as info:
        cls(0.3, 3)(torch.ones(4))
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(ValueError, match=f"^{fn.__name__}: block_size must be <="):
        fn(torch.ones(shape), 0.3, 13)  # larger than every spatial size above
