"""The CNN builder: shapes for images and 1-D signals, dropout layers active only in training."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

from dropkit.models import build_model
from dropkit.models.cnn import CNN
from dropkit.nn import DropBlock1d, DropBlock2d, Dropout, Dropout1d, Dropout2d
from dropkit.train.config import Config


def cfg(**changes: object) -> Config:
    return Config(model="cnn", **changes)  # type: ignore[arg-type]


def test_docstring_examples() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.models.cnn")).failed == 0


@pytest.mark.parametrize(
    ("shape", "conv_dropout", "expected"),
    [
        ((1, 28, 28), "channel", Dropout2d),
        ((1, 8, 8), "channel", Dropout2d),
        ((40,), "channel", Dropout1d),
        ((1, 28, 28), "block", DropBlock2d),
        ((1, 8, 8), "block", DropBlock2d),
        ((40,), "block", DropBlock1d),
    ],
)
def test_shapes_and_dropout_layers(shape: tuple[int, ...], conv_dropout: str, expected: type) -> None:
    model = build_model(cfg(conv_dropout=conv_dropout, channels=[8, 16, 16], fc_hidden=32, block_size=5), shape, 10)
    assert isinstance(model, CNN)
    assert model(torch.randn((3,) + shape)).shape == (3, 10)
    conv_layers = [m for m in model.modules() if isinstance(m, expected)]
    assert len(conv_layers) == 3 and all(m.p == 0.1 for m in conv_layers)
    heads = [m for m in model.classifier if isinstance(m, Dropout)]
    assert len(heads) == 1 and heads[0].p == 0.5


def test_dropout_active_only_in_training() -> None:
    model = build_model(cfg(conv_p=0.3, p=0.5, batch_norm=False), (1, 8, 8), 10)
    x = torch.randn(4, 1, 8, 8)
    model.train()
    assert not torch.equal(model(x), model(x))  # masks differ between steps
    model.eval()
    assert torch.equal(model(x), model(x))
    no_dropout = build_model(cfg(conv_p=0.0, p=0.0, batch_norm=False), (1, 8, 8), 10).train()
    assert torch.equal(no_dropout(x), no_dropout(x))


def test_without_dropout_zeroes_the_cnn_rates() -> None:
    c = cfg(conv_p=0.2, p=0.4).without_dropout()
    assert c.p == 0.0 and c.conv_p == 0.0  # conv_p must be in DROPOUT_FIELDS


def test_block_size_capped_at_the_map() -> None:
    model = build_model(cfg(conv_dropout="block", block_size=7, channels=[4, 4, 4]), (1, 8, 8), 10)
    sizes = [m.block_size for m in model.modules() if isinstance(m, DropBlock2d)]
    assert sizes == [4, 2, 1]
    assert model.train()(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_learns_a_tiny_problem() -> None:
    # the class is the sign of the signal's mean: a few Adam steps must fit it
    torch.manual_seed(0)
    x = torch.randn(256, 40) + torch.where(torch.rand(256, 1) < 0.5, -1.0, 1.0)
    y = (x.mean(1) > 0).long()
    model = CNN((40,), 2, channels=(8,), fc_hidden=16, conv_p=0.1, p=0.1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert (model.eval()(x).argmax(1) == y).float().mean().item() > 0.95


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="got 'dropblock'"):
        CNN((1, 8, 8), 10, conv_dropout="dropblock")
    with pytest.raises(ValueError, match="got 1.5"):
        CNN((1, 8, 8), 10, conv_p=1.5)
    with pytest.raises(ValueError, match="got 4"):
        CNN((1, 8, 8), 10, kernel_size=4)
    with pytest.raises(ValueError, match=r"got \(1, 2, 8, 8\)"):
        CNN((1, 2, 8, 8), 10)
    with pytest.raises(ValueError, match=r"got \[\]"):
        CNN((40,), 10, channels=())
