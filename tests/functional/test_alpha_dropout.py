"""Alpha dropout and feature alpha dropout (Klambauer et al. 2017), checked against torch's."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
import torch.nn.functional as F

from dropkit.functional import alpha_dropout, feature_alpha_dropout
from dropkit.functional.alpha_dropout import SELU_ALPHA_PRIME
from dropkit.nn import AlphaDropout, FeatureAlphaDropout


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def affine(p: float) -> tuple[float, float]:
    """a, b of Klambauer et al. 2017, written from the paper: q = 1 - p."""
    q = 1 - p
    a = (q + SELU_ALPHA_PRIME**2 * q * (1 - q)) ** -0.5
    return a, -a * (1 - q) * SELU_ALPHA_PRIME


def test_docstring_examples() -> None:
    for name in ("dropkit.functional.alpha_dropout", "dropkit.nn.alpha_dropout"):
        assert doctest.testmod(importlib.import_module(name)).failed == 0


def test_selu_constant() -> None:
    assert SELU_ALPHA_PRIME == pytest.approx(-1.7580993408473766, abs=1e-12)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.7])
def test_every_output_is_kept_or_saturated(p: float) -> None:
    x = torch.randn(400, 50, dtype=torch.float64, generator=gen(1))
    y = alpha_dropout(x, p, generator=gen(2))
    a, b = affine(p)
    kept = torch.isclose(y, a * x + b, rtol=0, atol=1e-12)
    dropped = torch.isclose(y, torch.full_like(y, a * SELU_ALPHA_PRIME + b), rtol=0, atol=1e-12)
    assert bool((kept | dropped).all())
    n = x.numel()
    assert abs(dropped.double().mean().item() - p) < 6 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keeps_mean_zero_variance_one(p: float) -> None:
    # For x ~ N(0, 1) the output has mean 0 and variance 1 (the point of the method). Standard errors
    # from the sample: sd/sqrt(n) for the mean, sqrt((m4 - var^2)/n) for the variance.
    n = 400_000
    x = torch.randn(n, dtype=torch.float64, generator=gen(3))
    y = alpha_dropout(x, p, generator=gen(4))
    var = y.var().item()
    m4 = ((y - y.mean()) ** 4).mean().item()
    assert abs(y.mean().item()) < 6 * math.sqrt(var / n)
    assert abs(var - 1.0) < 6 * math.sqrt((m4 - var**2) / n)


def test_matches_torch_alpha_dropout_for_the_same_seed() -> None:
    x = torch.randn(300, 40)
    for p in (0.2, 0.6):
        torch.manual_seed(123)
        expected = F.alpha_dropout(x, p, training=True)
        torch.manual_seed(123)
        torch.testing.assert_close(alpha_dropout(x, p), expected, rtol=0, atol=1e-6)


def test_feature_alpha_matches_torch_and_shares_the_mask_per_channel() -> None:
    x = torch.randn(64, 16, 5, 3)
    torch.manual_seed(7)
    expected = F.feature_alpha_dropout(x, 0.3, training=True)
    torch.manual_seed(7)
    y = feature_alpha_dropout(x, 0.3)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)
    a, b = affine(0.3)
    dropped = torch.isclose(y, torch.full_like(y, a * SELU_ALPHA_PRIME + b), rtol=0, atol=1e-6)
    per_channel = dropped.flatten(2)
    assert bool((per_channel.all(2) | (~per_channel).all(2)).all())  # whole channels


def test_statistics_agree_with_torch() -> None:
    # Same distribution as torch's: compare the output moments of two independent draws.
    n = 200_000
    x = torch.randn(n, dtype=torch.float64, generator=gen(5))
    ours = alpha_dropout(x, 0.2, generator=gen(6))
    torch.manual_seed(8)
    theirs = F.alpha_dropout(x, 0.2, training=True)
    se = math.sqrt(2 / n)  # both have variance ~1
    assert abs(ours.mean().item() - theirs.mean().item()) < 6 * se
    # The sample variance of n draws has variance (m4 - var**2) / n (m4: the fourth central moment);
    # the two draws are independent, so their difference has the sum of both.
    def var_of_var(y: torch.Tensor) -> float:
        c = y - y.mean()
        return ((c**4).mean().item() - c.var().item() ** 2) / n

    assert abs(ours.var().item() - theirs.var().item()) <= 6 * math.sqrt(var_of_var(ours) + var_of_var(theirs))


def test_training_defaults_to_true_unlike_torch() -> None:
    x = torch.randn(100)
    assert not torch.equal(alpha_dropout(x, 0.5), x)
    assert torch.equal(F.alpha_dropout(x, 0.5), x)  # torch's default is training=False


def test_eval_p0_identity_and_p1_zeros() -> None:
    x = torch.randn(4, 6, requires_grad=True)
    for fn in (alpha_dropout, feature_alpha_dropout):
        assert torch.equal(fn(x, 0.4, training=False), x)
        assert torch.equal(fn(x, 0.0), x)
        y = fn(x, 1.0)
        assert torch.equal(y, torch.zeros_like(x))
        (g,) = torch.autograd.grad(y.sum(), x)
        assert torch.isfinite(g).all()


def test_gradcheck() -> None:
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: alpha_dropout(t, 0.3, generator=gen(7)), (x,))
    assert torch.autograd.gradcheck(lambda t: feature_alpha_dropout(t, 0.3, generator=gen(7)), (x,))


def test_compile_matches_eager() -> None:
    fn = lambda t: feature_alpha_dropout(t, 0.3) + alpha_dropout(t, 0.2)  # noqa: E731
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    x = torch.randn(4, 5, 3)
    torch.manual_seed(11)
    expected = fn(x)
    torch.manual_seed(11)
    assert torch.equal(compiled(x), expected)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        alpha_dropout(torch.ones(2), 1.5)
    with pytest.raises(ValueError, match="got -0.2"):
        feature_alpha_dropout(torch.ones(2, 2), -0.2)
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        feature_alpha_dropout(torch.ones(5), 0.5)
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        alpha_dropout(torch.ones(2, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="got 2"):
        AlphaDropout(2)


def test_modules() -> None:
    assert repr(AlphaDropout(0.1)) == "AlphaDropout(p=0.1)"
    assert repr(FeatureAlphaDropout(0.2)) == "FeatureAlphaDropout(p=0.2)"
    x = torch.randn(8, 4, 3)
    for layer in (AlphaDropout(0.5, generator=gen(1)), FeatureAlphaDropout(0.5, generator=gen(1))):
        assert not torch.equal(layer(x), x)
        assert torch.equal(layer.eval()(x), x)
