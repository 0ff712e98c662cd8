"""The drop-in dropouts accept, warn and refuse exactly where torch's own modules and functions do.

Every case runs torch's module or function and dropkit's twin on the same input and compares: the
exception (dropkit's is an instance of torch's class *and* of the ValueError / TypeError dropkit
documents), the warnings (same class, torch's wording, naming what the user called), the output shape
and dtype, and which dims the mask is shared along.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dropkit
import dropkit.functional as DF
import dropkit.nn as dnn
from dropkit.errors import DropkitInputError, DropkitTypeError
from tests.torch_twins import FUNCTION_TWINS, MODULE_TWINS

MODULES = MODULE_TWINS
FUNCTIONS = FUNCTION_TWINS
RANKS = range(7)


def _shape(rank: int) -> tuple[int, ...]:
    """Dims 0 and 1 long, the rest short: an independent dim of 16 looks shared by chance with
    probability 2 * 0.5**16 per slice at p = 0.5, so a sharing pattern cannot match torch's by luck."""
    return tuple(16 if d < 2 else 2 for d in range(rank))


def _outcome(call, x: torch.Tensor):
    """(exception or None, output or None, [(category, message)]) of ``call(x)`` with every warning kept."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            y, err = call(x), None
        except Exception as exc:  # noqa: BLE001 - the class is what is compared
            y, err = None, exc
    return err, y, [(w.category, str(w.message)) for w in caught]


def _shared_dims(y: torch.Tensor) -> tuple[int, ...]:
    """The dims along which ``y`` (a dropout of a constant input) is constant, i.e. the mask is shared."""
    return tuple(d for d in range(y.dim()) if torch.equal(y, y.narrow(d, 0, 1).expand_as(y)))


def _compare(torch_call, dk_call, name: str, rank: int, training: bool) -> None:
    x = torch.ones(_shape(rank))
    torch.manual_seed(0)
    t_err, t_y, t_warns = _outcome(torch_call, x.clone())
    torch.manual_seed(0)
    d_err, d_y, d_warns = _outcome(dk_call, x.clone())
    if t_err is not None:
        assert d_err is not None, f"torch raised {type(t_err).__name__}: {t_err}; dropkit returned"
        assert isinstance(d_err, type(t_err)) and isinstance(d_err, ValueError), (type(t_err), type(d_err))
        assert isinstance(d_err, DropkitInputError)
        assert str(d_err).startswith(f"{name}: ") and f"got shape {tuple(x.shape)}" in str(d_err)
    else:
        assert d_err is None, f"torch returned; dropkit raised {d_err!r}"
        assert (d_y.shape, d_y.dtype) == (t_y.shape, t_y.dtype)
        if training:
            assert _shared_dims(d_y) == _shared_dims(t_y)
        else:
            assert torch.equal(d_y, x) and torch.equal(t_y, x)
    assert [c for c, _ in d_warns] == [c for c, _ in t_warns]
    for (_, t_msg), (_, d_msg) in zip(t_warns, d_warns):
        # torch's wording with the name of what was called, so a filter on torch's text (matched
        # case-insensitively by the warnings module) silences dropkit's warning too
        assert d_msg.startswith(f"{name}: ")
        assert d_msg.lower().startswith(t_msg.lower().rstrip("."))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize(("torch_cls", "dk_cls"), MODULES, ids=[m[1].__name__ for m in MODULES])
def test_modules_accept_warn_and_refuse_as_torch(torch_cls, dk_cls, rank: int, training: bool) -> None:
    t_layer, d_layer = torch_cls(0.5).train(training), dk_cls(0.5).train(training)
    _compare(t_layer, d_layer, dk_cls.__name__, rank, training)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize(("torch_fn", "dk_fn"), FUNCTIONS, ids=[f[1].__name__ for f in FUNCTIONS])
def test_functions_accept_warn_and_refuse_as_torch(torch_fn, dk_fn, rank: int, training: bool) -> None:
    _compare(lambda x: torch_fn(x, 0.5, training), lambda x: dk_fn(x, 0.5, training), dk_fn.__name__, rank, training)


FEATURE_FUNCTIONS = [f for f in FUNCTIONS if f[1] is not DF.dropout1d]  # dropout1d refuses 0-D at every rate


@pytest.mark.parametrize(("torch_fn", "dk_fn"), FEATURE_FUNCTIONS, ids=[f[1].__name__ for f in FEATURE_FUNCTIONS])
def test_edge_rates_return_what_torch_returns_for_too_few_dims(torch_fn, dk_fn) -> None:
    """torch refuses a 0-D input to feature dropout only when it drops: at p = 0 and p = 1 it returns."""
    for p in (0.0, 1.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected, got = torch_fn(torch.ones(()), p, True), dk_fn(torch.ones(()), p, True)
        assert torch.equal(got, expected), (p, got, expected)


def test_runtime_error_handlers_written_for_torch_catch_dropkit() -> None:
    """The issue's case: code written for torch.nn.Dropout1d catches RuntimeError."""
    for layer in (nn.Dropout1d(0.5), dnn.Dropout1d(0.5)):
        try:
            layer(torch.ones(2, 3, 4, 5))
        except RuntimeError as err:
            caught = err
        assert "4D" in str(caught) or "(2, 3, 4, 5)" in str(caught)
    with pytest.raises(ValueError, match=r"^Dropout1d: expected 3D input \(N, C, L\) or 2D unbatched input \(C, L\), "
                                         r"got shape \(2, 3, 4, 5\)$"):
        dnn.Dropout1d(0.5)(torch.ones(2, 3, 4, 5))
    assert dropkit.DropkitInputError is DropkitInputError and "DropkitInputError" in dropkit.__all__


@pytest.mark.parametrize(
    ("call", "name", "torch_raises_too"),
    [
        (lambda x: dnn.Dropout1d(0.5)(x), "Dropout1d", True),
        (lambda x: dnn.ChannelDropout(0.5, 1)(x), "ChannelDropout", True),
        (lambda x: DF.dropout1d(x, 0.5), "dropout1d", True),
        (lambda x: dnn.FeatureAlphaDropout(0.5)(x.flatten()[0]), "FeatureAlphaDropout", True),
        (lambda x: dnn.Dropout(0.5, broadcast_dims=1)(x.long()), "Dropout", True),
        (lambda x: dnn.AlphaDropout(0.5)(x.long()), "AlphaDropout", True),
        (lambda x: dnn.AlphaDropout(0.5, broadcast_dims=7)(x), "AlphaDropout", False),  # torch has no broadcast_dims
        (lambda x: dnn.Dropout(0.5, broadcast_dims=7, backend="portable")(x), "Dropout", False),
    ],
    ids=["Dropout1d", "ChannelDropout", "dropout1d", "FeatureAlphaDropout", "Dropout-dtype", "AlphaDropout-dtype",
         "AlphaDropout-dims", "Dropout-dims"],
)
def test_messages_name_what_the_user_called(call, name: str, torch_raises_too: bool) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        call(torch.ones(2, 3, 4, 5))
    assert str(info.value).startswith(f"{name}: "), str(info.value)
    assert isinstance(info.value, RuntimeError) == torch_raises_too


@pytest.mark.parametrize(("torch_fn", "dk_fn"), FUNCTIONS, ids=[f[1].__name__ for f in FUNCTIONS])
def test_integer_input_is_refused_in_training_and_returned_in_eval_as_in_torch(torch_fn, dk_fn) -> None:
    x = torch.ones(2, 3, 4, dtype=torch.long)  # a rank every one of them takes without a warning but dropout3d
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError):
            torch_fn(x, 0.5, True)
        with pytest.raises(RuntimeError, match=f"^{dk_fn.__name__}: input must be a floating-point tensor, "
                                               "got dtype torch.int64$") as info:
            dk_fn(x, 0.5, True)
        assert isinstance(info.value, TypeError) and isinstance(info.value, DropkitTypeError)
        assert torch.equal(torch_fn(x, 0.5, False), x) and dk_fn(x, 0.5, False) is x
        assert torch.equal(torch_fn(x, 0.0, True), x) and dk_fn(x, 0.0, True) is x


@pytest.mark.parametrize(("torch_fn", "dk_fn"), FUNCTIONS, ids=[f[1].__name__ for f in FUNCTIONS])
@pytest.mark.parametrize("p", [1.5, -0.1, float("nan")])
def test_a_bad_rate_raises_what_torch_raises(torch_fn, dk_fn, p: float) -> None:
    x = torch.ones(2, 3, 4, 4)
    with pytest.raises((ValueError, RuntimeError)) as expected:
        torch_fn(x, p, True)
    with pytest.raises(type(expected.value), match=f"{dk_fn.__name__}: p must be in \\[0, 1\\], got {p:g}") as got:
        dk_fn(x, p, True)
    assert isinstance(got.value, ValueError) and isinstance(got.value, RuntimeError)


def test_a_filter_on_torchs_warning_text_silences_dropkits() -> None:
    x = torch.ones(2, 3, 4, 4, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="dropout2d: Received a 5-D input", category=UserWarning)
        nn.Dropout2d(0.5)(x)
        dnn.Dropout2d(0.5)(x)
        DF.dropout2d(x, 0.5)
    assert caught == []


def test_the_warning_points_at_the_callers_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DF.dropout2d(torch.ones(2, 3), 0.5)
    assert [w.filename for w in caught] == [__file__]


def test_dropout2d_reads_3d_as_torch_and_channel_dropout_as_unbatched() -> None:
    x = torch.ones(16, 16, 2)
    with pytest.warns(UserWarning, match=r"dropout2d: Received a 3D input .* \(N, C, L\)"):
        y = DF.dropout2d(x, 0.5, generator=torch.Generator().manual_seed(0))
    assert _shared_dims(y) == (2,)  # one value per (n, c), as torch.nn.Dropout2d
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the unbatched readings warn about nothing
        u = DF.channel_dropout(x, 0.5, spatial_dims=2, generator=torch.Generator().manual_seed(0))
        v = DF.dropout2d(x.movedim(0, -1), 0.5, channels_last=True, generator=torch.Generator().manual_seed(0))
    assert _shared_dims(u) == (1, 2) and torch.equal(v.movedim(-1, 0), u)


def test_a_deprecated_rank_compiles_with_fullgraph_and_reads_as_in_eager() -> None:
    """Dynamo cannot trace the warning; the compiled function still takes the input and reads it as torch."""
    compiled = torch.compile(lambda t: DF.dropout2d(t, 0.5), backend="eager", fullgraph=True)
    assert _shared_dims(compiled(torch.ones(16, 16, 2))) == (2,)
    assert _shared_dims(compiled(torch.ones(16, 16, 2, 2, 2))) == (2, 3, 4)


@pytest.mark.parametrize(("torch_cls", "dk_cls"), MODULES, ids=[m[1].__name__ for m in MODULES])
def test_modules_refuse_integer_input_in_training_and_return_it_in_eval(torch_cls, dk_cls) -> None:
    x = torch.ones(2, 3, 4, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError):
            torch_cls(0.5)(x)
        with pytest.raises(TypeError, match=f"^{dk_cls.__name__}: input must be a floating-point tensor") as info:
            dk_cls(0.5)(x)
        assert isinstance(info.value, RuntimeError)
        assert torch.equal(torch_cls(0.5).eval()(x), x) and dk_cls(0.5).eval()(x) is x


def test_swapping_torchs_dropout2d_keeps_what_a_model_drops_on_3d_input() -> None:
    """(N, C, L) through nn.Dropout2d: after swap_dropout the same (n, c) maps are dropped together."""
    from dropkit.surgery import swap_dropout

    model = nn.Sequential(nn.Conv1d(16, 16, 1, bias=False), nn.Dropout2d(0.5))
    swap_dropout(model)
    assert isinstance(model[1], dnn.Dropout2d)
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(16)[:, :, None])
    with pytest.warns(UserWarning, match=r"Dropout2d: Received a 3D input"):
        y = model(torch.ones(16, 16, 2))
    assert _shared_dims(y) == (2,)
