"""The counter-based (portable) path under ``torch.func`` transforms: ``grad``, ``jvp`` and ``vmap``.

The eager path is made of autograd Functions without ``setup_context`` and of in-place / ``out=`` ops;
under a transform it switches to plain ops (out-of-place Philox rounds, no checkpoint region) that
draw the same masks.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.func import functional_call, grad, jvp, stack_module_state, vmap

from dropkit.functional import bias_dropout_add, dropout, dropout_linear
from dropkit.nn import Dropout
from dropkit.rng import PhiloxState, keep_mask, keep_scale, make_rng

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def _scaled_keep(shape: tuple[int, ...], p: float, seed: int) -> torch.Tensor:
    return keep_mask(make_rng(seed, 0), shape, p).double() * keep_scale(p)


def test_grad_and_jvp_use_the_eager_mask() -> None:
    x, t = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    f = lambda a: dropout(a, 0.3, backend="portable", stream=PhiloxState(11))  # noqa: E731
    scaled = _scaled_keep(x.shape, 0.3, 11)
    assert torch.equal(f(x), x * scaled)
    primal, tangent = jvp(f, (x,), (t,))
    assert torch.equal(primal, x * scaled) and torch.equal(tangent, t * scaled)
    assert torch.equal(grad(lambda a: f(a).sum())(x), scaled)


def test_grad_through_fused_ops() -> None:
    x, w = torch.randn(4, 8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    scaled = _scaled_keep(x.shape, 0.3, 5)
    g = grad(lambda a: bias_dropout_add(a, None, a, 0.3, stream=PhiloxState(5), backend="portable").sum())(x)
    assert torch.equal(g, scaled + 1.0)
    g = grad(lambda a: dropout_linear(a, w, None, 0.3, stream=PhiloxState(5)).sum())(x)
    torch.testing.assert_close(g, scaled * w.sum(0), rtol=1e-12, atol=1e-12)


def test_vmap_over_seeds_draws_each_seeds_mask() -> None:
    rngs = torch.stack([make_rng(s, 3) for s in (1, 2, 3)])
    batched = vmap(lambda r: keep_mask(r, (5, 7), 0.3))(rngs)
    for i in range(3):
        assert torch.equal(batched[i], keep_mask(rngs[i], (5, 7), 0.3))


@pytest.mark.parametrize("randomness", ["different", "same"])
def test_vmapped_ensemble(randomness: str) -> None:
    """``stack_module_state`` + ``vmap``: members get their own masks with ``randomness="different"``
    and one shared mask with ``"same"``."""
    torch.manual_seed(0)
    members = [torch.nn.Sequential(torch.nn.Linear(8, 16), Dropout(0.5, backend="portable")) for _ in range(3)]
    params, buffers = stack_module_state(members)
    base = copy.deepcopy(members[0]).to("meta")
    x = torch.randn(4, 8)
    y = vmap(lambda p, b: functional_call(base, (p, b), (x,)), randomness=randomness)(params, buffers)
    dropped = [(y[i] == 0) for i in range(3)]
    assert 0 < dropped[0].float().mean() < 1
    if randomness == "same":
        assert torch.equal(dropped[0], dropped[1]) and torch.equal(dropped[1], dropped[2])
    else:
        assert not torch.equal(dropped[0], dropped[1])
