"""Every ``dropkit.nn`` layer computes, saves and loads what it did before the shared base (issue 21, item 3).

``tests/nn/reference/layers-e904e81.pt`` was written by this file's ``__main__`` with the code of commit
e904e81 (before :class:`dropkit.nn.DropoutModule`): for each case below, the training forward and backward
on fixed seeds (outputs, input and parameter gradients, bit for bit), the eval forward, ``repr``, the
``state_dict`` and, where torch can pickle the module, the whole module. The tests rebuild each case with
today's code and compare: the same masks, outputs and gradients, the same ``repr``, and the old
``state_dict`` and pickle load into today's classes.

Regenerate only on purpose (a change of masks is a behaviour change for CHANGELOG.md)::

    PYTHONPATH=$PWD python tests/nn/test_saved_reference.py tests/nn/reference/layers-<sha>.pt
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import dropkit.nn as dnn
from dropkit.rng import PhiloxState

REFERENCE = Path(__file__).with_name("reference") / "layers-e904e81.pt"

# Changed on purpose with the base: the weight-dropped RNNs printed torch's internal ``Parametrized<Name>`` and
# hid their rate; they now print under their exported name with ``weight_p=``. Nothing else may change.
REPR_CHANGES = {
    "WeightDropLSTM": [("ParametrizedWeightDropLSTM(\n  3, 4, num_layers=2\n", "WeightDropLSTM(\n  3, 4, num_layers=2, weight_p=0.3\n")],
    "WeightDropGRU": [("ParametrizedWeightDropGRU(\n  3, 4, batch_first=True\n", "WeightDropGRU(\n  3, 4, batch_first=True, weight_p=0.3\n")],
}


def _saved_repr(name: str, saved: str) -> str:
    for old, new in REPR_CHANGES.get(name, []):
        assert old in saved, (name, saved)
        saved = saved.replace(old, new)
    return saved


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int = 7, offset: float = 0.0) -> Tensor:
    return torch.randn(shape, generator=_gen(seed), dtype=torch.float64).float() + offset


def _x(*shape: int) -> Callable[[], tuple]:
    return lambda: (_randn(*shape, offset=0.5),)


def _ids(*shape: int, vocab: int = 11) -> Callable[[], tuple]:
    return lambda: (torch.randint(0, vocab, shape, generator=_gen(3)),)


def _two(*shape: int) -> Callable[[], tuple]:
    return lambda: (_randn(*shape, seed=1), _randn(*shape, seed=2))


def _seq(t: int, b: int, d: int) -> Callable[[], tuple]:
    return lambda: (_randn(t, b, d),)


# name -> (builder, inputs); the builder runs after torch.manual_seed(1234), the forward after manual_seed(99).
CASES: dict[str, tuple[Callable[[], nn.Module], Callable[[], tuple]]] = {
    "Dropout": (lambda: dnn.Dropout(0.3), _x(6, 8)),
    "Dropout-inplace-shared": (lambda: dnn.Dropout(0.4, False, broadcast_dims=(0,)), _x(6, 8)),
    "Dropout-portable": (lambda: dnn.Dropout(0.3, backend="portable"), _x(6, 8)),
    "Dropout-stream": (lambda: dnn.Dropout(0.3, stream=PhiloxState(5)), _x(6, 8)),
    "Dropout-generator": (lambda: dnn.Dropout(0.25, generator=_gen(11)), _x(6, 8)),
    "AlphaDropout": (lambda: dnn.AlphaDropout(0.2), _x(6, 8)),
    "FeatureAlphaDropout": (lambda: dnn.FeatureAlphaDropout(0.3), _x(4, 5, 3)),
    "GaussianDropout": (lambda: dnn.GaussianDropout(0.3, broadcast_dims=(1,)), _x(6, 8)),
    "GaussianNoise": (lambda: dnn.GaussianNoise(0.2), _x(6, 8)),
    "ChannelDropout": (lambda: dnn.ChannelDropout(0.4, spatial_dims=1), _x(4, 6, 5)),
    "ChannelDropout-last": (lambda: dnn.ChannelDropout(0.4, 2, channels_last=True), _x(2, 4, 4, 6)),
    "Dropout1d": (lambda: dnn.Dropout1d(0.4), _x(4, 6, 5)),
    "Dropout2d": (lambda: dnn.Dropout2d(0.4), _x(2, 6, 4, 4)),
    "Dropout3d": (lambda: dnn.Dropout3d(0.4), _x(2, 6, 2, 3, 3)),
    "DropBlock1d": (lambda: dnn.DropBlock1d(0.3, 3), _x(2, 3, 20)),
    "DropBlock2d": (lambda: dnn.DropBlock2d(0.3, 3), _x(2, 3, 10, 10)),
    "DropBlock3d": (lambda: dnn.DropBlock3d(0.3, 2, share_channels=True), _x(2, 2, 6, 6, 6)),
    "DropPath": (lambda: dnn.DropPath(0.4), _x(16, 5)),
    "DropPath-batch": (lambda: dnn.DropPath(0.4, "batch", scale_by_keep=False), _x(16, 5)),
    "DropPathResidual": (lambda: dnn.DropPathResidual(nn.Linear(5, 5), 0.4), _x(16, 5)),
    "DropPathResidual-bernoulli": (lambda: dnn.DropPathResidual(nn.Linear(5, 5), 0.4, "bernoulli"), _x(16, 5)),
    "DropConnectLinear": (lambda: dnn.DropConnectLinear(5, 4, p=0.3), _x(3, 5)),
    "DropConnectConv1d": (lambda: dnn.DropConnectConv1d(2, 3, 3, padding=1, p=0.3), _x(2, 2, 7)),
    "DropConnectConv2d": (lambda: dnn.DropConnectConv2d(2, 3, 3, padding=1, p=0.3), _x(2, 2, 5, 5)),
    "DropConnectConv3d": (lambda: dnn.DropConnectConv3d(1, 2, 2, p=0.3), _x(1, 1, 3, 3, 3)),
    "EmbeddingDropout": (lambda: dnn.EmbeddingDropout(11, 4, p=0.3), _ids(3, 5)),
    "EmbeddingDropout-padding": (lambda: dnn.EmbeddingDropout(11, 4, 0.3, padding_idx=0), _ids(3, 5)),
    "LockedDropout": (lambda: dnn.LockedDropout(0.4), _seq(7, 3, 5)),
    "LockedDropout-batch-first": (lambda: dnn.LockedDropout(0.4, batch_first=True), _x(3, 7, 5)),
    "VariationalLSTM": (lambda: dnn.VariationalLSTM(3, 4, 2, input_p=0.2, recurrent_p=0.3, weight_p=0.25),
                        _seq(5, 2, 3)),
    "VariationalLSTM-fused": (lambda: dnn.VariationalLSTM(3, 4, input_p=0.2, batch_first=True), _x(2, 5, 3)),
    "VariationalGRU": (lambda: dnn.VariationalGRU(3, 4, 2, input_p=0.2, recurrent_p=0.3, zoneout_p=0.2),
                       _seq(5, 2, 3)),
    "WeightDrop": (lambda: dnn.WeightDrop(0.3), _x(4, 4)),
    "WeightDropLSTM": (lambda: dnn.WeightDropLSTM(3, 4, num_layers=2, weight_p=0.3), _seq(5, 2, 3)),
    "WeightDropGRU": (lambda: dnn.WeightDropGRU(3, 4, weight_p=0.3, batch_first=True), _x(2, 5, 3)),
    "apply_weight_drop": (lambda: dnn.apply_weight_drop(nn.LSTM(3, 4), p=0.3, broadcast_dims=(1,)), _seq(5, 2, 3)),
    "ZoneoutLSTMCell": (lambda: dnn.ZoneoutLSTMCell(3, 4, p=0.2, cell_p=0.5), _x(2, 3)),
    "ZoneoutGRUCell": (lambda: dnn.ZoneoutGRUCell(3, 4, p=0.3), _x(2, 3)),
    "ZoneoutLSTM": (lambda: dnn.ZoneoutLSTM(3, 4, p=0.2, cell_p=0.4, input_p=0.1), _seq(5, 2, 3)),
    "ZoneoutGRU": (lambda: dnn.ZoneoutGRU(3, 4, 2, p=0.3), _seq(5, 2, 3)),
    "MultiHeadSelfAttention": (lambda: dnn.MultiHeadSelfAttention(8, num_heads=2, attn_drop=0.3, proj_drop=0.2),
                               _x(2, 5, 8)),
    "ResidualDropout": (lambda: dnn.ResidualDropout(0.3), _two(4, 6)),
    "TokenDropout": (lambda: dnn.TokenDropout(0.5, num_prefix_tokens=1), _x(2, 9, 4)),
    "PatchDropout": (lambda: dnn.PatchDropout(0.25, ordered=True, return_indices=True), _x(2, 9, 4)),
    "DropoutLinear": (lambda: dnn.DropoutLinear(5, 4, p=0.3), _x(3, 5)),
    "DropoutLinear-portable": (lambda: dnn.DropoutLinear(5, 4, p=0.3, backend="portable"), _x(3, 5)),
    "DropoutAddLayerNorm": (lambda: dnn.DropoutAddLayerNorm(6, p=0.3), _two(3, 6)),
    "DropoutAddRMSNorm": (lambda: dnn.DropoutAddRMSNorm(6, p=0.3, backend="portable"), _two(3, 6)),
    "ConcreteDropout": (lambda: dnn.ConcreteDropout(nn.Linear(6, 3), init_p=0.2), _x(4, 6)),
    "RDropLoss": (lambda: dnn.RDropLoss(alpha=0.5), lambda: (_randn(4, 3, seed=1), _randn(4, 3, seed=2),
                                                            torch.tensor([0, 2, 1, 0]))),
}


def _tensors(out: object) -> list[Tensor]:
    """The floating-point tensors of a (nested) output, in order; PackedSequence data included."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, nn.utils.rnn.PackedSequence):
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _tensors(item)]
    raise TypeError(f"unexpected output {type(out).__name__}")


def run_case(name: str) -> dict[str, object]:
    """Build the case, run a training forward and backward and an eval forward; everything to compare."""
    build, inputs = CASES[name]
    torch.manual_seed(1234)
    module = build()
    args = inputs()
    for a in args:
        if a.is_floating_point():
            a.requires_grad_(True)
    torch.manual_seed(99)
    out = _tensors(module.train()(*args))
    loss = sum((t * _randn(*t.shape, seed=5 + i)).sum() for i, t in enumerate(out) if t.is_floating_point())
    loss.backward()
    record: dict[str, object] = {
        "train": [t.detach().clone() for t in out],
        "input_grads": [a.grad.clone() for a in args if a.grad is not None],
        "param_grads": {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None},
    }
    torch.manual_seed(99)
    with torch.no_grad():
        record["eval"] = [t.clone() for t in _tensors(module.eval()(*args))]
    record["repr"] = repr(module)
    record["state_dict"] = {k: v.clone() for k, v in module.state_dict().items()}
    buffer = io.BytesIO()
    try:
        torch.save(module, buffer)
    except Exception:  # parametrized modules (weight drop) cannot be pickled whole: torch says so
        record["pickle"] = None
    else:
        record["pickle"] = buffer.getvalue()
    return record


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, object]]:
    return torch.load(REFERENCE, weights_only=False)


def test_the_reference_covers_every_case(reference) -> None:
    assert sorted(reference) == sorted(CASES)
    exported = {getattr(dnn, n) for n in dnn.__all__ if isinstance(getattr(dnn, n), type)}
    built = {cls for build, _ in CASES.values() for cls in type(build()).__mro__}  # Parametrized<Name> too
    added_after_the_reference = {dnn.SpecAugment}  # new with the speech task; tested in tests/functional/test_spec_augment.py
    assert exported - built - {dnn.DropoutModule} - added_after_the_reference == set(), "a layer without a saved reference"


def _equal(a: list[Tensor], b: list[Tensor]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and x.dtype == y.dtype and torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_gradients_and_repr_are_those_saved_before_the_base(name: str, reference) -> None:
    saved, now = reference[name], run_case(name)
    assert _equal(now["train"], saved["train"]), f"{name}: training outputs (masks) changed"
    assert _equal(now["input_grads"], saved["input_grads"]), f"{name}: input gradients changed"
    assert sorted(now["param_grads"]) == sorted(saved["param_grads"])
    assert all(torch.equal(now["param_grads"][k], v) for k, v in saved["param_grads"].items()), name
    assert _equal(now["eval"], saved["eval"]), f"{name}: eval outputs changed"
    assert now["repr"] == _saved_repr(name, saved["repr"])
    assert list(now["state_dict"]) == list(saved["state_dict"]), f"{name}: state_dict keys changed"


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_state_dict_and_a_pickle_saved_before_the_base_load(name: str, reference) -> None:
    saved = reference[name]
    torch.manual_seed(4321)  # other initial weights, so that loading shows
    module = CASES[name][0]()
    assert module.load_state_dict(saved["state_dict"]).missing_keys == []
    assert all(torch.equal(module.state_dict()[k], v) for k, v in saved["state_dict"].items())
    if saved["pickle"] is None:
        return
    old = torch.load(io.BytesIO(saved["pickle"]), weights_only=False)
    assert type(old) is type(module) and repr(old) == _saved_repr(name, saved["repr"])
    args = CASES[name][1]()
    with torch.no_grad():
        assert _equal(_tensors(old.eval()(*args)), saved["eval"]), f"{name}: the unpickled module computes otherwise"
        if getattr(old, "generator", None) is not None or getattr(old, "stream", None) is not None:
            return  # its generator or stream was pickled in the state the saved run left it in
        torch.manual_seed(99)
        unpickled = _tensors(old.train()(*args))
        torch.manual_seed(99)
        rebuilt = _tensors(module.train()(*args))
    assert _equal(unpickled, rebuilt), f"{name}: the unpickled module draws other masks"

if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    records = {name: run_case(name) for name in CASES}
    tmp = target.with_suffix(".tmp")
    torch.save(records, tmp)
    tmp.replace(target)
    print(f"wrote {len(records)} cases to {target} ({target.stat().st_size} bytes)")
