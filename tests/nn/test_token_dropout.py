"""TokenDropout / PatchDropout modules."""

from __future__ import annotations

import pytest
import torch

from dropkit.nn import PatchDropout, TokenDropout


def test_train_shape_eval_identity_and_alias():
    assert issubclass(PatchDropout, TokenDropout)  # timm's name: the same layer, printed as built
    assert repr(PatchDropout(0.25)) == "PatchDropout(p=0.25, num_prefix_tokens=0, ordered=False)"
    layer = TokenDropout(0.5, num_prefix_tokens=1, return_indices=True)
    x = torch.randn(2, 11, 4)
    y, idx = layer(x)
    assert y.shape == (2, 6, 4) and idx.shape == (2, 5)
    assert torch.equal(y[:, 0], x[:, 0])
    y_eval, _ = layer.eval()(x)
    assert y_eval is x
    assert "p=0.5, num_prefix_tokens=1" in repr(layer)


def test_generator_reproducible():
    x = torch.randn(3, 9, 2)
    a = TokenDropout(0.4, generator=torch.Generator().manual_seed(3))(x)
    b = TokenDropout(0.4, generator=torch.Generator().manual_seed(3))(x)
    assert torch.equal(a, b)


def test_bad_arguments():
    with pytest.raises(ValueError, match="got 1"):
        TokenDropout(1.0)
    with pytest.raises(ValueError, match="got -2"):
        TokenDropout(0.1, num_prefix_tokens=-2)
