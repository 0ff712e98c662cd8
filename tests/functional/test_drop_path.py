"""DropPath / stochastic depth (Huang et al. 2016, arXiv:1603.09382) and the compute-skipping form.

torchvision.ops.stochastic_depth would be the natural reference, but PyPI's torchvision does not
import beside the torch 2.13.0 CPU build used here; the tests check the behaviour it documents
instead: whole rows (mode="row") or the whole input (mode="batch") zeroed with probability p,
survivors divided by 1 - p.
"""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
from torch import nn

from dropkit.functional import drop_path, drop_path_residual
from dropkit.nn import DropPath, DropPathResidual


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_docstring_examples() -> None:
    for name in ("dropkit.functional.drop_path", "dropkit.nn.drop_path"):
        assert doctest.testmod(importlib.import_module(name)).failed == 0


@pytest.mark.parametrize("scale_by_keep", [True, False])
def test_row_mode_drops_whole_samples(scale_by_keep: bool) -> None:
    p = 0.3
    x = torch.rand(64, 3, 4, generator=gen(1)) + 0.5
    y = drop_path(x, p, scale_by_keep=scale_by_keep, generator=gen(2))
    scale = 1 / (1 - p) if scale_by_keep else 1.0
    flat_x, flat_y = x.flatten(1), y.flatten(1)
    dropped = (flat_y == 0).all(1)
    kept = torch.isclose(flat_y, flat_x * scale, rtol=1e-6, atol=0).all(1)
    assert bool((dropped ^ kept).all()) and dropped.any() and kept.any()


def test_batch_mode_drops_everything_or_nothing() -> None:
    x = torch.rand(8, 5) + 0.5
    outcomes = set()
    g = gen(3)
    for _ in range(40):
        y = drop_path(x, 0.5, mode="batch", generator=g)
        if torch.equal(y, torch.zeros_like(x)):
            outcomes.add("dropped")
        else:
            torch.testing.assert_close(y, x * 2)
            outcomes.add("kept")
    assert outcomes == {"dropped", "kept"}


def test_rate_and_unbiased_mean() -> None:
    # n independent row decisions: rate sd sqrt(p(1-p)/n); for x = 1 each row's value keep/(1-p) has
    # variance p/(1-p), so the mean has sd sqrt(p/(1-p)/n).
    p, n = 0.2, 50_000
    y = drop_path(torch.ones(n, 2), p, generator=gen(4))
    assert abs((y[:, 0] == 0).double().mean().item() - p) < 6 * math.sqrt(p * (1 - p) / n)
    assert abs(y.mean().item() - 1.0) < 6 * math.sqrt(p / (1 - p) / n)


def test_eval_p0_identity_and_p1_zeros_with_finite_grads() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    assert torch.equal(drop_path(x, 0.3, training=False), x)
    assert torch.equal(drop_path(x, 0.0), x)
    y = drop_path(x, 1.0)
    assert torch.equal(y, torch.zeros_like(x))
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(g).all()


def test_gradcheck() -> None:
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: drop_path(t, 0.4, generator=gen(7)), (x,))
    lin = nn.Linear(3, 3).double()
    assert torch.autograd.gradcheck(lambda t: drop_path_residual(t, lin, 0.4, generator=gen(7)), (x,))
    assert torch.autograd.gradcheck(
        lambda t: drop_path_residual(t, torch.tanh, 0.4, sampling="bernoulli", generator=gen(7)), (x,)
    )


def test_residual_runs_the_branch_only_on_kept_samples() -> None:
    seen: list[torch.Tensor] = []

    def branch(t: torch.Tensor) -> torch.Tensor:
        seen.append(t)
        return torch.full_like(t, 1.0)

    x = torch.arange(10.0).repeat_interleave(3).view(10, 3)
    y = drop_path_residual(x, branch, 0.3, generator=gen(5))  # fixed: k = floor(10 * 0.7) = 7
    (inp,) = seen
    assert inp.shape == (7, 3)
    changed = (y != x).all(1)
    assert changed.sum().item() == 7
    torch.testing.assert_close(y[changed], x[changed] + 10 / 7)
    assert torch.equal(y[~changed], x[~changed])
    assert sorted(inp[:, 0].tolist()) == x[changed][:, 0].tolist()  # the branch saw exactly those


def test_residual_bernoulli_equals_drop_path_for_the_same_generator_state() -> None:
    x = torch.randn(32, 4)
    branch = nn.Linear(4, 4)
    y = drop_path_residual(x, branch, 0.4, sampling="bernoulli", generator=gen(6))
    with torch.no_grad():
        expected = x + drop_path(branch(x), 0.4, generator=gen(6))
        torch.testing.assert_close(y.detach(), expected)


@pytest.mark.parametrize("sampling", ["fixed", "bernoulli"])
def test_residual_is_unbiased(sampling: str) -> None:
    # y = x + (scaled branch on kept rows); mean over rows of (y - x) estimates mean(b).
    # fixed: the mean of k rows drawn without replacement, sd = sd(b)/sqrt(k) * sqrt((N-k)/(N-1));
    # bernoulli: mean of keep_i b_i / (1 - p), sd = sqrt(mean(b^2) p/(1-p) / N).
    n, p = 20_000, 0.3
    x = torch.randn(n, 1, dtype=torch.float64, generator=gen(1))
    branch = lambda t: 2 * t + 1  # noqa: E731
    b = branch(x)
    y = drop_path_residual(x, branch, p, sampling=sampling, generator=gen(2))
    if sampling == "fixed":
        k = int(n * (1 - p))
        sd = b.std().item() / math.sqrt(k) * math.sqrt((n - k) / (n - 1))
    else:
        sd = math.sqrt((b**2).mean().item() * p / (1 - p) / n)
    assert abs((y - x).mean().item() - b.mean().item()) < 6 * sd


def test_residual_eval_p0_and_p1() -> None:
    x = torch.randn(5, 2)
    branch = lambda t: t * 3  # noqa: E731
    assert torch.equal(drop_path_residual(x, branch, 0.5, training=False), x + x * 3)
    assert torch.equal(drop_path_residual(x, branch, 0.0), x + x * 3)
    calls = []
    assert torch.equal(drop_path_residual(x, lambda t: calls.append(1) or t, 1.0), x)
    assert calls == []


def test_residual_module_gradients_flow_to_branch_and_input() -> None:
    block = DropPathResidual(nn.Linear(4, 4), 0.5, generator=gen(3))
    x = torch.randn(16, 4, requires_grad=True)
    block(x).sum().backward()
    assert block.branch.weight.grad is not None and torch.isfinite(block.branch.weight.grad).all()
    assert torch.isfinite(x.grad).all()
    block.eval()
    with torch.no_grad():
        torch.testing.assert_close(block(x), x + block.branch(x))


def test_compile_matches_eager() -> None:
    lin = nn.Linear(5, 5)
    fn = lambda t: drop_path(t, 0.3) + drop_path_residual(t, lin, 0.5)  # noqa: E731
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    x = torch.randn(8, 5)
    torch.manual_seed(11)
    expected = fn(x)
    torch.manual_seed(11)
    assert torch.equal(compiled(x), expected)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        drop_path(torch.ones(2, 2), 1.5)
    with pytest.raises(ValueError, match="got 'rows'"):
        drop_path(torch.ones(2, 2), 0.5, mode="rows")
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        drop_path(torch.tensor(1.0), 0.5)
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        drop_path(torch.ones(2, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="got -0.5"):
        drop_path_residual(torch.ones(2, 2), torch.tanh, -0.5)
    with pytest.raises(TypeError, match="got int"):
        drop_path_residual(torch.ones(2, 2), 3, 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="got 'uniform'"):
        drop_path_residual(torch.ones(2, 2), torch.tanh, 0.5, sampling="uniform")
    with pytest.raises(ValueError, match=r"trailing shape \(2,\), got output shape \(1, 3\)"):
        drop_path_residual(torch.ones(2, 2), lambda t: torch.ones(t.shape[0], 3), 0.5)
    with pytest.raises(ValueError, match="got 2"):
        DropPath(2)
    with pytest.raises(TypeError, match="got builtin_function_or_method"):
        DropPathResidual(torch.tanh, 0.1)  # type: ignore[arg-type]


def test_modules() -> None:
    assert repr(DropPath(0.2)) == "DropPath(p=0.2, mode='row')"
    assert repr(DropPath(0.2, "batch", scale_by_keep=False)) == "DropPath(p=0.2, mode='batch', scale_by_keep=False)"
    assert "p=0.5, sampling='fixed'" in repr(DropPathResidual(nn.Identity(), 0.5))
    x = torch.ones(32, 3)
    layer = DropPath(0.5, generator=gen(1))
    y = layer(x)
    assert bool(((y == 0).all(1) | (y == 2).all(1)).all()) and not torch.equal(y, x)
    assert torch.equal(layer.eval()(x), x)
