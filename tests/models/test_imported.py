"""Models from import paths: what a user types after --model, and every way it can be wrong."""

import pytest
from torch import nn

from dropkit.models.imported import build_imported_model, is_import_path, load_callable, parse_model_args


class Net(nn.Module):
    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(2, width)


def make_net(width: int = 3) -> nn.Module:
    return Net(width)


def not_a_module() -> int:
    return 3


def test_shapes_of_import_paths():
    assert is_import_path("torch.nn:Linear")
    assert is_import_path("a.b:Outer.inner")
    for bad in ("torch.nn.Linear", "mlp", ":x", "a:", "a b:c", 3, None):
        assert not is_import_path(bad)


def test_builds_a_class_and_a_factory_with_json_or_mapping_args():
    here = __name__
    net = build_imported_model(f"{here}:Net", '{"width": 5}')
    assert isinstance(net, Net) and net.fc.out_features == 5
    assert build_imported_model(f"{here}:make_net", {"width": 4}).fc.out_features == 4
    assert build_imported_model("torch.nn:Linear", {"in_features": 2, "out_features": 1}).in_features == 2


@pytest.mark.parametrize(
    ("spec", "args", "message"),
    [
        ("torch.nn.Linear", None, "must look like 'package.module:callable'"),
        ("no_such_pkg_xyz.mod:Net", None, "cannot import module 'no_such_pkg_xyz.mod'"),
        ("torch.nn:NoSuchLayer", None, "has no attribute 'NoSuchLayer'"),
        ("math:pi", None, "is a float, not a class or function"),
        (f"{__name__}:not_a_module", None, "returned a int, not a torch.nn.Module"),
        (f"{__name__}:Net", '{"depth": 2}', "calling .* failed"),
    ],
)
def test_every_mistake_names_what_was_given(spec, args, message):
    with pytest.raises(ValueError, match=message):
        build_imported_model(spec, args)


@pytest.mark.parametrize("text", ["{width: 3}", "[1, 2]", "3"])
def test_model_args_must_be_a_json_object(text):
    with pytest.raises(ValueError, match="model_args: must be a JSON object"):
        parse_model_args(text)


def test_load_callable_returns_the_object():
    assert load_callable("torch.nn:Linear") is nn.Linear
