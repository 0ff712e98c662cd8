"""One table over every ``dropkit.nn`` layer and ``dropkit.functional`` function: the conventions that
:class:`dropkit.nn.DropoutModule` holds (issue 21, item 3) agree everywhere.

- every exported layer is a ``DropoutModule`` (``RDropLoss``, a loss, is the one exception);
- each declared rate (``rate_names``) is a constructor argument of that name, is validated with an error
  naming the class and the argument, prints as ``name=value`` and is what ``dropkit.surgery`` reads and sets;
- ``repr`` starts with the class name as exported;
- ``training`` and ``generator`` are keyword-only in every functional, except that the six twins of
  ``torch.nn.functional`` take torch's ``(x, p, training, inplace)`` positionally;
- the torch / timm equivalents default to torch's / timm's rate.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import dropkit.functional as F
import dropkit.nn as dnn
from dropkit.errors import DropkitInputError
from dropkit.surgery import get_rate, is_dropout, is_stochastic, rate_attributes, set_rate
from dropkit.surgery.stochastic import declared_rate_names

# Exported class -> a builder taking the rates as keyword arguments (the other arguments fixed here).
LAYERS: dict[str, Callable[..., nn.Module]] = {
    "Dropout": lambda **r: dnn.Dropout(**r),
    "AlphaDropout": lambda **r: dnn.AlphaDropout(**r),
    "FeatureAlphaDropout": lambda **r: dnn.FeatureAlphaDropout(**r),
    "GaussianDropout": lambda **r: dnn.GaussianDropout(**r),
    "GaussianNoise": lambda **r: dnn.GaussianNoise(**r),
    "ChannelDropout": lambda **r: dnn.ChannelDropout(**r),
    "Dropout1d": lambda **r: dnn.Dropout1d(**r),
    "Dropout2d": lambda **r: dnn.Dropout2d(**r),
    "Dropout3d": lambda **r: dnn.Dropout3d(**r),
    "DropBlock1d": lambda **r: dnn.DropBlock1d(**r),
    "DropBlock2d": lambda **r: dnn.DropBlock2d(**r),
    "DropBlock3d": lambda **r: dnn.DropBlock3d(**r),
    "DropPath": lambda **r: dnn.DropPath(**r),
    "DropPathResidual": lambda **r: dnn.DropPathResidual(nn.Linear(2, 2), **r),
    "DropConnectLinear": lambda **r: dnn.DropConnectLinear(3, 2, **r),
    "DropConnectConv1d": lambda **r: dnn.DropConnectConv1d(2, 2, 3, **r),
    "DropConnectConv2d": lambda **r: dnn.DropConnectConv2d(2, 2, 3, **r),
    "DropConnectConv3d": lambda **r: dnn.DropConnectConv3d(2, 2, 3, **r),
    "EmbeddingDropout": lambda **r: dnn.EmbeddingDropout(10, 3, **r),
    "LockedDropout": lambda **r: dnn.LockedDropout(**r),
    "VariationalLSTM": lambda **r: dnn.VariationalLSTM(2, 3, **r),
    "VariationalGRU": lambda **r: dnn.VariationalGRU(2, 3, **r),
    "WeightDrop": lambda **r: dnn.WeightDrop(**r),
    "WeightDropLSTM": lambda **r: dnn.WeightDropLSTM(2, 3, num_layers=2, weight_p=0.3, **r),
    "WeightDropGRU": lambda **r: dnn.WeightDropGRU(2, 3, num_layers=2, weight_p=0.3, **r),
    "ZoneoutLSTMCell": lambda **r: dnn.ZoneoutLSTMCell(2, 3, **r),
    "ZoneoutGRUCell": lambda **r: dnn.ZoneoutGRUCell(2, 3, **r),
    "ZoneoutLSTM": lambda **r: dnn.ZoneoutLSTM(2, 3, **r),
    "ZoneoutGRU": lambda **r: dnn.ZoneoutGRU(2, 3, **r),
    "MultiHeadSelfAttention": lambda **r: dnn.MultiHeadSelfAttention(8, 2, **r),
    "ResidualDropout": lambda **r: dnn.ResidualDropout(**r),
    "TokenDropout": lambda **r: dnn.TokenDropout(**r),
    "PatchDropout": lambda **r: dnn.PatchDropout(**r),
    "DropoutLinear": lambda **r: dnn.DropoutLinear(3, 2, **r),
    "DropoutAddLayerNorm": lambda **r: dnn.DropoutAddLayerNorm(4, **r),
    "DropoutAddRMSNorm": lambda **r: dnn.DropoutAddRMSNorm(4, **r),
    "ConcreteDropout": lambda **r: dnn.ConcreteDropout(nn.Linear(2, 2), **r),
}
# RDropLoss: a loss comparing two passes, it holds no rate and draws nothing. SpecAugment: input
# augmentation counted in masked bands, not a rate of dropped units (so surgery, schedules and MC
# dropout leave it alone; tests/functional/test_spec_augment.py holds its own conventions).
NOT_DROPOUT_LAYERS = {"RDropLoss", "SpecAugment"}
# Rates that torch's parent class validates with its own message (dropkit does not wrap it).
TORCH_VALIDATED = {("WeightDropLSTM", "dropout"), ("WeightDropGRU", "dropout")}


def _rates(names: tuple[str, ...]) -> dict[str, float]:
    """Distinct values (so that each one shows in repr on its own), all > 0."""
    return {name: round(0.15 + 0.1 * i, 2) for i, name in enumerate(names)}


def test_the_table_holds_every_exported_layer() -> None:
    exported = {n for n in dnn.__all__ if isinstance(getattr(dnn, n), type) and issubclass(getattr(dnn, n), nn.Module)}
    assert exported - {"DropoutModule"} == set(LAYERS) | NOT_DROPOUT_LAYERS


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_layer_is_a_dropout_module_that_prints_under_its_exported_name(name: str) -> None:
    cls = getattr(dnn, name)
    assert issubclass(cls, dnn.DropoutModule)
    layer = LAYERS[name]()
    assert isinstance(layer, cls) and repr(layer).startswith(f"{name}("), repr(layer)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_declared_rates_are_constructor_arguments_that_print_and_that_surgery_reads(name: str) -> None:
    cls = getattr(dnn, name)
    rates = _rates(cls.rate_names)
    layer = LAYERS[name](**rates)
    assert layer.rates() == rates  # the constructor argument of that name sets that attribute
    text = layer.extra_repr()  # the head line of repr, before any child module
    for rate, value in rates.items():
        assert f"{rate}={value:g}" in text, (rate, text)
    # dropkit.surgery (and through it schedules and audit) reads the declaration, nothing else
    assert declared_rate_names(layer) == cls.rate_names == cls.stochastic_rate_attributes
    assert rate_attributes(layer) == cls.rate_names
    assert is_stochastic(layer) and is_dropout(layer) == bool(rates)
    if not rates:  # a learned rate or a noise scale: nothing to read or set
        assert get_rate(layer) is None
        with pytest.raises(TypeError, match="rate attribute"):
            set_rate(layer, 0.1)
        return
    assert get_rate(layer) == max(rates.values())
    assert set_rate(layer, 0.05) == max(rates.values())
    assert layer.rates() == dict.fromkeys(rates, 0.05)


@pytest.mark.parametrize("name", sorted(n for n in LAYERS if getattr(dnn, n).rate_names))
def test_a_bad_rate_is_refused_naming_the_class_and_the_argument(name: str) -> None:
    cls = getattr(dnn, name)
    for rate in cls.rate_names:
        if (name, rate) in TORCH_VALIDATED:
            continue
        interval = r"\[0, 1\)" if rate in cls.rates_below_one else r"\[0, 1\]"
        with pytest.raises(DropkitInputError, match=rf"^{name}: {rate} must be in {interval}, got 1.5$"):
            LAYERS[name](**{rate: 1.5})
        with pytest.raises(TypeError, match=rf"^{name}: {rate} must be a float, got str$"):
            LAYERS[name](**{rate: "0.1"})
    layer = LAYERS[name]()
    with pytest.raises(TypeError, match=rf"{name}.set_rates: rate names must be among .*, got 'rate'"):
        layer.set_rates(rate=0.1)
    first = cls.rate_names[0]
    with pytest.raises(DropkitInputError, match=rf"{name}.set_rates: {first} must be in \[0, 1.?, got -0.1"):
        layer.set_rates(**{first: -0.1})
    layer.set_rates(**{first: 0.125})
    assert layer.rates()[first] == 0.125


def test_the_base_adds_no_state() -> None:
    """``state_dict`` keys and instance attributes are the layer's own (saved runs load; pickles stay small)."""
    assert dnn.DropoutModule().state_dict() == {}
    assert set(vars(dnn.DropoutModule())) == set(vars(nn.Module()))
    linear = dnn.DropConnectLinear(3, 2)
    assert list(linear.state_dict()) == list(nn.Linear(3, 2).state_dict())


def test_a_user_layer_on_the_base_gets_validation_repr_and_surgery() -> None:
    class Shuffle(dnn.DropoutModule):
        """Swap neighbours with probability ``swap_p``."""

        rate_names = ("swap_p",)

        def __init__(self, swap_p: float = 0.1, width: int = 2) -> None:
            super().__init__()
            self.swap_p = self._check_rate("swap_p", swap_p)
            self.width = width

        def _repr_options(self) -> list[str]:
            return [f"width={self.width}"]

    layer = Shuffle(0.3)
    assert repr(layer) == "Shuffle(swap_p=0.3, width=2)"
    assert is_dropout(layer) and get_rate(layer) == 0.3 and rate_attributes(layer) == ("swap_p",)
    with pytest.raises(DropkitInputError, match=r"^Shuffle: swap_p must be in \[0, 1\], got 2$"):
        Shuffle(2.0)
    with pytest.raises(TypeError, match="rate_names must be a tuple of attribute names"):
        type("Bad", (dnn.DropoutModule,), {"rate_names": "p"})


# --------------------------------------------------------------------------------------------- functionals
TORCH_TWINS = {"dropout": TF.dropout, "dropout1d": TF.dropout1d, "dropout2d": TF.dropout2d,
               "dropout3d": TF.dropout3d, "alpha_dropout": TF.alpha_dropout,
               "feature_alpha_dropout": TF.feature_alpha_dropout}
FUNCTIONALS = sorted(n for n in F.__all__ if callable(getattr(F, n)))


def _params(fn: Callable) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(fn).parameters)


@pytest.mark.parametrize("name", FUNCTIONALS)
def test_training_and_generator_are_keyword_only_except_in_torchs_twins(name: str) -> None:
    params = _params(getattr(F, name))
    if name in TORCH_TWINS:  # drop-in: F.dropout(x, p, self.training, inplace) must keep working
        positional = [p for p, v in params.items() if v.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert positional == ["x", "p", "training", "inplace"]
        torch_params = _params(TORCH_TWINS[name])
        assert [params[a].default for a in ("p", "inplace")] == [torch_params[a].default for a in ("p", "inplace")]
    if "training" in params and params["training"].default is not inspect.Parameter.empty:
        # True in every dropkit functional; torch's alpha_dropout / feature_alpha_dropout default to False, but
        # changing dropkit's would silently stop the dropout of every caller that relies on it
        assert params["training"].default is True, name
    if "training" in params and name not in TORCH_TWINS:
        assert params["training"].kind is inspect.Parameter.KEYWORD_ONLY, name
    if "generator" in params:
        assert params["generator"].kind is inspect.Parameter.KEYWORD_ONLY, name


# Module -> (functional twin, the rate argument both take). Defaults of p are compared in test_module_twins.
RATE_ARGUMENTS = {
    "Dropout": ("dropout", "p"), "LockedDropout": ("locked_dropout", "p"), "WeightDrop": ("weight_drop", "p"),
    "ZoneoutLSTMCell": ("zoneout", "p"), "ZoneoutLSTM": ("zoneout", "p"), "GaussianNoise": ("gaussian_noise", "sigma"),
    "MultiHeadSelfAttention": ("attention", "attn_p"), "TokenDropout": ("token_dropout", "p"),
    "DropPath": ("drop_path", "p"), "EmbeddingDropout": ("embedding_dropout", "p"),
}


@pytest.mark.parametrize("module_name", sorted(RATE_ARGUMENTS))
def test_a_module_and_its_functional_take_the_rate_under_one_name(module_name: str) -> None:
    fn, rate = RATE_ARGUMENTS[module_name]
    assert rate in _params(getattr(F, fn))
    layer = LAYERS[module_name](**{rate: 0.25})  # the module takes the functional's name, keyword
    assert getattr(layer, rate) == 0.25


@pytest.mark.parametrize(("torch_cls", "dk_name"), [(nn.Dropout, "Dropout"), (nn.Dropout1d, "Dropout1d"),
                         (nn.Dropout2d, "Dropout2d"), (nn.Dropout3d, "Dropout3d"), (nn.AlphaDropout, "AlphaDropout"),
                         (nn.FeatureAlphaDropout, "FeatureAlphaDropout")], ids=lambda v: getattr(v, "__name__", v))
def test_torch_equivalents_default_to_torchs_rate(torch_cls: type, dk_name: str) -> None:
    assert _params(getattr(dnn, dk_name).__init__)["p"].default == _params(torch_cls.__init__)["p"].default
    assert LAYERS[dk_name]().p == torch_cls().p


def test_timm_equivalents_default_to_timms_rate(timm) -> None:
    layers = timm.layers
    pairs = [(layers.DropPath, "drop_prob", "DropPath"), (layers.PatchDropout, "prob", "PatchDropout"),
             (layers.DropBlock2d, "drop_prob", "DropBlock2d")]
    for timm_cls, timm_name, dk_name in pairs:
        assert LAYERS[dk_name]().p == _params(timm_cls.__init__)[timm_name].default, dk_name


def test_every_functional_rate_is_a_checked_probability() -> None:
    """The functionals validate their rate with the same helper and message shape as the modules."""
    x = torch.ones(2, 3, 4, 4)
    for name, call in {"dropout": lambda: F.dropout(x, 1.5), "drop_path": lambda: F.drop_path(x, 1.5),
                       "drop_block2d": lambda: F.drop_block2d(x, 1.5, 3), "locked_dropout": lambda: F.locked_dropout(x[0], 1.5),
                       "gaussian_dropout": lambda: F.gaussian_dropout(x, 1.5),
                       "zoneout": lambda: F.zoneout(x, x, 1.5), "weight_drop": lambda: F.weight_drop(x, 1.5)}.items():
        with pytest.raises(DropkitInputError, match=rf"^{name}: p must be in \[0, 1.?, got 1.5$"):
            call()


KEYWORD_ONLY = ("generator", "stream", "backend", "broadcast_dims", "channels_last", "share_channels")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers_take_the_functionals_keyword_only_arguments_by_keyword(name: str) -> None:
    params = dict(inspect.signature(getattr(dnn, name)).parameters)
    for arg in KEYWORD_ONLY:
        if arg in params:
            assert params[arg].kind is inspect.Parameter.KEYWORD_ONLY, (name, arg)


# Layers whose generator (and broadcast_dims) were positional before: still accepted there, with a warning.
DEPRECATED_POSITIONAL = {
    "LockedDropout": ((0.3, True), ("generator",)),
    "GaussianDropout": ((0.3,), ("broadcast_dims", "generator")),
    "GaussianNoise": ((0.3,), ("generator",)),
    "ResidualDropout": ((0.3,), ("generator",)),
    "WeightDrop": ((0.3,), ("broadcast_dims", "generator")),
    "TokenDropout": ((0.3, 1, True, False), ("generator",)),
    "DropPath": ((0.3, "batch", False), ("generator",)),
    "EmbeddingDropout": ((10, 3, 0.3), ("generator",)),
    "ZoneoutLSTMCell": ((2, 3, 0.3, 0.2, True), ("generator",)),
    "ZoneoutGRUCell": ((2, 3, 0.3, True), ("generator",)),
}


@pytest.mark.parametrize("name", sorted(DEPRECATED_POSITIONAL))
def test_positional_generator_still_works_with_a_future_warning(name: str) -> None:
    args, names = DEPRECATED_POSITIONAL[name]
    cls = getattr(dnn, name)
    values = {"generator": torch.Generator().manual_seed(3), "broadcast_dims": (0,)}
    extra = tuple(values[n] for n in names)
    with pytest.warns(FutureWarning, match=rf"^{name}: pass {', '.join(n + '=' for n in names)} by keyword"):
        old = cls(*args, *extra)
    new = cls(*args, **{n: values[n] for n in names})
    assert repr(old) == repr(new) and all(getattr(old, n) is getattr(new, n) or getattr(old, n) == getattr(new, n)
                                          for n in names)
    with pytest.raises(TypeError, match=rf"{name}: takes at most {len(args) + len(names)} positional arguments"):
        cls(*args, *extra, None)
    with pytest.raises(TypeError, match=rf"{name}: got multiple values for argument '{names[0]}'"):
        cls(*args, *extra, **{names[0]: values[names[0]]})
