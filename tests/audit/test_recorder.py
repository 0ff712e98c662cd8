"""The dispatch-level recorder: every dropout path is caught, and the fraction dropped is counted exactly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dropkit.functional as DF
from dropkit.audit import audit_dropout
from dropkit.audit.recorder import RandomOpRecorder

from .conftest import within_binomial


def _record(fn):
    recorder = RandomOpRecorder(lambda: "", lambda: True, lambda: None)
    with recorder:
        out = fn()
    return recorder.events, out


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_torch_dropout_fraction_is_the_zeros_of_the_output(p):
    x = torch.randn(64, 128).abs() + 0.1  # no zeros of its own
    (event,), y = _record(lambda: F.dropout(x, p))
    assert event.op.startswith("aten::bernoulli_")
    assert event.kind == "mask" and event.total == x.numel()
    assert event.dropped == int((y == 0).sum())  # counted on the mask, the same as the zeros it made
    assert within_binomial(event.fraction, p, event.total)


def test_native_dropout_op_is_read_from_its_mask():
    x = torch.randn(4096).abs() + 0.1
    (event,), (y, keep) = _record(lambda: torch.native_dropout(x, 0.3, True))
    assert event.op.startswith("aten::native_dropout")
    assert event.dropped == int((~keep).sum()) == int((y == 0).sum())


@pytest.mark.parametrize("backend", ["native", "portable"])
def test_dropkit_backends_are_caught_and_measured(backend):
    x = torch.randn(64, 96).abs() + 0.1
    from dropkit.nn import Dropout

    net = nn.Sequential(Dropout(0.25, backend=backend))
    torch.manual_seed(1)
    state = torch.get_rng_state()
    report = audit_dropout(net, x)
    assert torch.equal(torch.get_rng_state(), state)  # the audit leaves torch's random state as it found it
    (event,) = report.events
    assert event.op.startswith("aten::randint")
    assert event.module == "0"
    # native: the mask is followed to the multiply; portable: its Philox mask comes from a Python int seed,
    # so the fraction is read at the module's output, with the batch as the number of independent units.
    assert event.measured_by == ("mask" if backend == "native" else "module output")
    with torch.no_grad():
        y = net(x)  # the same draw as the audit's
    assert event.dropped == int((y == 0).sum())
    assert within_binomial(event.fraction, 0.25, event.total)
    assert report.ok


def test_shared_mask_is_counted_once_per_mask_element():
    x = torch.randn(32, 16, 10).abs() + 0.1
    (event,), y = _record(lambda: DF.dropout(x, 0.5, broadcast_dims=(2,)))
    assert event.total == 32 * 16  # the (32, 16, 1) mask, not the 5120 outputs
    assert event.dropped * 10 == int((y == 0).sum())


def test_where_and_masked_fill_masks():
    x = torch.randn(2000).abs() + 0.1
    (e1,), _ = _record(lambda: torch.where(torch.rand_like(x) < 0.7, x, 0.0))  # keep with P = 0.7
    (e2,), _ = _record(lambda: x.masked_fill(torch.rand_like(x) < 0.2, 0.0))  # drop with P = 0.2
    assert e1.kind == e2.kind == "mask"
    assert within_binomial(e1.fraction, 0.3, 2000) and within_binomial(e2.fraction, 0.2, 2000)


def test_noise_is_not_a_mask():
    x = torch.randn(100, 10)
    (mul,), _ = _record(lambda: x * (1 + 0.5 * torch.randn_like(x)))
    (add,), _ = _record(lambda: x + 0.1 * torch.randn_like(x))
    assert (mul.kind, mul.fraction) == ("noise", None)
    assert (add.kind, add.fraction) == ("additive noise", None)


def test_sdpa_math_path_dropout_is_caught():
    q = torch.randn(2, 2, 8, 4)
    (event,), _ = _record(lambda: F.scaled_dot_product_attention(q, q, q, dropout_p=0.25))
    assert event.kind == "mask" and event.total == 2 * 2 * 8 * 8
    assert within_binomial(event.fraction, 0.25, event.total)


def test_structured_masks_are_marked():
    from dropkit.nn import DropBlock2d

    report = audit_dropout(nn.Sequential(DropBlock2d(0.1, block_size=3)), torch.randn(4, 3, 16, 16).abs() + 0.1)
    (event,) = report.events
    assert event.structured  # max-pooled seeds: no binomial bound applies
    assert event.fraction is not None and report.ok


def test_random_ops_told_not_to_train_draw_nothing():
    # RReLU's eval mode and native_dropout(train=False) call a random op that draws nothing
    (_,), _ = _record(lambda: torch.native_dropout(torch.ones(8), 0.5, True))
    assert _record(lambda: torch.native_dropout(torch.ones(8), 0.5, False))[0] == []
    rrelu = nn.RReLU()
    assert audit_dropout(rrelu, torch.randn(4, 4), training=False).random_ops == 0
    assert audit_dropout(rrelu, torch.randn(4, 4)).random_ops == 1


def _layers():
    from dropkit import nn as dn

    x2, x3, x4 = (torch.randn(32, 16).abs() + 0.1, torch.randn(6, 10, 16).abs() + 0.1, torch.randn(4, 8, 12, 12).abs() + 0.1)
    return {
        "AlphaDropout": (dn.AlphaDropout(0.2), x2, "mask"),
        "torch.FeatureAlphaDropout": (nn.FeatureAlphaDropout(0.2), x4, "mask"),
        "Dropout2d": (dn.Dropout2d(0.2), x4, "mask"),
        "GaussianDropout": (dn.GaussianDropout(0.2), x2, "noise"),
        "GaussianNoise": (dn.GaussianNoise(0.1), x2, "additive noise"),
        "ConcreteDropout": (dn.ConcreteDropout(nn.Linear(16, 16)), x2, "noise"),
        "LockedDropout": (dn.LockedDropout(0.3), x3, "mask"),
        "DropPath": (dn.DropPath(0.3), x3, "mask"),
        "TokenDropout": (dn.TokenDropout(0.25), x3, "other"),
        "EmbeddingDropout": (dn.EmbeddingDropout(20, 8, p=0.2), torch.randint(0, 20, (4, 6)), "mask"),
        "DropConnectLinear": (dn.DropConnectLinear(16, 16, p=0.3), x2, "mask"),
        "VariationalLSTM": (dn.VariationalLSTM(16, 16, input_p=0.2, recurrent_p=0.2, batch_first=True), x3, "mask"),
        "VariationalGRU zoneout": (dn.VariationalGRU(16, 16, zoneout_p=0.2, batch_first=True), x3, "mix"),
    }


@pytest.mark.parametrize("name", list(_layers()))
def test_dropkit_layers_agree_in_train_and_are_silent_in_eval(name):
    layer, x, kind = _layers()[name]
    report = audit_dropout(layer, x)
    assert report.ok and report.random_ops >= 1, [f.message for f in report.findings]
    assert {e.kind for e in report.events} == {kind}  # noise is never read as a mask with 0 dropped
    if kind not in ("mask", "mix"):
        assert all(e.fraction is None for e in report.events)
    assert audit_dropout(layer, x, training=False).random_ops == 0


@pytest.mark.parametrize("backend", ["native", "portable"])
def test_dropkit_fused_modules(backend):
    """The fused ops' native backend replays a saved generator state (the mask is followed and counted); the
    portable one's mask comes from a Python int and their outputs are normalised or projected: reported as
    fired and not measured, never as a wrong rate."""
    from dropkit import nn as dn

    x, residual = torch.randn(64, 32), torch.randn(64, 32)
    for module, inputs in ((dn.DropoutAddLayerNorm(32, p=0.2, backend=backend), (x, residual)),
                           (dn.DropoutLinear(32, 16, p=0.2, backend=backend), x)):
        report = audit_dropout(module, inputs)
        assert report.ok and report.module("").fired
        fraction = report.module("").fraction
        if backend == "native":
            assert within_binomial(fraction, 0.2, report.module("").dropped[1])
        else:
            assert fraction is None
        assert audit_dropout(module, inputs, training=False).random_ops == 0


def test_a_mask_reused_at_every_step_is_counted_once():
    """Variational (recurrent) dropout applies one mask at every time step: n is the mask's elements, not
    steps x elements, or the binomial bound would be sqrt(steps) too tight."""
    from dropkit.nn import VariationalLSTM

    lstm = VariationalLSTM(16, 16, recurrent_p=0.3, batch_first=True)
    report = audit_dropout(lstm, torch.randn(4, 25, 16))
    (event,) = report.events
    assert event.total == event.units == 4 * 16  # one (batch, hidden) mask, 25 steps
    h = torch.zeros(3, 10)

    def reuse():
        keep = torch.rand_like(h) > 0.5
        return [h.add(1.0) * keep for _ in range(7)]

    (event,), _ = _record(reuse)
    assert event.total == 30


def test_dropkit_triton_kernel_is_caught_at_its_custom_op():
    """The Triton backend runs as a ``dropkit::`` torch.library op: the seed is followed into it and the
    fraction counted at its output (CPU: the Triton interpreter, which tests/conftest.py switches on)."""
    pytest.importorskip("triton")
    from dropkit.nn import Dropout

    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.randn(64, 64, device=device).abs() + 0.1
    report = audit_dropout(nn.Sequential(Dropout(0.3, backend="triton")).to(device), x)
    (event,) = report.events
    assert event.kind == "fused" and event.total == 4096
    assert within_binomial(event.fraction, 0.3, 4096) and report.ok
