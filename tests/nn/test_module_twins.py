"""Each Module computes exactly what its functional twin computes with the same arguments and generator.

A Module that passes a wrong argument on (``DropBlock3d`` handing ``block_size - 1`` to
``drop_block3d`` drops smaller cubes, still whole ones) passed every statistical test of its own: only
the comparison with the functional, drawing from the same generator state, pins the arguments down.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from dropkit import functional as F
from dropkit.nn import DropBlock1d, DropBlock2d, DropBlock3d, LockedDropout


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


CASES: list[tuple[str, Callable[[torch.Generator], nn.Module], Callable[..., torch.Tensor], tuple[int, ...]]] = [
    ("DropBlock1d", lambda g: DropBlock1d(0.3, 3, generator=g), lambda x, g: F.drop_block1d(x, 0.3, 3, generator=g),
     (2, 3, 20)),
    ("DropBlock1d-shared", lambda g: DropBlock1d(0.3, 4, share_channels=True, generator=g),
     lambda x, g: F.drop_block1d(x, 0.3, 4, share_channels=True, generator=g), (2, 3, 20)),
    ("DropBlock2d", lambda g: DropBlock2d(0.3, 3, generator=g), lambda x, g: F.drop_block2d(x, 0.3, 3, generator=g),
     (2, 3, 10, 10)),
    ("DropBlock2d-shared", lambda g: DropBlock2d(0.2, 5, share_channels=True, generator=g),
     lambda x, g: F.drop_block2d(x, 0.2, 5, share_channels=True, generator=g), (2, 3, 10, 10)),
    ("DropBlock3d", lambda g: DropBlock3d(0.3, 3, generator=g), lambda x, g: F.drop_block3d(x, 0.3, 3, generator=g),
     (2, 2, 6, 6, 6)),
    ("DropBlock3d-shared", lambda g: DropBlock3d(0.3, 2, share_channels=True, generator=g),
     lambda x, g: F.drop_block3d(x, 0.3, 2, share_channels=True, generator=g), (2, 2, 6, 6, 6)),
    ("LockedDropout", lambda g: LockedDropout(0.4, generator=g), lambda x, g: F.locked_dropout(x, 0.4, generator=g),
     (7, 3, 5)),
    ("LockedDropout-batch-first", lambda g: LockedDropout(0.4, batch_first=True, generator=g),
     lambda x, g: F.locked_dropout(x, 0.4, batch_first=True, generator=g), (3, 7, 5)),
]


@pytest.mark.parametrize(("name", "module", "functional", "shape"), CASES, ids=[c[0] for c in CASES])
def test_module_equals_functional_with_the_same_generator(name, module, functional, shape) -> None:
    x = torch.randn(shape, generator=_gen(1)) + 3.0  # away from 0, so every dropped unit shows
    dropped = 0
    for seed in range(4):
        y = module(_gen(seed))(x)
        assert torch.equal(y, functional(x, _gen(seed))), name
        dropped += int((y == 0).sum())
    assert 0 < dropped < 4 * x.numel()  # the comparison saw masks that drop something
    assert torch.equal(module(_gen(0)).eval()(x), x)


# Module -> functional twin whose defaults it must share (names and values of the rate arguments).
TWINS = {
    "Dropout": "dropout", "GaussianDropout": "gaussian_dropout", "AlphaDropout": "alpha_dropout",
    "FeatureAlphaDropout": "feature_alpha_dropout", "ChannelDropout": "channel_dropout", "Dropout1d": "dropout1d",
    "Dropout2d": "dropout2d", "Dropout3d": "dropout3d", "DropBlock1d": "drop_block1d", "DropBlock2d": "drop_block2d",
    "DropBlock3d": "drop_block3d", "DropPath": "drop_path", "DropPathResidual": "drop_path_residual",
    "DropConnectLinear": "drop_connect_linear", "LockedDropout": "locked_dropout",
    "EmbeddingDropout": "embedding_dropout", "WeightDrop": "weight_drop", "ZoneoutLSTMCell": "zoneout",
    "ZoneoutGRUCell": "zoneout", "ZoneoutLSTM": "zoneout", "ZoneoutGRU": "zoneout",
    "ResidualDropout": "residual_dropout", "TokenDropout": "token_dropout", "PatchDropout": "token_dropout",
    "DropoutLinear": "dropout_linear", "DropoutAddLayerNorm": "dropout_add_layer_norm",
    "DropoutAddRMSNorm": "dropout_add_rms_norm",
}


def _default(fn, name: str):
    import inspect

    return inspect.signature(fn).parameters[name].default


@pytest.mark.parametrize("module_name", sorted(TWINS))
def test_module_default_rate_is_its_functionals(module_name: str) -> None:
    import dropkit.nn as dnn

    cls, fn = getattr(dnn, module_name), getattr(F, TWINS[module_name])
    assert _default(cls.__init__, "p") == _default(fn, "p"), f"{module_name} vs {fn.__name__}"


def test_every_layer_prints_under_its_own_name() -> None:
    import dropkit.nn as dnn

    layers = [dnn.PatchDropout(0.2), dnn.TokenDropout(0.2), dnn.ZoneoutLSTM(2, 3, p=0.2), dnn.ZoneoutGRU(2, 3, p=0.2),
              dnn.ZoneoutLSTMCell(2, 3, p=0.2), dnn.LockedDropout(0.2), dnn.DropBlock2d(0.2, 3)]
    for layer in layers:
        text = repr(layer)
        assert text.startswith(type(layer).__name__ + "("), text  # PatchDropout printed as TokenDropout before
        assert "p=0.2" in text and "zoneout_p" not in text, text  # the constructor's argument name and value
